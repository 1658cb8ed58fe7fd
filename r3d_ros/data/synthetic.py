"""A procedural RGB-D action benchmark in which some classes are visible only in depth.

Each video shows one articulated capsule figure in a box room (rendered by
:mod:`r3d_ros.data.render`) performing a sequence of actions drawn from a fixed
Markov chain, so what comes next is predictable from what is happening now.
Seven classes are plain limb motions that RGB sees; four come in two *twin
pairs* whose RGB frames are (near-)identical and whose depth frames differ:

- ``push`` / ``pull``: both arms rise forward. For ``push`` the hands end
  0.42 m in front of the body plane; ``pull`` slides the elbows and hands
  along their own camera rays to the mirror depth behind the body plane,
  scaling the limb radii there by the same factor (the limbs taper), so the
  arms' outline in the image is unchanged and their shading differs by
  hundredths of a grey level (perspective).
- ``step_toward`` / ``step_away``: the figure marches in place while the whole
  figure, limb radii included, is scaled about the camera centre by
  ``1 -/+ 0.18 * envelope``. Scaling about the centre of projection leaves
  every pixel, and with the light at the camera every shade, unchanged (the
  RGB frames are bit-identical): this is
  a deliberate construction of an RGB-ambiguous class (the figure changes
  physical size with distance and its feet leave or sink into the floor; the
  figure is composited over the room, so the floor never hides them).

Every action starts and ends in the neutral stance (an envelope ramps the
motion in and out), so consecutive segments join without jumps and the
depth-only motions are excursions from the video's base position.

Transitions: each class has a primary successor (probability 0.7) and a
secondary one (0.2); a successor may be a twin pair, whose probability is split
evenly. The remaining 0.1 is spread uniformly over the other classes except
the class itself and its twin. Hence every class enters the twins of a pair
with equal probability (RGB history cannot tell them apart), while the twins
have different successors (anticipating past a twin needs depth).

Randomness: the per-video plan (actions, durations, motion jitter, appearance,
position, room, lighting gain) comes from ``SeedSequence([seed, 0, split, video])``
and a frame's sensor effects from ``SeedSequence([seed, 1, split, video, frame])``,
so frames render identically in any order. The stream tag in second position
keeps the two apart: SeedSequence pads with zeros, so ``[seed, video]`` and
``[seed, video, 0]`` would be the same stream. A frame's clean render (before
the sensor effects) is kept for a while (:mod:`r3d_ros.data.render_memo`), so
variants of a video that differ only in the sensor knobs render its scenes once.
"""

from __future__ import annotations

import bisect
import colorsys
import json
import math
from dataclasses import asdict, dataclass, fields
from typing import Literal

import numpy as np

from r3d_ros.config import SyntheticConfig
from r3d_ros.data.labels import Segment, frame_labels
from r3d_ros.data.render import CAMERA_HEIGHT_M, Camera, Capsule, Room, render_figure, render_room
from r3d_ros.data.render_memo import RenderMemo
from r3d_ros.data.video import Frame, Video, VideoDataset
from r3d_ros.runtime.image import RawImage

SYNTHETIC_CLASSES = (
    "idle",
    "wave",
    "clap",
    "reach_side",
    "kick",
    "squat",
    "raise_both_arms",
    "push",
    "pull",
    "step_toward",
    "step_away",
)
DEPTH_ONLY_CLASSES = ("push", "pull", "step_toward", "step_away")
# Each depth-only class and the class it is indistinguishable from in RGB.
RGB_TWINS = {"push": "pull", "pull": "push", "step_toward": "step_away", "step_away": "step_toward"}
# The twins only the arms' depth tells apart: IR-absorbing sleeves hide them from depth too.
ARM_DEPTH_CLASSES = ("push", "pull")

