"""The authors' hinge losses for the image and object branches of the discriminator."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def d_hinge_terms(
    d_img_real: torch.Tensor, d_obj_real: torch.Tensor, d_img_fake: torch.Tensor, d_obj_fake: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The four unweighted discriminator hinge terms: mean relu(1 - real) and mean relu(1 + fake)."""
    return {
        "d_loss_img_real": F.relu(1.0 - d_img_real).mean(),
        "d_loss_obj_real": F.relu(1.0 - d_obj_real).mean(),
        "d_loss_img_fake": F.relu(1.0 + d_img_fake).mean(),
        "d_loss_obj_fake": F.relu(1.0 + d_obj_fake).mean(),
    }


def d_hinge_loss(terms: dict[str, torch.Tensor], lambda_obj: float, lambda_img: float) -> torch.Tensor:
    """lambda_obj * (obj real + obj fake) + lambda_img * (img real + img fake)."""
    return lambda_obj * (terms["d_loss_obj_real"] + terms["d_loss_obj_fake"]) + lambda_img * (
        terms["d_loss_img_real"] + terms["d_loss_img_fake"]
    )


def g_hinge_terms(d_img_fake: torch.Tensor, d_obj_fake: torch.Tensor) -> dict[str, torch.Tensor]:
    """The two unweighted generator terms: minus the mean discriminator score of the fakes."""
    return {"g_loss_img": -d_img_fake.mean(), "g_loss_obj": -d_obj_fake.mean()}


def g_hinge_loss(terms: dict[str, torch.Tensor], lambda_obj: float, lambda_img: float) -> torch.Tensor:
    """lambda_obj * obj term + lambda_img * img term (the terms already carry the minus sign)."""
    return lambda_obj * terms["g_loss_obj"] + lambda_img * terms["g_loss_img"]
