"""Score names, drift thresholds and reading scores stored with a take: no models, cheap to import.

storyboard.metrics measures the scores; everything that only reads, compares or shows them lives here,
so rendering and export can use them without importing the measuring side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from storyboard.errors import StoryboardError
from storyboard.model import Take

METRICS_VERSION = 1  # part of the digest: bump when a definition changes, and every take is measured again
FACE_SIM, CLIP_I, CLIP_T = "face_sim", "clip_i", "clip_t"
FACES = "faces"
MAX_FACES = 8  # the largest faces of a take considered for matching (crowds: background faces do not matter)
UNSCORED_ENGINES = {"draft": "draft takes are stick figures: there is no face or likeness to measure"}


@dataclass(frozen=True)
class Metric:
    """One consistency metric: its name in Take.scores, its label, what it means, and the paper's scale."""

    name: str
    label: str
    help: str
    paper_scale: float  # multiply a stored value by this to compare with the paper's Table 1
    decimals: int


METRICS: dict[str, Metric] = {
    FACE_SIM: Metric(FACE_SIM, "Face Sim", "ArcFace cosine between the reference face and the matched face in the take "
                     "(1 = same embedding, about 0.3-0.4 and below: likely another person)", 100.0, 2),
    CLIP_I: Metric(CLIP_I, "CLIP-I", "CLIP image cosine between the reference character crop and the take "
                   "(face, hair, clothes and body together)", 100.0, 2),
    CLIP_T: Metric(CLIP_T, "CLIP-T", "CLIP score: 100 x cosine between the take and its prompt (how well the "
                   "picture follows the text)", 1.0, 1),
}
SCORE_NAMES = tuple(METRICS)
PAPER_TABLE1 = {FACE_SIM: 67.36, CLIP_T: 21.75, CLIP_I: 79.51}  # StoryMaker's row, 40 characters x 20 prompts x 4


class NotScorable(StoryboardError):
    """A take that metrics cannot measure meaningfully (a draft take)."""


# ---------------------------------------------------------------- drift thresholds (settings)


@dataclass(frozen=True)
class Threshold:
    """A drift threshold: a take whose metric is below `default` is flagged. One table drives CLI, UI and docs."""

    metric: str
    default: float
    help: str
    low: float
    high: float

    @property
    def flag(self) -> str:
        return "--min-" + self.metric.replace("_", "-")


DRIFT_THRESHOLDS: tuple[Threshold, ...] = (
    Threshold(FACE_SIM, 0.40, "flag a character whose Face Sim is below this: ArcFace (buffalo_l) verification "
              "usually accepts the same person from about 0.3-0.4; StoryMaker averages 0.67 in the paper", -1.0, 1.0),
    Threshold(CLIP_I, 0.65, "flag a character whose CLIP-I is below this: hair, clothes or body changed; "
              "StoryMaker averages 0.80 in the paper", -1.0, 1.0),
    Threshold(CLIP_T, 18.0, "flag a take whose CLIP-T is below this: the picture drifted from its prompt; "
              "StoryMaker averages 21.75 in the paper", -100.0, 100.0),
)


