"""Analytic ray casting of capsule figures in a box room, for the synthetic RGB-D benchmark.

Every pixel's ray is intersected with spheres, capsules and rounded cones in
closed form, so depth is exact metric Z (what a RealSense reports: distance
along the optical axis, not along the ray). Only the pixels inside a
primitive's projected bounding box are evaluated, which keeps a 160x120 frame
at a few milliseconds of numpy on one core.

Camera frame (OpenCV convention): x right, y down, z along the optical axis;
the camera looks horizontally from ``CAMERA_HEIGHT_M`` above the floor at a
back wall ``WALL_DEPTH_M`` away.

Shading is Lambert with one light at the camera (like an on-camera
projector), ``AMBIENT + DIFFUSE * cos``, where cos is the cosine between the
surface normal and the ray. For the room that is the plane's normal. For the
figure, cos is taken from the distance between the ray and the primitive's
axis over its radius, ``sqrt(1 - (distance / radius)^2)``: exact for spheres
and for limbs seen side-on, and unchanged when a primitive is scaled about the
camera centre or tilted towards instead of away from the camera, which the
benchmark's depth-only classes rely on (see :mod:`r3d_ros.data.synthetic`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

CAMERA_HEIGHT_M = 1.1
WALL_DEPTH_M = 5.0
WALL_STRIPE_M = 0.6  # period of the wall's vertical stripes
FLOOR_TILE_M = 0.5  # side of a floor checker tile
AMBIENT = 0.35
DIFFUSE = 0.65
# Horizontal field of view of a RealSense D435 colour camera.
D435_HFOV_DEG = 69.0


@dataclass(frozen=True)
class Camera:
    """Pinhole intrinsics in pixels; pixel (u, v) has its centre at integer coordinates."""

    height: int
    width: int
    fx: float
    fy: float
    cx: float
    cy: float

    @classmethod
    def from_hfov(cls, height: int, width: int, hfov_deg: float = D435_HFOV_DEG) -> Camera:
        """Square pixels and a centred principal point, focal length from the horizontal FOV."""
        focal = (width / 2) / math.tan(math.radians(hfov_deg) / 2)
        return cls(height, width, focal, focal, (width - 1) / 2, (height - 1) / 2)

    def project(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) camera-frame points in front of the camera -> (..., 2) pixel (u, v)."""
        return np.stack(
            [self.fx * points[..., 0] / points[..., 2] + self.cx, self.fy * points[..., 1] / points[..., 2] + self.cy],
            axis=-1,
        )


@functools.lru_cache(maxsize=4)
def unit_rays(camera: Camera) -> np.ndarray:
    """(H, W, 3) float64 unit direction of every pixel's ray (read-only, shared)."""
    u = (np.arange(camera.width) - camera.cx) / camera.fx
    v = (np.arange(camera.height) - camera.cy) / camera.fy
    rays = np.stack(np.broadcast_arrays(u[None, :], v[:, None], np.ones((1, 1))), axis=-1)
    rays /= np.linalg.norm(rays, axis=-1, keepdims=True)
    rays.setflags(write=False)
    return rays


@dataclass(frozen=True)
class Capsule:
    """The convex hull of a sphere at ``a`` and one at ``b`` (a sphere when they coincide), in one flat colour.

    With equal radii this is a capsule, otherwise a rounded cone; limbs taper
    when their joints are moved along camera rays with the radii scaled by the
    same factor, which keeps their outline in the image unchanged.
    """

    a: tuple[float, float, float]
    b: tuple[float, float, float]
    radius_a: float
    radius_b: float
    color: tuple[float, float, float]  # RGB, 0-255, before shading


@dataclass(frozen=True)
class Room:
    """Colours (RGB 0-255) of the back wall and the floor."""

    wall_color: tuple[float, float, float]
    floor_color: tuple[float, float, float]


