"""The LostGAN-V2 generator (Sun & Wu, TPAMI), 128 and 256 px: spatially adaptive BN blocks whose masks
are refined stage by stage from each block's class logits, blended with the learnt masks by per-class gates."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lama.models.blocks import CONV_SN_EPS, image_head, sn
from lama.models.generator_base import GeneratorBlock, LayoutGenerator
from lama.models.lostgan_masks import MASK_CLASSES, MaskNetV2, box_masks, logit_head

EMB_DIM = 180  # label embedding width at both resolutions
Z_DIM = 128  # the authors write the style width as 128 + 180, so the latents must have 128 components
# resolution -> (channel multipliers of ch from the fc output through every block, head kind per block but
# the last ("conv" or "psp"), side of the hard box masks)
ARCH = {
    128: ((16, 16, 8, 4, 2, 1), ("conv", "conv", "conv", "psp"), 64),
    256: ((16, 16, 8, 8, 4, 2, 1), ("conv",) * 5, 128),
}


class MaskBlock(GeneratorBlock):
    """LostGAN-V2's residual block, plus the class-logit head on its output (None after the last block)."""

    def __init__(self, in_ch: int, out_ch: int, num_w: int, classes: int, head: str | None) -> None:
        super().__init__(in_ch, out_ch, num_w, lostgan_v2=True)
        self.conv_mask = None if head is None else logit_head(out_ch, classes, psp=head == "psp")

    def forward(self, x, w, masks):  # type: ignore[override]
        """(features (B, out, 2H, 2W), class logits (B, classes, 2H, 2W) or None)."""
        y = super().forward(x, w, masks)
        return y, (None if self.conv_mask is None else self.conv_mask(y))


class LostGANGenerator(LayoutGenerator):
    """Layout -> image, called as the LAMA generator: G(z_obj (B, O, 128), boxes (B, O, 4), labels (B, O),
    z_im (B, 128) or None, return_masks=False) -> images (B, 3, R, R) in [-1, 1], or (images, final-stage
    masks, mask-net masks), both (B, O, R, R) in [0, 1], bilinearly resized from R/2 and 64 px."""

    arch = "lostgan_v2"

    def __init__(self, resolution: int, num_classes: int, ch: int = 64, z_dim: int = 128) -> None:
        super().__init__()
        if resolution not in ARCH:
            raise ValueError(
                f"LostGAN-V2 has {sorted(ARCH)} px generators only, got resolution={resolution} "
                "(the authors released no 64 px LostGAN-V2; model=lama has one)"
            )
        if z_dim != Z_DIM:
            raise ValueError(f"LostGAN-V2 is built for z_dim={Z_DIM} (its style width is 128 + 180), got {z_dim}")
        mults, heads, self.box_size = ARCH[resolution]
        self.resolution, self.num_classes, self.ch, self.z_dim = resolution, num_classes, ch, z_dim
        classes = max(MASK_CLASSES, num_classes)
        num_w = Z_DIM + EMB_DIM
        self.label_embedding = nn.Embedding(num_classes, EMB_DIM)
        self.fc = sn(nn.Linear(z_dim, mults[0] * ch * 4 * 4))
        kinds = (*heads, None)
        self.res = nn.ModuleList(
            MaskBlock(a * ch, b * ch, num_w, classes, kind) for a, b, kind in zip(mults[:-1], mults[1:], kinds)
        )
        # alpha_k gates the mask fed into block k+1 (one logit per class, sigmoid-ed)
        self.class_gates = nn.ParameterList(nn.Parameter(torch.zeros(1, classes, 1)) for _ in heads)
        self.final = image_head(ch, nn.ReLU(), CONV_SN_EPS)
        self.mask_regress = MaskNetV2(num_w)

    def generate(
        self, z_obj: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor, z_im: torch.Tensor, return_masks: bool
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Images (B, 3, R, R) in [-1, 1], or (images, final-stage masks, mask-net masks) with return_masks."""
        b, o = labels.shape
        boxes = boxes.to(z_obj.dtype)
        w = torch.cat([z_obj, self.label_embedding(labels)], dim=-1)  # latent first, then embedding
        learnt = self.mask_regress(w, boxes)
        hard = box_masks(boxes, self.box_size)

        x, logits = self.res[0](self.fc(z_im).view(b, -1, 4, 4), w, learnt)
        masks = learnt
        for block, gate in zip(self.res[1:], self.class_gates):
            masks = self._stage_masks(logits, gate, learnt, hard, labels, x.shape[-1])
            x, logits = block(x, w, masks)
        images = self.final(x)
        if not return_masks:
            return images
        r = self.resolution
        return images, *(F.interpolate(m, size=r, mode="bilinear", align_corners=False) for m in (masks, learnt))

    @staticmethod
    def _stage_masks(logits, gate, learnt, hard, labels, side: int) -> torch.Tensor:
        """Blend each object's own-class logit map (sigmoid, inside its hard box) with its learnt mask
        through the sigmoid of its class gate: (B, O, side, side)."""
        b, o = labels.shape
        own = torch.gather(logits, 1, labels.view(b, o, 1, 1).expand(b, o, side, side))
        semantic = torch.sigmoid(own) * F.interpolate(hard, size=side, mode="nearest")
        a = torch.sigmoid(gate)[0, labels]  # (B, O, 1)
        a = a.unsqueeze(-1)
        resized = F.interpolate(learnt, size=side, mode="bilinear", align_corners=False)
        return resized * (1 - a) + semantic * a
