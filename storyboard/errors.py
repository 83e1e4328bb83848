"""One error hierarchy for everything the user can fix; each message says what to do."""

from __future__ import annotations


class StoryboardError(Exception):
    """A problem the user can fix. The message names the thing and says what to do."""


class ProjectError(StoryboardError):
    """A project folder or story.yaml is missing, malformed or inconsistent."""


class ImageError(StoryboardError):
    """An image file cannot be used: missing, not an image, damaged, or too large to open safely.

    `reason` is the message without its subject, e.g. "is not an image this app can read", for callers
    that phrase the message their own way."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message


class PresetError(StoryboardError):
    """A style preset is missing or malformed."""


class PoseError(StoryboardError):
    """A pose file is missing or malformed."""


class EngineError(StoryboardError):
    """An engine cannot run (missing weights, missing GPU, bad request)."""


class EngineUnavailable(EngineError):
    """The requested engine cannot be used on this machine."""


class RenderCancelled(StoryboardError):
    """A render was cancelled by the user; nothing was written for the panel in flight."""


class ExportError(StoryboardError):
    """An export cannot be done as asked (bad option, unwritable output, unreadable take)."""
