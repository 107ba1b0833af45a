"""Networks by `arch`: the one place that maps a model family (lama.models.arch.ARCHS) to its generator
and discriminator."""

from __future__ import annotations

from typing import Any

from torch import nn

from lama.models.arch import check_arch
from lama.models.discriminator import Discriminator
from lama.models.generator import Generator
from lama.models.generator_base import LayoutGenerator
from lama.models.lostgan_generator import LostGANGenerator

GENERATORS: dict[str, type[LayoutGenerator]] = {"lama": Generator, "lostgan_v2": LostGANGenerator}
# Generator options and their types (values from configs and records are cast, as the constructors expect)
OPTION_TYPES = {"ch": int, "z_dim": int, "lama": bool, "noise": bool, "mask_ch": int}
# Generator options LostGAN-V2 does not have: ignored for it, so one set of hparams builds either family.
LAMA_ONLY = ("lama", "noise", "mask_ch")


def build_generator(resolution: int, num_classes: int, arch: str = "lama", **options: Any) -> nn.Module:
    """The `arch` generator for `resolution` px and `num_classes` classes. LAMA (64, 128, 256 px) takes
    ch, z_dim, lama (False drops the mask adaption, the ablation), noise (False switches noise injection
    off, also settable later via `G.noise_enabled`) and mask_ch (the mask network's width, the authors' 128
    by default); LostGAN-V2 (128, 256 px) takes ch and z_dim and ignores the others."""
    ignored = LAMA_ONLY if check_arch(arch) != "lama" else ()
    options = {k: OPTION_TYPES.get(k, lambda v: v)(v) for k, v in options.items() if k not in ignored}
    return GENERATORS[arch](int(resolution), int(num_classes), **options)


def build_discriminator(resolution: int, num_classes: int, ch: int = 64, arch: str = "lama") -> Discriminator:
    """The LAMA (64, 128, 256 px) or LostGAN-V2 (128, 256 px) discriminator."""
    return Discriminator(int(resolution), int(num_classes), int(ch), str(arch))
