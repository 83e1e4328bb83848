"""Comic and storyboard studio core: project files, presets, engines, layout and export (no UI)."""

from storyboard.errors import StoryboardError

__version__ = "0.1.0"

__all__ = ["StoryboardError", "__version__"]
