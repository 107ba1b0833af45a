"""Drawing of one synthetic scene with numpy: 1-2 stuff regions and 1-6 overlapping shapes, each
class with its own colour family and mild texture; returns the image and exact visible masks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# COCO-style category ids so num_classes (184) and the networks match COCO: things in 1..90,
# stuff in 92..182, 183 = 'other' (the union of things, as COCO-Stuff annotates it).
THINGS = {1: "circle", 2: "square", 3: "triangle", 4: "ring", 5: "star", 6: "diamond", 7: "cross", 8: "hexagon"}
STUFF = {92: "sky", 93: "grass", 94: "sea", 95: "sand", 96: "wall", 97: "snow"}
OTHER = (183, "other")
# Stuff that can fill the upper part of a scene, and stuff that can lie below a horizon.
UPPER_STUFF = (92, 96, 97)
LOWER_STUFF = (93, 94, 95, 97)

# Base colour (RGB 0..255) of each class; instances jitter around it.
COLOURS = {
    1: (220, 40, 40), 2: (40, 90, 220), 3: (240, 200, 30), 4: (160, 50, 200),
    5: (250, 130, 20), 6: (20, 190, 190), 7: (230, 60, 160), 8: (120, 70, 30),
    92: (135, 190, 235), 93: (70, 150, 60), 94: (30, 80, 150), 95: (210, 190, 140),
    96: (150, 140, 130), 97: (235, 240, 245),
}  # fmt: skip


@dataclass
class SceneObject:
    """One annotated object: COCO category id and its visible (H, W) bool mask."""

    category_id: int
    mask: np.ndarray


def _grid(resolution: int) -> tuple[np.ndarray, np.ndarray]:
    coords = np.arange(resolution, dtype=np.float32) + 0.5  # pixel centres
    return np.meshgrid(coords, coords)  # xx, yy


def shape_mask(kind: str, xx: np.ndarray, yy: np.ndarray, cx: float, cy: float, size: float, angle: float) -> np.ndarray:
    """Boolean mask of one shape of radius `size` pixels centred at (cx, cy), rotated by `angle`."""
    dx, dy = xx - cx, yy - cy
    c, s = np.cos(angle), np.sin(angle)
    u, v = dx * c + dy * s, -dx * s + dy * c
    r = np.hypot(u, v)
    au, av = np.abs(u), np.abs(v)
    if kind == "circle":
        return r <= size
    if kind == "square":
        return np.maximum(au, av) <= 0.8 * size
    if kind == "triangle":
        return (v <= 0.5 * size) & (v >= -size + np.sqrt(3.0) * au)
    if kind == "ring":
        return (r <= size) & (r >= 0.55 * size)
    if kind == "star":
        theta = np.arctan2(v, u)
        return r <= size * (0.6 + 0.4 * np.cos(5.0 * theta))
    if kind == "diamond":
        return au + av <= size
    if kind == "cross":
        arm = 0.35 * size
        return ((au <= arm) & (av <= size)) | ((av <= arm) & (au <= size))
    if kind == "hexagon":
        h = np.sqrt(3.0) / 2.0 * size
        return (av <= h) & (au * np.sqrt(3.0) / 2.0 + av / 2.0 <= h)
    raise ValueError(f"unknown shape {kind!r}")


def _texture(category_id: int, rng: np.random.Generator, xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
    """(H, W, 3) float colour field: jittered class colour, a soft class-specific pattern, noise."""
    base = np.asarray(COLOURS[category_id], np.float32) + rng.uniform(-18, 18, 3).astype(np.float32)
    res = xx.shape[0]
    freq = (1.5 + category_id % 4) * 2 * np.pi / res
    phase = rng.uniform(0, 2 * np.pi)
    if category_id in STUFF:  # gentle waves along y for stuff, shading across x for things
        pattern = np.sin(yy * freq + 0.3 * np.sin(xx * freq * 0.5) + phase)
    else:
        pattern = np.sin((xx + yy) * freq + phase)
    field = base + 10.0 * pattern[..., None]
    return field + rng.normal(0.0, 5.0, field.shape).astype(np.float32)


def draw_scene(rng: np.random.Generator, resolution: int, rotate: bool = True) -> tuple[np.ndarray, list[SceneObject]]:
    """One scene -> ((R, R, 3) uint8 image, things first (painting order) then stuff, visible masks).
    rotate=False draws every shape upright (angle 0) and is otherwise the same scene: the angle is still
    drawn, so positions, sizes and classes follow the same random stream."""
    xx, yy = _grid(resolution)
    image = np.zeros((resolution, resolution, 3), np.float32)

    # Stuff: one region fills the image; a second (70% of scenes) lies below a wavy horizon.
    upper = int(rng.choice(UPPER_STUFF))
    regions = [(upper, np.ones((resolution, resolution), bool))]
    if rng.random() < 0.7:
        lower = int(rng.choice([c for c in LOWER_STUFF if c != upper]))
        horizon = resolution * rng.uniform(0.35, 0.7)
        amp, freq, phase = resolution * rng.uniform(0.0, 0.08), rng.uniform(0.5, 2.5), rng.uniform(0, 2 * np.pi)
        below = yy > horizon + amp * np.sin(xx / resolution * 2 * np.pi * freq + phase)
        regions[0] = (upper, ~below)
        regions.append((lower, below))
    for category_id, region in regions:
        image[region] = _texture(category_id, rng, xx, yy)[region]

    # Things: painted in order, later ones occlude earlier ones (frequent overlaps).
    num_things = int(rng.integers(1, 7))
    thing_ids = list(THINGS)
    shapes = []
    for _ in range(num_things):
        category_id = int(rng.choice(thing_ids))
        size = resolution * rng.uniform(0.12, 0.3)
        cx, cy = rng.uniform(0.15, 0.85, 2) * resolution
        angle = rng.uniform(0, 2 * np.pi)
        mask = shape_mask(THINGS[category_id], xx, yy, cx, cy, size, angle if rotate else 0.0)
        image[mask] = _texture(category_id, rng, xx, yy)[mask]
        shapes.append((category_id, mask))

    covered = np.zeros((resolution, resolution), bool)
    things = []
    for category_id, mask in reversed(shapes):  # visible part = not covered by later shapes
        visible = mask & ~covered
        covered |= mask
        if visible.sum() >= 4:
            things.append(SceneObject(category_id, visible))
    things.reverse()
    stuff = [SceneObject(c, region & ~covered) for c, region in regions]
    stuff = [s for s in stuff if s.mask.sum() >= 4]
    return np.clip(image, 0, 255).round().astype(np.uint8), things + stuff + _other(covered)


def _other(covered: np.ndarray) -> list[SceneObject]:
    """COCO-Stuff labels thing pixels as 'other' (183) in the stuff file; the loader drops it."""
    return [SceneObject(OTHER[0], covered)] if covered.any() else []
