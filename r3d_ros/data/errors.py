"""What a dataset loader does with a bad file: stop, or skip the video and say so.

Public datasets arrive with the odd truncated video or missing folder. Every
loader takes ``on_error``: ``"raise"`` stops at the first bad file with a
:class:`DatasetError` naming it; ``"skip"`` drops the video the file belongs to
and records one line in ``VideoDataset.skipped``, so a few corrupt clips out of
thousands do not stop a run, and are never dropped silently either.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeVar

OnError = Literal["raise", "skip"]
T = TypeVar("T")


class DatasetError(ValueError):
    """A dataset file is missing, corrupt or inconsistent; the message names the file and what is wrong."""


class ErrorPolicy:
    """Runs per-video steps under ``on_error`` and keeps the lines of what was skipped."""

    def __init__(self, on_error: OnError) -> None:
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.on_error = on_error
        self.skipped: list[str] = []

    def attempt(self, video: str, step: Callable[..., T], *args: object) -> T | None:
        """``step(*args)``; on a DatasetError raise it, or (skip) record it against ``video`` and return None."""
        try:
            return step(*args)
        except DatasetError as error:
            if self.on_error == "raise":
                raise
            self.skipped.append(f"{video}: {error}")
            return None
