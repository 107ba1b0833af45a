"""The model families this package builds, selected by `arch`."""

ARCHS = ("lama", "lostgan_v2")


def check_arch(arch: str) -> str:
    """`arch` itself, or a ValueError naming the known ones."""
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")
    return arch