def _sphere_range(rays: np.ndarray, center: np.ndarray, radius: float) -> np.ndarray:
    """Distance along each unit ray to the sphere's front surface; inf where missed."""
    along = rays @ center
    disc = along * along - (center @ center - radius * radius)
    return np.where(disc >= 0, along - np.sqrt(np.maximum(disc, 0.0)), np.inf)


def capsule_range(rays: np.ndarray, capsule: Capsule) -> np.ndarray:
    """Distance along each unit ray to the capsule's front surface; inf where missed.

    The hull is the union of its two end spheres and the cone between them,
    so its entry point is the nearest entry of the three.
    """
    a, b, ra, rb = np.asarray(capsule.a), np.asarray(capsule.b), capsule.radius_a, capsule.radius_b
    hit = np.minimum(_sphere_range(rays, a, ra), _sphere_range(rays, b, rb))
    axis = b - a
    taper = ra - rb
    axis2 = axis @ axis
    length2 = axis2 - taper * taper  # squared length of the cone's side between its tangent circles
    if length2 < 1e-12:
        return hit
    # Ray-cone with the origin at the camera (Inigo Quilez's rounded-cone intersection).
    axis_a = -(axis @ a)
    ray_axis = rays @ axis
    ray_a = -(rays @ a)
    qa = length2 - ray_axis * ray_axis
    qb = length2 * ray_a - axis_a * ray_axis + ray_axis * taper * ra
    qc = length2 * (a @ a) - axis_a * axis_a + 2 * axis_a * taper * ra - axis2 * ra * ra
    disc = qb * qb - qa * qc
    ok = (disc >= 0) & (qa > 1e-12)
    body = np.divide(-qb - np.sqrt(np.maximum(disc, 0.0)), qa, out=np.full_like(qa, np.inf), where=ok)
    along_axis = axis_a - ra * taper + body * ray_axis
    body[~ok | (along_axis <= 0) | (along_axis >= length2)] = np.inf
    return np.minimum(hit, body)


def surface_offset(rays: np.ndarray, capsule: Capsule) -> np.ndarray:
    """(N,) distance between each unit ray and the capsule's axis, over the local radius, clipped to 1.

    0 where the ray meets the axis, 1 at the outline: the cosine between a
    limb's normal and the ray, for a limb seen side-on, is sqrt(1 - offset^2).
    """
    a, b = np.asarray(capsule.a), np.asarray(capsule.b)
    axis = b - a
    ray_axis, ray_a = rays @ axis, rays @ a
    # Axis parameter s in [0, 1] closest to the ray line, then the ray point closest to a + s * axis.
    denom = axis @ axis - ray_axis * ray_axis
    s = np.divide(ray_axis * ray_a - (axis @ a), denom, out=np.zeros_like(denom), where=denom > 1e-12)
    s = np.clip(s, 0.0, 1.0)
    points = a + s[:, None] * axis
    along = np.einsum("ij,ij->i", points, rays)
    radius = capsule.radius_a + s * (capsule.radius_b - capsule.radius_a)
    return np.minimum(np.linalg.norm(points - along[:, None] * rays, axis=1) / radius, 1.0)


def _box(camera: Camera, capsule: Capsule) -> tuple[int, int, int, int] | None:
    """(v0, v1, u0, u1) pixel box containing the capsule's projection; None when off-image."""
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
    corners = (
        np.array([capsule.a, capsule.b])[:, None, :]
        + np.array([capsule.radius_a, capsule.radius_b])[:, None, None] * signs
    )
    corners[..., 2] = np.maximum(corners[..., 2], 1e-3)
    uv = camera.project(corners.reshape(-1, 3))
    u0, v0 = np.floor(uv.min(axis=0)).astype(int)
    u1, v1 = np.ceil(uv.max(axis=0)).astype(int) + 1
    u0, u1 = max(u0, 0), min(u1, camera.width)
    v0, v1 = max(v0, 0), min(v1, camera.height)
    return (v0, v1, u0, u1) if u0 < u1 and v0 < v1 else None


