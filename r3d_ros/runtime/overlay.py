"""What the model sees and says, drawn over the colour frame: the picture behind the debug image and ``--video``.

A user debugging a live robot or scrubbing a replayed recording wants to see,
on the frame itself, what the model thinks is happening now, what it expects
next and how sure it is, what it predicts over the horizon, and whether depth
was there. :func:`render_overlay` draws exactly that on a copy of the frame
(RGB in, RGB out, same height; the depth frame as a colour map beside it when
given). It uses only OpenCV and numpy, no ROS, so the node, the evaluator and
the tests share one drawing, and it costs well under a millisecond per
640x480 frame, 1-2 ms with the depth colour map (``bench/bench_overlay.py``),
so a debug image never holds up the anticipations.

Layout (all sizes scale with the frame's height; 480 rows is the reference):
top left the current action, the next action and the depth status; top right
the top-5 next-action probabilities as bars; at the bottom the predicted
future segments as a strip from now (left) to the horizon (right), one colour
per class (:func:`class_color`), labelled where the label fits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:  # the drawing needs only the fields; importing the runtime would pull in the backends
    from r3d_ros.runtime.anticipator import Anticipation

# Tableau's 10 colours (what matplotlib calls tab10), RGB: distinct on screen and for most colour-blind viewers.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
)  # fmt: skip
TOP_K = 5  # bars in the probability chart
MAX_DEPTH_M = 5.0  # depth colour map saturates here (a fixed range keeps colours stable from frame to frame)
REFERENCE_HEIGHT = 480  # the frame height the sizes below are designed for
FONT = cv2.FONT_HERSHEY_SIMPLEX
WHITE = (255, 255, 255)
DEPTH_STATUSES = ("present", "missing", "substituted")


def _depth_lut() -> np.ndarray:
    """Turbo colour map in RGB order, with 0 (no reading) black, as a 256x1 table for ``cv2.applyColorMap``."""
    lut = cv2.applyColorMap(np.arange(256, dtype=np.uint8).reshape(256, 1), cv2.COLORMAP_TURBO)[:, :, ::-1]
    lut = np.ascontiguousarray(lut)
    lut[0] = 0
    return lut


DEPTH_LUT = _depth_lut()


def class_color(class_id: int) -> tuple[int, int, int]:
    """The RGB colour of a class id everywhere in the overlay (bars, future strip, ground-truth band)."""
    return PALETTE[class_id % len(PALETTE)]


def depth_status(result: Anticipation | None) -> str:
    """``present``, ``substituted`` or ``missing``: the depth of the newest frame an anticipation used."""
    if result is None or not (result.depth_present or result.depth_substituted):
        return "missing"
    return "present" if result.depth_present else "substituted"


@dataclass(frozen=True)
class Box:
    """A pixel rectangle: columns ``x0`` to ``x1`` and rows ``y0`` to ``y1`` (ends exclusive)."""

    x0: int
    y0: int
    x1: int
    y1: int


@dataclass(frozen=True)
class Style:
    """Font and spacing for one frame height."""

    scale: float  # 1.0 at REFERENCE_HEIGHT
    font: float
    thickness: int
    line: int  # height of a text line
    margin: int

    @classmethod
    def of(cls, height: int) -> Style:
        """Sizes for a frame ``height`` rows high."""
        scale = height / REFERENCE_HEIGHT
        return cls(
            scale, max(0.3, 0.5 * scale), max(1, round(scale)), max(10, round(20 * scale)), max(2, round(8 * scale))
        )


def future_strip_box(height: int, width: int) -> Box:
    """Where the future strip lies on a ``height`` x ``width`` frame: left edge now, right edge the horizon."""
    style = Style.of(height)
    y1 = height - style.margin - style.line
    return Box(style.margin, y1 - max(6, round(22 * style.scale)), width - style.margin, y1)


def colorize_depth(depth: np.ndarray, height: int, width: int, max_depth_m: float = MAX_DEPTH_M) -> np.ndarray:
    """Depth in metres (H, W) -> RGB uint8 (``height``, ``width``, 3): near blue, far red, no reading black."""
    if depth.shape[:2] != (height, width):
        depth = cv2.resize(depth, (width, height), interpolation=cv2.INTER_NEAREST)
    # Negative readings to 0 first (convertScaleAbs would mirror them); NaN comes out as 0, like no reading.
    valid = cv2.threshold(depth.astype(np.float32, copy=False), 0.0, 0.0, cv2.THRESH_TOZERO)[1]
    scaled = cv2.convertScaleAbs(valid, alpha=255.0 / max_depth_m)
    return cv2.applyColorMap(scaled, DEPTH_LUT)


def render_overlay(
    color: np.ndarray,
    result: Anticipation | None,
    depth_status: str,
    depth: np.ndarray | None = None,
    *,
    class_names: Sequence[str] = (),
    max_depth_m: float = MAX_DEPTH_M,
) -> np.ndarray:
    """The colour frame (RGB uint8, H x W x 3) annotated with ``result``; depth (metres) beside it when given.

    Returns RGB uint8 of H x W, or H x 2W with the depth colour map on the right.
    ``result`` None means no anticipation yet: the frame is drawn with a
    waiting note. ``class_names`` names the bars of the probability chart; a
    class without a name is shown as ``#id``.
    """
    if color.ndim != 3 or color.shape[2] != 3 or color.dtype != np.uint8:
        raise ValueError(f"color must be an RGB uint8 H x W x 3 array, got {color.dtype} {color.shape}")
    height, width = color.shape[:2]
    out = np.empty((height, width * (1 if depth is None else 2), 3), dtype=np.uint8)
    out[:, :width] = color
    if depth is not None:
        out[:, width:] = colorize_depth(depth, height, width, max_depth_m)
    frame = out[:, :width]  # everything is drawn on the colour half
    style = Style.of(height)
    if result is None:
        _draw_lines(frame, style, ["waiting for the first anticipation", f"depth: {depth_status}"])
        return out
    current = result.current
    lines = [
        f"now:  {current.label} {current.confidence:.0%}",
        f"next: {result.next_label} {result.next_confidence:.0%}",
        f"depth: {depth_status}",
    ]
    status_right = _draw_lines(frame, style, lines)
    names = {**{i: f"#{i}" for i in range(len(result.next_probabilities))}, **dict(enumerate(class_names))}
    names[result.next_class_id] = result.next_label
    _draw_bars(frame, style, np.asarray(result.next_probabilities, dtype=float), names, status_right)
    _draw_future(frame, style, result)
    return out


def label_band(width: int, height: int, text: str, class_id: int | None, verdict: bool | None = None) -> np.ndarray:
    """A dark RGB band ``height`` x ``width``: a swatch of ``class_id``'s colour, ``text``, and ok/wrong when given.

    Shown under a replayed frame with the ground truth, so a user scrubbing a
    video sees at once where the model disagreed with the labels.
    """
    band = np.full((height, width, 3), 32, dtype=np.uint8)
    style = dataclasses.replace(Style.of(height * 12), thickness=1)  # text sized to the band, not to the frame
    pad = max(2, height // 6)
    x, right = pad, width - pad
    if class_id is not None:
        cv2.rectangle(band, (pad, pad), (height - pad, height - pad), class_color(class_id), cv2.FILLED)
        x = height
    baseline = (height + cv2.getTextSize("Ag", FONT, style.font, 1)[0][1]) // 2
    if verdict is not None:
        tag, tag_color = ("ok", (60, 200, 60)) if verdict else ("WRONG", (230, 50, 50))
        right -= _text_width(tag, style)
        _put(band, tag, right, baseline, style, tag_color)
        right -= pad
    _put(band, _fit(text, right - x, style), x, baseline, style)
    return band


def _darken(image: np.ndarray, box: Box) -> None:
    """Halve the brightness inside ``box`` so white text stays readable on any scene."""
    region = image[max(0, box.y0) : max(0, box.y1), max(0, box.x0) : max(0, box.x1)]
    np.right_shift(region, 1, out=region)


def _text_width(text: str, style: Style) -> int:
    return cv2.getTextSize(text, FONT, style.font, style.thickness)[0][0]


def _fit(text: str, max_width: int, style: Style) -> str:
    """``text``, shortened with ``..`` until it is at most ``max_width`` pixels wide (possibly empty)."""
    if _text_width(text, style) <= max_width:
        return text
    while text and _text_width(text + "..", style) > max_width:
        text = text[:-1]
    return text + ".." if text else ""


def _put(image: np.ndarray, text: str, x: int, y: int, style: Style, color: tuple[int, int, int] = WHITE) -> None:
    cv2.putText(image, text, (x, y), FONT, style.font, color, style.thickness, cv2.LINE_AA)


def _draw_lines(frame: np.ndarray, style: Style, lines: list[str]) -> int:
    """The status lines, top left, on a darkened panel; returns the panel's right edge."""
    m, width = style.margin, frame.shape[1]
    panel_width = min(width - 2 * m, max(_text_width(line, style) for line in lines) + 2 * m)
    _darken(frame, Box(m, m, m + panel_width, m + style.line * len(lines) + m))
    for row, line in enumerate(lines):
        _put(frame, _fit(line, panel_width - 2 * m, style), 2 * m, m + style.line * (row + 1) - style.line // 4, style)
    return m + panel_width


def _draw_bars(frame: np.ndarray, style: Style, probabilities: np.ndarray, names: dict[int, str], left: int) -> None:
    """Top-5 next-action probabilities as horizontal bars, top right: name, bar, percentage.

    Left out on a frame too narrow to hold them right of ``left`` (the status panel's edge).
    """
    m, width = style.margin, frame.shape[1]
    top = np.argsort(-probabilities, kind="stable")[:TOP_K]
    panel = Box(width - m - round(0.4 * width), m, width - m, m + style.line * len(top) + m)
    if panel.x0 < left + m or panel.x1 - panel.x0 < 4 * m:
        return
    _darken(frame, panel)
    name_width = round(0.38 * (panel.x1 - panel.x0))
    value_width = _text_width("100%", style) + m
    bar_x0, bar_x1 = panel.x0 + m + name_width, panel.x1 - m - value_width
    for row, class_id in enumerate(top):
        p = float(probabilities[class_id])
        y = m + style.line * (row + 1)
        _put(frame, _fit(names[int(class_id)], name_width - m, style), panel.x0 + m, y - style.line // 4, style)
        length = round(max(0, bar_x1 - bar_x0) * min(max(p, 0.0), 1.0))
        if length > 0:
            bar_top = y - style.line + max(2, style.line // 5)
            cv2.rectangle(frame, (bar_x0, bar_top), (bar_x0 + length - 1, y - max(2, style.line // 5)),
                          class_color(int(class_id)), cv2.FILLED)  # fmt: skip
        _put(frame, f"{p:.0%}", bar_x1 + m // 2, y - style.line // 4, style)


def _draw_future(frame: np.ndarray, style: Style, result: Anticipation) -> None:
    """The predicted future segments from now (left) to the horizon (right), labelled where the label fits."""
    height, width = frame.shape[:2]
    box = future_strip_box(height, width)
    span = box.x1 - box.x0
    if span <= 0 or result.horizon_s <= 0:
        return
    _darken(frame, Box(0, box.y0 - style.margin, width, height))
    cv2.rectangle(frame, (box.x0, box.y0), (box.x1 - 1, box.y1 - 1), (64, 64, 64), cv2.FILLED)
    for segment in result.future:
        start = min(max(segment.start_offset_s / result.horizon_s, 0.0), 1.0)
        end = min(max((segment.start_offset_s + segment.duration_s) / result.horizon_s, 0.0), 1.0)
        x0, x1 = box.x0 + round(start * span), box.x0 + round(end * span)
        if x1 <= x0:
            continue
        fill = class_color(segment.class_id)
        cv2.rectangle(frame, (x0, box.y0), (x1 - 1, box.y1 - 1), fill, cv2.FILLED)
        if _text_width(segment.label, style) + 4 <= x1 - x0:
            ink = (0, 0, 0) if sum(fill) > 380 else WHITE
            _put(frame, segment.label, x0 + 2, box.y1 - (box.y1 - box.y0) // 4, style, ink)
    caption_y = box.y1 + style.line - style.line // 4
    _put(frame, "now", box.x0, caption_y, style)
    end_label = f"+{result.horizon_s:g} s"
    _put(frame, end_label, box.x1 - _text_width(end_label, style), caption_y, style)
