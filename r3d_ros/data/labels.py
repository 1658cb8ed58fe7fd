"""Action label files: a timeline of (start, end, action) for one recording.

Format (CSV, one segment per line, ``#`` starts a comment)::

    start,end,action
    0.0,2.4,reach
    2.4,3.9,grasp

``start`` and ``end`` are seconds since the recording's first frame; segments
must not overlap. When the class list is known, an action not in it is an
error naming the file and line: a label is never silently mapped to a wrong class.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

UNLABELED = -1


class LabelFileError(ValueError):
    """A label file is missing, malformed, or names an unknown action."""


@dataclass(frozen=True)
class Segment:
    """One labelled interval, seconds since the recording's first frame."""

    start: float
    end: float
    action: str


def read_label_file(path: str | Path, class_names: Sequence[str] | None = None) -> list[Segment]:
    """Parse and validate a label file; ``class_names`` (if given) lists the allowed actions."""
    path = Path(path)
    if not path.is_file():
        raise LabelFileError(f"label file not found: {path}")
    lines = [line for line in path.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")]
    rows = list(csv.reader(lines))
    if not rows or [c.strip() for c in rows[0]] != ["start", "end", "action"]:
        raise LabelFileError(f"{path}: first line must be the header 'start,end,action'")
    segments = []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != 3:
            raise LabelFileError(f"{path}:{number}: expected 3 columns (start,end,action), got {len(row)}")
        try:
            start, end = float(row[0]), float(row[1])
        except ValueError:
            message = f"start and end must be numbers, got {row[0]!r}, {row[1]!r}"
            raise LabelFileError(f"{path}:{number}: {message}") from None
        action = row[2].strip()
        if not end > start >= 0:
            raise LabelFileError(f"{path}:{number}: need 0 <= start < end, got start={start}, end={end}")
        if class_names is not None and action not in class_names:
            raise LabelFileError(f"{path}:{number}: unknown action {action!r}; known: {', '.join(class_names)}")
        segments.append(Segment(start, end, action))
    segments.sort(key=lambda s: s.start)
    for before, after in itertools.pairwise(segments):
        if after.start < before.end - 1e-9:
            raise LabelFileError(f"{path}: segments {before} and {after} overlap")
    return segments


def write_label_file(path: str | Path, segments: Sequence[Segment]) -> None:
    """Write segments in the label file format."""
    lines = ["start,end,action"] + [f"{s.start:.6f},{s.end:.6f},{s.action}" for s in segments]
    Path(path).write_text("\n".join(lines) + "\n")


def frame_labels(times: np.ndarray, segments: Sequence[Segment], class_names: Sequence[str]) -> np.ndarray:
    """Class id of each frame time (seconds since the first frame); UNLABELED outside every segment."""
    index = {name: i for i, name in enumerate(class_names)}
    labels = np.full(len(times), UNLABELED, dtype=np.int64)
    for segment in segments:
        labels[(times >= segment.start) & (times < segment.end)] = index[segment.action]
    return labels