def render_figure(camera: Camera, capsules: list[Capsule]) -> tuple[np.ndarray, np.ndarray]:
    """Z-buffer the capsules: (H, W, 3) float32 shaded RGB and (H, W) float64 depth (inf = empty).

    Touching capsules of one colour are shaded as one smooth body (the
    brightest of their shades, like a skinned limb), so which of two segments
    of an arm is in front at the elbow does not show in the image.
    """
    rays = unit_rays(camera)
    colors = list(dict.fromkeys(capsule.color for capsule in capsules))
    depth = np.full((camera.height, camera.width), np.inf)
    shade = np.zeros((camera.height, camera.width), dtype=np.float32)
    owner = np.full((camera.height, camera.width), -1)  # index into colors of the visible surface
    for capsule in capsules:
        box = _box(camera, capsule)
        if box is None:
            continue
        v0, v1, u0, u1 = box
        local = rays[v0:v1, u0:u1]
        distance = capsule_range(local, capsule)
        z = distance * local[..., 2]
        hit = np.isfinite(z)
        group = colors.index(capsule.color)
        depth_view, shade_view, owner_view = depth[v0:v1, u0:u1], shade[v0:v1, u0:u1], owner[v0:v1, u0:u1]
        same = hit & (owner_view == group)
        closer = hit & ~same & (z < depth_view)
        update = same | closer
        if not update.any():
            continue
        offset = surface_offset(local[update], capsule)
        new_shade = AMBIENT + DIFFUSE * np.sqrt(1.0 - offset * offset)
        shade_view[update] = np.where(same[update], np.maximum(shade_view[update], new_shade), new_shade)
        depth_view[update] = np.minimum(depth_view[update], z[update])
        owner_view[closer] = group
    palette = np.array([*colors, (0.0, 0.0, 0.0)], dtype=np.float32)  # owner -1: no figure
    return shade[..., None] * palette[owner], depth


@functools.lru_cache(maxsize=8)
def render_room(camera: Camera, room: Room) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) float32 RGB and (H, W) float64 depth of the empty room (read-only, cached).

    The floor is the plane ``CAMERA_HEIGHT_M`` below the camera with a checker
    of two tones; the back wall is the plane ``z = WALL_DEPTH_M`` with vertical
    stripes and a dark skirting board.
    """
    rays = unit_rays(camera)
    dx, dy, dz = rays[..., 0], rays[..., 1], rays[..., 2]
    floor_range = np.divide(CAMERA_HEIGHT_M, dy, out=np.full_like(dy, np.inf), where=dy > 1e-9)
    on_floor = floor_range * dz < WALL_DEPTH_M
    wall_range = WALL_DEPTH_M / dz
    hit_range = np.where(on_floor, floor_range, wall_range)
    depth = hit_range * dz
    x, y = hit_range * dx, hit_range * dy
    wall_color, floor_color = np.asarray(room.wall_color), np.asarray(room.floor_color)
    checker = (np.floor(x / FLOOR_TILE_M) + np.floor(depth / FLOOR_TILE_M)) % 2
    floor_rgb = floor_color * (0.8 + 0.2 * checker)[..., None]
    stripes = 0.92 + 0.08 * np.cos(2 * np.pi * x / WALL_STRIPE_M)
    skirting = np.where(y > CAMERA_HEIGHT_M - 0.12, 0.55, 1.0)
    wall_rgb = wall_color * (stripes * skirting)[..., None]
    # Lambert with the light at the camera: cos = -normal . ray (floor normal -y, wall normal -z).
    shade = AMBIENT + DIFFUSE * np.where(on_floor, dy, dz)
    rgb = (np.where(on_floor[..., None], floor_rgb, wall_rgb) * shade[..., None]).astype(np.float32)
    for array in (rgb, depth):
        array.setflags(write=False)
    return rgb, depth
