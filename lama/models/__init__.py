"""The LAMA networks: generator (with the mask network and ISLA norms) and discriminator."""

from lama.models.discriminator import Discriminator, build_discriminator
from lama.models.gates import gate_summary, learnt_gates
from lama.models.generator import Generator, build_generator
from lama.models.init import init_weights

__all__ = [
    "Discriminator",
    "Generator",
    "build_discriminator",
    "build_generator",
    "gate_summary",
    "init_weights",
    "learnt_gates",
]