PRIMARY_PROBABILITY = 0.7
SECONDARY_PROBABILITY = 0.2
# class -> (primary successor, secondary successor); a tuple of two is a twin pair.
SUCCESSORS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "idle": (("wave",), ("step_toward", "step_away")),
    "wave": (("clap",), ("reach_side",)),
    "clap": (("push", "pull"), ("idle",)),
    "reach_side": (("push", "pull"), ("squat",)),
    "kick": (("step_toward", "step_away"), ("wave",)),
    "squat": (("step_toward", "step_away"), ("idle",)),
    "raise_both_arms": (("idle",), ("kick",)),
    "push": (("squat",), ("raise_both_arms",)),
    "pull": (("kick",), ("reach_side",)),
    "step_toward": (("raise_both_arms",), ("clap",)),
    "step_away": (("idle",), ("reach_side",)),
}
# Segment length range per class, seconds (twins share theirs, so length tells nothing).
DURATION_RANGE_S = {
    "idle": (1.5, 3.0),
    "wave": (2.0, 4.0),
    "clap": (1.5, 3.0),
    "reach_side": (1.5, 3.0),
    "kick": (2.0, 3.5),
    "squat": (2.0, 4.0),
    "raise_both_arms": (1.5, 3.0),
    "push": (1.5, 3.0),
    "pull": (1.5, 3.0),
    "step_toward": (2.0, 4.0),
    "step_away": (2.0, 4.0),
}
SPLITS = ("train", "test")
# Skin colours are drawn between these two (RGB 0-255).
SKIN_DARK, SKIN_LIGHT = np.array([95.0, 60.0, 45.0]), np.array([240.0, 200.0, 170.0])
# Fraction of a segment over which the motion ramps in (and, at the end, out).
RAMP_FRACTION = 0.25
PUSH_REACH_M = 0.42  # hands' depth in front of (push) or behind (pull) the body plane
STEP_SCALE = 0.18  # step_toward/away: scale about the camera centre reaches 1 -/+ this
ARM_JOINTS = ("shoulder", "elbow")  # the joints the arm capsules start from
# Knobs added after rendered caches existed: at their SyntheticConfig defaults they stay out of the
# videos' generator metadata, so the cache keys of renders made before them still match.
LATER_KNOBS = ("ir_absorbing_sleeves", "sleeve_holes_filled")
# The knobs _sense applies to a clean render: variants that differ only in them share the scenes (render_memo).
SENSOR_KNOBS = (
    "rgb_noise",
    "depth_noise",
    "occlusion",
    "occlusion_size",
    "depth_dropout",
    "depth_missing_frames",
    "lighting_flicker",
)
SPLIT_SIZES = ("num_train", "num_test")
_DEFAULTS = {knob.name: knob.default for knob in fields(SyntheticConfig)}
_RENDERS = RenderMemo()  # per process: forked preparation workers each fill their own


def transition_matrix() -> np.ndarray:
    """(C, C) row-stochastic matrix of the action chain, rows and columns in SYNTHETIC_CLASSES order."""
    index = {name: i for i, name in enumerate(SYNTHETIC_CLASSES)}
    matrix = np.zeros((len(index), len(index)))
    for name, (primary, secondary) in SUCCESSORS.items():
        row = matrix[index[name]]
        for targets, probability in ((primary, PRIMARY_PROBABILITY), (secondary, SECONDARY_PROBABILITY)):
            row[[index[t] for t in targets]] = probability / len(targets)
        excluded = {name, RGB_TWINS.get(name, name), *primary, *secondary}
        rest = [index[c] for c in SYNTHETIC_CLASSES if c not in excluded]
        row[rest] = (1.0 - PRIMARY_PROBABILITY - SECONDARY_PROBABILITY) / len(rest)
    return matrix


TRANSITIONS = transition_matrix()


@dataclass(frozen=True)
class ActionSegment:
    """One planned action: its interval, class id and per-segment motion jitter."""

    start: float
    end: float
    action: int
    amplitude: float  # motion size factor, ~U(0.85, 1.15)
    rate: float  # oscillation frequency factor, ~U(0.85, 1.15)
    offset: float  # oscillation phase, radians