def make_thresholds(overrides: Mapping[str, float | None] | None = None) -> dict[str, float]:
    """The drift thresholds: defaults from DRIFT_THRESHOLDS, with checked overrides (None keeps the default)."""
    table = {t.metric: t for t in DRIFT_THRESHOLDS}
    values = {t.metric: t.default for t in DRIFT_THRESHOLDS}
    for name, value in (overrides or {}).items():
        if name not in table:
            raise StoryboardError(f"Unknown drift threshold {name!r}; thresholds are: {', '.join(table)}.")
        if value is None:
            continue
        threshold = table[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not threshold.low <= value <= threshold.high:
            raise StoryboardError(f"The {METRICS[name].label} threshold must be a number from {threshold.low:g} to "
                                  f"{threshold.high:g} ({threshold.help}), got {value!r}.")
        values[name] = float(value)
    return values


@dataclass(frozen=True)
class DriftFlag:
    """One metric of a take below its threshold, for one character (or the take as a whole)."""

    metric: str
    value: float
    threshold: float
    character: str | None = None  # cast id; None for the take (CLIP-T, or a one-character panel)
    no_face: bool = False

    @property
    def message(self) -> str:
        metric = METRICS[self.metric]
        who = f"{self.character}: " if self.character else ""
        if self.no_face:
            return f"{who}no matching face found ({metric.label} {self.value:.{metric.decimals}f})"
        what = "drifted from the prompt" if self.metric == CLIP_T else "drifted"
        return f"{who}{what}: {metric.label} {self.value:.{metric.decimals}f} < {self.threshold:g}"


def drift_flags(take: Take, thresholds: Mapping[str, float] | None = None,
                characters: Sequence[str] = ()) -> list[DriftFlag]:
    """The take's metrics below their thresholds; per character when the take has per-character values.

    `characters` are the panel's cast ids (to name the character of a one-character panel)."""
    limits = make_thresholds(thresholds)
    scores = dict(take.scores)
    faces = scores.get(FACES)
    flags: list[DriftFlag] = []
    for metric in (FACE_SIM, CLIP_I):
        per_character = {name.split(".", 1)[1]: value for name, value in scores.items() if name.startswith(metric + ".")}
        if not per_character and metric in scores:
            per_character = {characters[0] if len(characters) == 1 else None: scores[metric]}  # type: ignore[dict-item]
        for who, value in per_character.items():
            if value < limits[metric]:
                no_face = metric == FACE_SIM and (faces == 0 or value == 0.0)
                flags.append(DriftFlag(metric, value, limits[metric], who, no_face))
    if CLIP_T in scores and scores[CLIP_T] < limits[CLIP_T]:
        flags.append(DriftFlag(CLIP_T, scores[CLIP_T], limits[CLIP_T]))
    return flags


# ---------------------------------------------------------------- reading scores


def metric_scores(take: Take) -> dict[str, float]:
    """The take's headline metrics (face_sim, clip_i, clip_t) that it has, in that order."""
    scores = dict(take.scores)
    return {name: scores[name] for name in SCORE_NAMES if name in scores}


def unscorable_reason(take: Take) -> str | None:
    """Why the take cannot be scored (a draft take), or None."""
    return UNSCORED_ENGINES.get(take.engine or "")


def format_scores(take: Take, thresholds: Mapping[str, float] | None = None, characters: Sequence[str] = (),
                  flags: bool = True) -> str:
    """One line for logs, galleries and the PDF appendix: 'Face Sim 0.71 · CLIP-I 0.80 · CLIP-T 24.3', then any
    drift flags (unless `flags` is False); says so when the take is not scored, or cannot be."""
    reason = unscorable_reason(take)
    if reason:
        return f"not scored ({reason})"
    values = metric_scores(take)
    if not values:
        return "not scored yet (python -m storyboard score PROJECT)"
    text = " · ".join(f"{METRICS[n].label} {v:.{METRICS[n].decimals}f}" for n, v in values.items())
    found = drift_flags(take, thresholds, characters) if flags else []
    if found:
        text += "  DRIFT: " + "; ".join(f.message for f in found)
    return text


def best_index(takes: Sequence[Take], score: str = FACE_SIM) -> int | None:
    """Index of the take with the highest `score` (the first on ties); None when no take has that score."""
    if score not in METRICS:
        raise StoryboardError(f"Unknown score {score!r}; choose one of: {', '.join(METRICS)}.")
    best: int | None = None
    for index, take in enumerate(takes):
        value = take.score(score)
        if value is not None and (best is None or value > takes[best].score(score)):  # type: ignore[operator]
            best = index
    return best


def pick_best(takes: Sequence[Take], score: str = FACE_SIM) -> Take | None:
    """The take with the highest `score`; None when no take has it."""
    index = best_index(takes, score)
    return None if index is None else takes[index]
