"""Step-blended identity, after Layout-and-Retouch: the first steps lay out the scene from the prompt alone, and
the characters join after a fraction of the steps (and may leave again before the end).

While the characters are out, StoryMaker's image tokens and its LoRA are off (ip_scale and lora_scale 0), which
is exactly what a panel without characters computes; while they are in, both act at the style's strengths. The
switch is made between steps through the pipeline's own `callback_on_step_end` by changing the
`cross_attention_kwargs` the pipeline hands the UNet every step; the denoising loop is diffusers' own. At the
defaults (0 and 1) nothing is ever changed: the released behaviour.
"""

from __future__ import annotations

from typing import Any


def identity_on(step: int, total: int, start: float, end: float) -> bool:
    """Whether the characters act at `step` (0-based) of `total` (diffusers' rule for control_guidance_start/end)."""
    return not (step / total < start or (step + 1) / total > end)


class IdentitySchedule:
    """Turns the characters' attention on and off per step in a pipeline's cross_attention_kwargs (`kwargs`)."""

    def __init__(self, kwargs: dict[str, Any], start: float = 0.0, end: float = 1.0) -> None:
        self.kwargs = kwargs
        self.start, self.end = start, end
        self.full = (kwargs.get("ip_scale", 0.0), kwargs.get("lora_scale", 0.0))
        self.steps_on: list[int] = []  # the steps the characters acted in (for tests and metadata)

    @property
    def blended(self) -> bool:
        """True when some steps run without the characters."""
        return self.start > 0.0 or self.end < 1.0

    def begin(self, total: int) -> None:
        """Set the kwargs for the first step (call before the pipeline)."""
        self.steps_on = []
        self._set(0, total)

    def after_step(self, pipe: Any, step: int) -> None:
        """Set the kwargs for the step after `step` (call from callback_on_step_end)."""
        total = getattr(pipe, "num_timesteps", None) or 0
        if total and step + 1 < total:
            self._set(step + 1, total)

    def _set(self, step: int, total: int) -> None:
        if not self.blended:
            self.steps_on.append(step)
            return
        on = identity_on(step, total, self.start, self.end)
        if on:
            self.steps_on.append(step)
        self.kwargs["ip_scale"], self.kwargs["lora_scale"] = self.full if on else (0.0, 0.0)
