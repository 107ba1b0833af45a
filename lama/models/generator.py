"""The LAMA generator (LostGAN-V2 backbone with ISLA norms and the LAMA mask network)."""

from __future__ import annotations

import torch
from torch import nn

from lama.models.blocks import LRELU_SLOPE, NoiseInjection, image_head, sn
from lama.models.generator_base import GeneratorBlock, LayoutGenerator
from lama.models.masks import MASK_CH, MaskNet

# resolution -> (label embedding size, channel multipliers of ch from the fc output through every block)
ARCH = {
    64: (128, (16, 8, 4, 2, 1)),
    128: (160, (8, 8, 4, 4, 2, 1)),
    256: (192, (16, 8, 8, 4, 4, 2, 1)),
}


class Generator(LayoutGenerator):
    """The LAMA generator, layout -> image. Call as G(z_obj (B, O, z_dim), boxes (B, O, 4) fractions,
    labels (B, O) int64, z_im (B, z_dim) or None, return_masks=False) -> images (B, 3, R, R) in [-1, 1], or
    (images, masks (B, O, R, R) in [0, 2], raw masks (B, O, R, R) in [0, 1])."""

    arch = "lama"

    def __init__(
        self,
        resolution: int,
        num_classes: int,
        ch: int = 64,
        z_dim: int = 128,
        lama: bool = True,
        noise: bool = True,
        mask_ch: int = MASK_CH,
    ) -> None:
        super().__init__()
        if resolution not in ARCH:
            raise ValueError(f"resolution must be one of {sorted(ARCH)}, got {resolution}")
        emb_dim, mults = ARCH[resolution]
        # GroupNorm with 4 groups runs over ch channels (ISLA) and over (z_dim + emb_dim + 2) // 4 (LAMA).
        if ch % 4 or (lama and ((z_dim + emb_dim + 2) // 4) % 4):
            raise ValueError(
                f"ch={ch} must be a multiple of 4, and with lama=True (z_dim + {emb_dim} + 2) // 4 too "
                f"(z_dim={z_dim} gives {(z_dim + emb_dim + 2) // 4})"
            )
        self.resolution, self.num_classes, self.ch = resolution, num_classes, ch
        self.z_dim, self.lama = z_dim, lama
        num_w = z_dim + emb_dim
        self.label_embedding = nn.Embedding(num_classes, emb_dim)
        self.style_mapping = nn.Sequential(
            sn(nn.Linear(z_dim, z_dim)),
            nn.LeakyReLU(LRELU_SLOPE),
            sn(nn.Linear(z_dim, z_dim)),
            nn.LeakyReLU(LRELU_SLOPE),
            sn(nn.Linear(z_dim, z_dim)),
        )
        self.fc = sn(nn.Linear(z_dim, mults[0] * ch * 4 * 4))
        self.res = nn.ModuleList(GeneratorBlock(a * ch, b * ch, num_w) for a, b in zip(mults[:-1], mults[1:]))
        self.final = image_head(ch, nn.LeakyReLU(LRELU_SLOPE))
        self.mask_regress = MaskNet(num_w + 2, resolution, lama=lama, channels=mask_ch)
        self.noise_enabled = noise

    @property
    def noise_enabled(self) -> bool:
        """Whether the residual blocks inject fresh noise (False makes outputs deterministic)."""
        return self._noise_enabled

    @noise_enabled.setter
    def noise_enabled(self, enabled: bool) -> None:
        self._noise_enabled = bool(enabled)
        for module in self.modules():
            if isinstance(module, NoiseInjection):
                module.enabled = self._noise_enabled

    def generate(
        self, z_obj: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor, z_im: torch.Tensor, return_masks: bool
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Images (B, 3, R, R) in [-1, 1], or (images, adapted masks, raw masks) with return_masks."""
        b = labels.shape[0]

        emb = self.label_embedding(labels)
        masks, raw = self.mask_regress(
            torch.cat([emb, z_obj, boxes[..., 2:4].to(z_obj.dtype)], dim=-1), boxes
        )
        w = torch.cat([emb, self.style_mapping(z_obj)], dim=-1)

        x = self.fc(z_im).view(b, -1, 4, 4)
        for block in self.res:
            x = block(x, w, masks)
        images = self.final(x)
        return (images, masks, raw) if return_masks else images