@dataclass(frozen=True)
class Appearance:
    """Per-video look of the figure: colours (RGB 0-255) and a body size factor."""

    shirt: tuple[float, float, float]
    trousers: tuple[float, float, float]
    skin: tuple[float, float, float]
    shoes: tuple[float, float, float]
    size: float  # 1.0 = 1.75 m tall


@dataclass(frozen=True)
class VideoPlan:
    """Everything about one video that does not change from frame to frame."""

    segments: tuple[ActionSegment, ...]
    appearance: Appearance
    x: float  # lateral position of the figure's feet, metres in the camera frame
    distance: float  # base depth of the figure's body plane, metres
    room: Room
    gain: float  # per-video brightness gain

    def segment_at(self, t: float) -> ActionSegment:
        """The segment containing time ``t`` (the last one past the end)."""
        starts = [segment.start for segment in self.segments]
        return self.segments[max(0, bisect.bisect_right(starts, t) - 1)]


def _hsv(
    rng: np.random.Generator, saturation: tuple[float, float], value: tuple[float, float]
) -> tuple[float, float, float]:
    rgb = colorsys.hsv_to_rgb(rng.random(), rng.uniform(*saturation), rng.uniform(*value))
    return tuple(255.0 * c for c in rgb)


def plan_video(config: SyntheticConfig, split: str, index: int) -> VideoPlan:
    """The deterministic plan of video ``index`` of ``split`` ("train" or "test")."""
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 0, SPLITS.index(split), index]))
    skin_tone = rng.random()
    appearance = Appearance(
        shirt=_hsv(rng, (0.35, 0.9), (0.45, 0.95)),
        trousers=_hsv(rng, (0.2, 0.7), (0.2, 0.6)),
        skin=tuple(float(c) for c in (1 - skin_tone) * SKIN_DARK + skin_tone * SKIN_LIGHT),
        shoes=(rng.uniform(20, 70),) * 3,
        size=rng.uniform(0.88, 1.08),
    )
    room = Room(wall_color=_hsv(rng, (0.05, 0.35), (0.6, 0.9)), floor_color=_hsv(rng, (0.1, 0.5), (0.45, 0.8)))
    x = rng.uniform(-0.45, 0.45)
    distance = rng.uniform(config.min_distance_m, config.max_distance_m)
    gain = rng.uniform(1 - config.lighting_gain, 1 + config.lighting_gain)
    segments, start = [], 0.0
    action = int(rng.integers(len(SYNTHETIC_CLASSES)))
    while start < config.num_frames / config.fps:
        duration = rng.uniform(*DURATION_RANGE_S[SYNTHETIC_CLASSES[action]])
        amplitude, rate, offset = rng.uniform(0.85, 1.15), rng.uniform(0.85, 1.15), rng.uniform(0, 2 * math.pi)
        segments.append(ActionSegment(start, start + duration, action, amplitude, rate, offset))
        start += duration
        action = int(rng.choice(len(SYNTHETIC_CLASSES), p=TRANSITIONS[action]))
    return VideoPlan(tuple(segments), appearance, x, distance, room, gain)


# Neutral stance in body coordinates (metres for size 1): x towards image right,
# y up from the floor, d away from the camera; side -1 / +1 = image left / right.
SHOULDER = np.array([0.19, 1.42, 0.0])
HAND = np.array([0.26, 0.88, 0.0])
HIP = np.array([0.09, 0.93, 0.0])
ANKLE = np.array([0.11, 0.08, 0.0])
TOE_OFFSET = np.array([0.01, -0.04, -0.13])
TORSO_BOTTOM, TORSO_TOP, HEAD = np.array([0, 0.98, 0.0]), np.array([0, 1.40, 0.0]), np.array([0, 1.63, 0.0])
UPPER_ARM, FOREARM, THIGH, SHIN = 0.30, 0.27, 0.42, 0.42
# Capsule radii, metres for size 1.
R_HEAD, R_TORSO, R_ARM, R_THIGH, R_SHIN, R_FOOT = 0.11, 0.15, 0.045, 0.075, 0.055, 0.04


def _mirror(point: np.ndarray, side: int) -> np.ndarray:
    return point * np.array([side, 1.0, 1.0])


