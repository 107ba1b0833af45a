"""The networks: LAMA's and LostGAN-V2's generators (with their mask networks) and discriminators."""

from lama.models.arch import ARCHS, check_arch
from lama.models.build import build_discriminator, build_generator
from lama.models.discriminator import Discriminator, init_discriminator
from lama.models.gates import gate_summary, learnt_gates, open_gates
from lama.models.generator import Generator
from lama.models.init import init_weights
from lama.models.lostgan_generator import LostGANGenerator

__all__ = [
    "ARCHS",
    "Discriminator",
    "Generator",
    "LostGANGenerator",
    "build_discriminator",
    "build_generator",
    "check_arch",
    "gate_summary",
    "init_discriminator",
    "init_weights",
    "learnt_gates",
    "open_gates",
]
