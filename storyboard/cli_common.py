"""What the command line's commands share: where the models are, the drift thresholds, a lazily built engine."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

MODELS_ENV = "STORYBOARD_MODELS"


def models_dir(args: argparse.Namespace) -> Path | None:
    """--models, else $STORYBOARD_MODELS, else None (the Hugging Face cache)."""
    return Path(args.models) if args.models else (Path(os.environ[MODELS_ENV]) if os.environ.get(MODELS_ENV) else None)


def thresholds(args: argparse.Namespace) -> dict[str, float]:
    """The drift thresholds, with the command's --min-... overrides."""
    from storyboard.scores import DRIFT_THRESHOLDS, make_thresholds

    return make_thresholds({t.metric: getattr(args, "min_" + t.metric, None) for t in DRIFT_THRESHOLDS})


class LazyEngine:
    """Builds the engine only when a panel needs rendering, so exporting rendered panels loads no model."""

    def __init__(self, build):
        self._build = build
        self._engine = None

    def __getattr__(self, name: str):
        if self._engine is None:
            self._engine = self._build()
        return getattr(self._engine, name)