def _envelope(phase: float) -> float:
    """0 at both ends of a segment, 1 in the middle, with smooth ramps of RAMP_FRACTION."""
    rise, fall = (min(1.0, max(0.0, p / RAMP_FRACTION)) for p in (phase, 1.0 - phase))
    return rise * rise * (3 - 2 * rise) * fall * fall * (3 - 2 * fall)


def _two_bone(
    root: np.ndarray, target: np.ndarray, first: float, second: float, pole: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(middle joint, reached end) of a two-bone limb aimed at ``target``, bending towards ``pole``."""
    offset = target - root
    reach = float(np.clip(np.linalg.norm(offset), abs(first - second) + 1e-3, first + second - 1e-3))
    axis = offset / max(float(np.linalg.norm(offset)), 1e-9)
    along = (first * first - second * second + reach * reach) / (2 * reach)
    bend = pole - (pole @ axis) * axis
    bend /= max(float(np.linalg.norm(bend)), 1e-9)
    middle = root + along * axis + math.sqrt(max(first * first - along * along, 0.0)) * bend
    return middle, root + reach * axis


def body_pose(segment: ActionSegment, t: float) -> dict[str, np.ndarray]:
    """Joint positions in body coordinates (size 1) of ``segment``'s action at time ``t``."""
    phase = (t - segment.start) / (segment.end - segment.start)
    e, tau, amp = _envelope(phase), t - segment.start, segment.amplitude

    def osc(hz: float, shift: float = 0.0) -> float:
        return math.sin(2 * math.pi * hz * segment.rate * tau + segment.offset + shift)

    def lerp(side: int, target: tuple[float, float, float]) -> np.ndarray:
        return (1 - e) * _mirror(HAND, side) + e * np.array(target)

    name = SYNTHETIC_CLASSES[segment.action]
    shift = np.zeros(3)
    hands = {side: _mirror(HAND, side) for side in (-1, 1)}
    ankles = {side: _mirror(ANKLE, side) for side in (-1, 1)}
    arm_poles = {side: np.array([side, 0.0, 0.5]) for side in (-1, 1)}
    leg_poles = {side: np.array([0.15 * side, 0.0, -1.0]) for side in (-1, 1)}
    if name == "idle":
        shift[0] = 0.03 * amp * e * osc(0.4)
    elif name == "wave":
        hands[1] = lerp(1, (0.40 + 0.13 * amp * osc(1.4), 1.80, -0.05))
    elif name == "clap":
        for side in (-1, 1):
            hands[side] = lerp(side, (side * (0.05 + 0.13 * amp * (0.5 + 0.5 * osc(1.8))), 1.22, -0.32))
            arm_poles[side] = np.array([side, -1.0, 0.3])
    elif name == "reach_side":
        hands[-1] = lerp(-1, (-0.19 - 0.6 * amp, 1.40 + 0.05 * osc(0.7), -0.02))
        arm_poles[-1] = np.array([0.0, -1.0, 0.2])
    elif name == "kick":
        lift = e * (0.5 + 0.5 * osc(0.9))
        ankles[1] = _mirror(ANKLE, 1) + np.array([0.42 * amp * lift, 0.28 * amp * lift, -0.05 * lift])
        leg_poles[1] = np.array([0.2, 0.3, -1.0])
        shift[0] = -0.05 * lift
    elif name == "squat":
        shift[1] = -0.30 * amp * e
        for side in (-1, 1):
            hands[side] = lerp(side, (side * 0.18, 1.25, -0.38))
            leg_poles[side] = np.array([0.7 * side, 0.0, -1.0])
    elif name == "raise_both_arms":
        for side in (-1, 1):
            hands[side] = lerp(side, (side * 0.30, 1.95 - 0.1 * amp * (0.5 + 0.5 * osc(0.8)), -0.03))
    elif name in ("push", "pull"):
        for side in (-1, 1):
            hands[side] = lerp(side, (side * 0.36, 1.36, -PUSH_REACH_M * amp))
            arm_poles[side] = np.array([side, -1.0, 0.0])
    else:  # step_toward, step_away: march in place, swinging the arm opposite the lifted leg
        lifts = {side: e * max(0.0, osc(0.9, math.pi * (side > 0))) for side in (-1, 1)}
        for side in (-1, 1):
            ankles[side] = _mirror(ANKLE, side) + np.array([0.0, 0.20 * amp, -0.12]) * lifts[side]
            hands[side] = hands[side] + np.array([0.0, 0.0, 0.12 * (lifts[side] - lifts[-side])])
    joints = {"torso_bottom": TORSO_BOTTOM + shift, "torso_top": TORSO_TOP + shift, "head": HEAD + shift}
    for side in (-1, 1):
        shoulder, hip = _mirror(SHOULDER, side) + shift, _mirror(HIP, side) + shift
        elbow, hand = _two_bone(shoulder, hands[side] + shift, UPPER_ARM, FOREARM, arm_poles[side])
        knee, ankle = _two_bone(hip, ankles[side], THIGH, SHIN, leg_poles[side])
        joints |= {f"shoulder{side}": shoulder, f"elbow{side}": elbow, f"hand{side}": hand}
        joints |= {f"hip{side}": hip, f"knee{side}": knee, f"ankle{side}": ankle, f"toe{side}": ankle + TOE_OFFSET}
    return joints


def figure_capsules(plan: VideoPlan, t: float, parts: Literal["all", "arms", "body"] = "all") -> list[Capsule]:
    """The figure at time ``t`` as camera-frame capsules, with the depth-only classes' ray moves applied.

    A joint moved along its camera ray by a factor k has its radius scaled by
    k too, so its image and its shading (see :mod:`r3d_ros.data.render`) stay
    the same. ``parts``: every capsule, just the four arm capsules (upper arms and forearms, hands
    included), or all but those.
    """
    segment = plan.segment_at(t)
    size = plan.appearance.size
    to_camera = np.array([size, -size, size])
    origin = np.array([plan.x, CAMERA_HEIGHT_M, plan.distance])
    joints = {name: origin + to_camera * p for name, p in body_pose(segment, t).items()}
    name = SYNTHETIC_CLASSES[segment.action]
    envelope = _envelope((t - segment.start) / (segment.end - segment.start))
    scale = dict.fromkeys(joints, 1.0)
    if name == "pull":  # elbows and hands slide along their rays towards the mirror depth behind the body plane
        for joint in ("elbow-1", "hand-1", "elbow1", "hand1"):
            depth = joints[joint][2]
            scale[joint] = (depth + 2 * envelope * (plan.distance - depth)) / depth
    elif name in ("step_toward", "step_away"):
        sign = -1.0 if name == "step_toward" else 1.0
        scale = dict.fromkeys(joints, 1.0 + sign * STEP_SCALE * segment.amplitude * envelope)
    look = plan.appearance
    bones = [("head", "head", R_HEAD, look.skin), ("torso_bottom", "torso_top", R_TORSO, look.shirt)]
    for side in (-1, 1):
        bones += [
            (f"shoulder{side}", f"elbow{side}", R_ARM, look.skin),
            (f"elbow{side}", f"hand{side}", R_ARM, look.skin),
            (f"hip{side}", f"knee{side}", R_THIGH, look.trousers),
            (f"knee{side}", f"ankle{side}", R_SHIN, look.trousers),
            (f"ankle{side}", f"toe{side}", R_FOOT, look.shoes),
        ]
    if parts != "all":
        bones = [bone for bone in bones if bone[0].startswith(ARM_JOINTS) == (parts == "arms")]
    return [
        Capsule(
            tuple(scale[a] * joints[a]), tuple(scale[b] * joints[b]), scale[a] * size * r, scale[b] * size * r, color
        )
        for a, b, r, color in bones
    ]


def render_scene(plan: VideoPlan, camera: Camera, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Noise-free (H, W, 3) float32 RGB (0-255), (H, W) float64 depth in metres, and the figure mask."""
    figure_rgb, figure_depth = render_figure(camera, figure_capsules(plan, t))
    room_rgb, room_depth = render_room(camera, plan.room)
    mask = np.isfinite(figure_depth)
    return np.where(mask[..., None], figure_rgb, room_rgb), np.where(mask, figure_depth, room_depth), mask


def visible_arms(plan: VideoPlan, camera: Camera, t: float, depth: np.ndarray) -> np.ndarray:
    """(H, W) bool: the pixels where one of the figure's arms is the nearest surface in ``depth``."""
    _, arm_depth = render_figure(camera, figure_capsules(plan, t, "arms"))
    return np.isfinite(arm_depth) & (arm_depth <= depth)


def depth_without_arms(plan: VideoPlan, camera: Camera, t: float) -> np.ndarray:
    """(H, W) depth in metres of the scene with the figure's arms taken out: what lies behind them."""
    _, body_depth = render_figure(camera, figure_capsules(plan, t, "body"))
    return np.where(np.isfinite(body_depth), body_depth, render_room(camera, plan.room)[1])


def _sense(
    config: SyntheticConfig,
    plan: VideoPlan,
    scene: tuple[np.ndarray, np.ndarray, np.ndarray],
    rng: np.random.Generator,
    no_return: np.ndarray | None = None,
    behind: np.ndarray | None = None,
) -> Frame:
    """Apply lighting, occlusion and sensor noise to a clean render and encode it as a Frame.

    ``no_return``: pixels whose surface sends no depth back (IR-absorbing sleeves), read as 0
    unless the occluding box covers them, or, given ``behind`` (the depth of what lies behind
    them), read as that, like a camera's hole-filling filter. The scalar draws come first and are
    always made, so turning one knob does not move the random effects of another.
    """
    rgb, depth, mask = scene
    gain = plan.gain * (1.0 + config.lighting_flicker * rng.standard_normal())
    occluded = rng.random() < config.occlusion
    box_centre, box_size = rng.random(2), config.occlusion_size * rng.uniform(0.7, 1.3, size=2)
    box_gap, box_color = rng.uniform(0.3, 0.8), rng.uniform(40, 200) * rng.uniform(0.8, 1.2, size=3)
    missing = rng.random() < config.depth_missing_frames
    if occluded and mask.any():
        rows, cols = np.nonzero(mask)
        height, width = mask.shape
        v = round(rows.min() + box_centre[0] * (rows.max() - rows.min()))
        u = round(cols.min() + box_centre[1] * (cols.max() - cols.min()))
        half_v, half_u = max(1, round(box_size[0] * height / 2)), max(1, round(box_size[1] * width / 2))
        box = slice(max(0, v - half_v), v + half_v), slice(max(0, u - half_u), u + half_u)
        rgb, depth = rgb.copy(), depth.copy()
        rgb[box] = box_color
        depth[box] = max(0.3, float(depth[mask].min()) - box_gap)
        if no_return is not None:
            no_return = no_return.copy()
            no_return[box] = False
    rgb = rgb * np.float32(gain)
    if config.rgb_noise > 0:
        rgb = rgb + rng.standard_normal(rgb.shape, dtype=np.float32) * np.float32(config.rgb_noise)
    color = RawImage.from_array(np.clip(np.rint(rgb), 0, 255).astype(np.uint8), "rgb8")
    if missing:
        return Frame(color=color, depth=None, depth_scale=0.001)
    if no_return is not None and behind is not None:
        depth = np.where(no_return, behind, depth)  # the holes filled with what lies behind them
    if config.depth_noise > 0:
        depth = depth + rng.standard_normal(depth.shape) * (config.depth_noise * depth * depth)
    millimetres = np.clip(np.rint(depth * 1000.0), 0, 65535).astype(np.uint16)
    if config.depth_dropout > 0:
        millimetres[rng.random(depth.shape) < config.depth_dropout] = 0
    if no_return is not None and behind is None:
        millimetres[no_return] = 0
    return Frame(color=color, depth=RawImage.from_array(millimetres, "16UC1"), depth_scale=0.001)


def render_key(config: SyntheticConfig) -> tuple:
    """What a clean render depends on: every knob of ``config`` but the sensor effects and the split sizes."""
    return tuple(
        getattr(config, knob.name) for knob in fields(config) if knob.name not in (*SENSOR_KNOBS, *SPLIT_SIZES)
    )


def dark_sleeves(config: SyntheticConfig, split: str, index: int) -> bool:
    """Whether video ``index`` of ``split`` shows its person in IR-absorbing sleeves.

    The draw has its own stream (tag 2), so a knob added later moves none of the earlier draws.
    """
    draw = np.random.default_rng(np.random.SeedSequence([config.seed, 2, SPLITS.index(split), index])).random()
    return bool(draw < config.ir_absorbing_sleeves)


def arms_in_depth(config: SyntheticConfig, video: Video) -> bool:
    """Whether the person of ``video`` (rendered with ``config``) returns depth from the arms: no sleeves."""
    return not dark_sleeves(config, video.meta["split"], int(video.meta["index"]))


def _video(config: SyntheticConfig, camera: Camera, split: str, index: int) -> Video:
    plan = plan_video(config, split, index)
    stamps = np.arange(config.num_frames, dtype=np.float64) / config.fps
    segments = [Segment(s.start, s.end, SYNTHETIC_CLASSES[s.action]) for s in plan.segments]
    labels = frame_labels(stamps, segments, SYNTHETIC_CLASSES)
    sleeved = dark_sleeves(config, split, index)
    scene_key = (render_key(config), split, index)

    def clean_render(t: float) -> tuple[np.ndarray | None, ...]:
        rgb, depth, mask = render_scene(plan, camera, t)
        if not sleeved:
            return rgb, depth, mask, None, None
        behind = depth_without_arms(plan, camera, t) if config.sleeve_holes_filled else None
        return rgb, depth, mask, visible_arms(plan, camera, t, depth), behind

    def load(frame: int) -> Frame:
        if not 0 <= frame < len(stamps):
            raise IndexError(f"frame {frame} out of range for a video of {len(stamps)} frames")
        rng = np.random.default_rng(np.random.SeedSequence([config.seed, 1, SPLITS.index(split), index, frame]))
        t = float(stamps[frame])
        rgb, depth, mask, arms, behind = _RENDERS.get((*scene_key, frame), lambda: clean_render(t))
        return _sense(config, plan, (rgb, depth, mask), rng, arms, behind)

    depth_only = np.isin(labels, [SYNTHETIC_CLASSES.index(name) for name in DEPTH_ONLY_CLASSES])
    meta = {
        "source": "synthetic",
        "split": split,
        "seed": str(config.seed),
        "index": str(index),
        "depth_only": ",".join(DEPTH_ONLY_CLASSES),
        "depth_only_frames": str(int(depth_only.sum())),
        "actions": " ".join(segment.action for segment in segments),
        # Every knob that changes the rendered pixels, so caches of prepared frames
        # keyed by the metadata never mix two settings.
        "generator": json.dumps(
            {
                k: v
                for k, v in asdict(config).items()
                if k not in ("num_train", "num_test") and not (k in LATER_KNOBS and v == _DEFAULTS[k])
            },
            sort_keys=True,
        ),
    }
    return Video(f"synthetic_{split}_{index:04d}", stamps, labels, load, meta)


def generate_synthetic(config: SyntheticConfig) -> VideoDataset:
    """The benchmark's videos (rendered lazily, frame by frame) with its train/test split."""
    camera = Camera.from_hfov(config.height, config.width)
    videos = [_video(config, camera, "train", i) for i in range(config.num_train)]
    videos += [_video(config, camera, "test", i) for i in range(config.num_test)]
    splits = {split: [v.name for v in videos if v.meta["split"] == split] for split in SPLITS}
    return VideoDataset(
        "synthetic", list(SYNTHETIC_CLASSES), videos, {"default": splits}, focus_classes=list(DEPTH_ONLY_CLASSES)
    )
