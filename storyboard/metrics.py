"""Consistency you can measure: Face Sim, CLIP-I and CLIP-T per take, drift flags and best-of-N.

The three metrics of the StoryMaker paper (Table 1), with the engine's own models:

- **Face Sim** (`face_sim`): cosine similarity of ArcFace identities (insightface `buffalo_l`,
  `normed_embedding`, 512-d) between a character's reference face (the largest face in the reference photo,
  as the engine uses) and the face matched to that character in the take. Faces are matched to the panel's
  characters by the optimal assignment of similarities: each character gets a different face (or none), and
  the total similarity is the largest possible. Position order is not used because nothing forces a model to
  place characters in skeleton order (the ControlNet is optional and can be ignored), so a correct face in the
  "wrong" place would score as a different person; and it is not "best face per character" either, because then
  two characters could claim the same face. A character with no face left to match scores 0.0 (the
  similarity of an unrelated face), so a take with no face at all scores 0.0 and is flagged, rather than being
  left out of averages. The take's `face_sim` is the mean over its characters. Range -1..1.
- **CLIP-I** (`clip_i`): cosine similarity of open_clip's final image embeddings (`encode_image`: pooled,
  after `ln_post` and the projection, L2-normalised; the model's own 224 px preprocessing: shorter side to 224,
  centre crop) between the character crop of the reference photo (mask's bounding box, background whitened,
  224 px, exactly as the engine makes it; the whole photo without a mask) and the whole take. Mean over the
  panel's characters. Range -1..1.
- **CLIP-T** (`clip_t`): the CLIP score of the take and its prompt: 100 x the cosine of the normalised image
  embedding and the normalised text embedding (`encode_text` of the panel prompt with cast names filled in,
  77 tokens, longer prompts cut by the tokenizer), not clamped at zero. On this scale the paper reports 21.75.

In Table 1 the paper prints Face Sim and CLIP-I as percentages (67.36, 79.51): `PAPER_SCALE` converts.
Panels without characters get only CLIP-T. Panels with two characters also keep each character's values
(`face_sim.<id>`, `clip_i.<id>`), so a drift flag can name who drifted; `faces` counts the faces found.

Takes of the draft engine are stick figures: there is no face or likeness to measure, so they are never scored
(`NotScorable`), rather than given meaningless numbers.

Scores live in `Take.scores` (story.yaml), which is the persistent cache; `Take.scored` is a digest of the take
file's bytes, the prompt, the characters' reference photos and masks, and the models, so a changed take file (or
photo, prompt, model) is measured again and an unchanged one never is. Show `metric_scores(take)` or
`format_scores(take)`: the raw tuple also holds per-character values and the face count.

torch, insightface and open_clip are imported only when a Scorer measures something.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from storyboard.engines import CharacterRef
from storyboard.errors import EngineError, EngineUnavailable, ProjectError
from storyboard.images import open_image
from storyboard.model import Panel, Project, Take
from storyboard.paths import resolve_inside

log = logging.getLogger(__name__)

from storyboard.scores import METRICS_VERSION, FACE_SIM, CLIP_I, CLIP_T, FACES, MAX_FACES, NotScorable, metric_scores, unscorable_reason


# ---------------------------------------------------------------- measuring


@dataclass(frozen=True)
class Measurement:
    """The metrics of one image: per character (in the panel's order) and for the whole take."""

    face_sim: tuple[float, ...]  # per character; 0.0 where no face was left to match
    clip_i: tuple[float, ...]  # per character
    clip_t: float
    faces: int  # faces found in the image
    boxes: tuple[tuple[float, float, float, float] | None, ...] = ()  # per character: its face, fractions of the image

    def face_boxes(self, character_ids: Sequence[str]) -> tuple[tuple[str, tuple[float, float, float, float]], ...]:
        """The entries for Take.faces: each character's matched face (x, y, w, h as fractions of the image)."""
        return tuple((cid, box) for cid, box in zip(character_ids, self.boxes) if box is not None)

    def scores(self, character_ids: Sequence[str]) -> tuple[tuple[str, float], ...]:
        """The entries for Take.scores (without the digest)."""
        out: list[tuple[str, float]] = []
        if character_ids:
            out += [(FACE_SIM, sum(self.face_sim) / len(self.face_sim)), (CLIP_I, sum(self.clip_i) / len(self.clip_i))]
        out.append((CLIP_T, self.clip_t))
        if character_ids:
            out.append((FACES, float(self.faces)))
        if len(character_ids) > 1:
            out += [(f"{FACE_SIM}.{cid}", v) for cid, v in zip(character_ids, self.face_sim)]
            out += [(f"{CLIP_I}.{cid}", v) for cid, v in zip(character_ids, self.clip_i)]
        return tuple(out)


def match_faces(similarity: Sequence[Sequence[float]]) -> list[int | None]:
    """For each character (row), its face (column) in the optimal assignment: distinct faces, as many characters
    matched as there are faces, and of those the largest total similarity; None for a character left without a face.
    Exhaustive (at most 4 characters, model.MAX_CHARACTERS_PER_PANEL, and MAX_FACES faces: at most 11,880
    candidates, a few ms); ties go to the first found."""
    rows = len(similarity)
    cols = len(similarity[0]) if rows else 0
    best_key: tuple[int, float] | None = None
    best: tuple[int | None, ...] = (None,) * rows
    for choice in itertools.permutations(list(range(cols)) + [None] * rows, rows):
        key = (sum(c is not None for c in choice), sum(similarity[r][c] for r, c in enumerate(choice) if c is not None))
        if best_key is None or key > best_key:
            best_key, best = key, choice
    return list(best)


REFERENCE_CACHE = "references"  # <project>/.cache/references/: what the metrics found in each reference photo


class Scorer:
    """Measures takes with a CharacterEncoder's models (the engine's own, when it is loaded).

    `measured` counts the images actually measured (not answered from the cache). What a reference photo gives (its
    ArcFace identity, its crop's CLIP embedding) is found once per photo content: kept in memory and, for takes of a
    project, in `<project>/.cache/references/`, so a story's reference faces are detected once, not per take or run."""

    def __init__(self, encoder: Any):
        self.encoder = encoder
        self.measured = 0
        self._identities: dict[str, Any] = {}  # reference digest -> ArcFace embedding
        self._crops: dict[str, Any] = {}  # reference + mask digest -> CLIP image embedding
        self._texts: dict[str, Any] = {}  # prompt -> CLIP text embedding

    @classmethod
    def from_models(cls, models_dir: Path | None, device: str | None = None) -> Scorer:
        """A scorer with only the face and CLIP models (no SDXL), from a models folder or the usual places."""
        face_dir, clip_dir = metric_model_dirs(models_dir)
        try:
            from storyboard.engines.storymaker.encoding import CharacterEncoder
            from storyboard.engines.storymaker.engine import pick_device
        except ImportError as exc:
            raise EngineUnavailable(f"Scoring needs torch, insightface and open_clip ({exc}); install the project's "
                                    "dependencies.") from exc
        device, dtype = pick_device(device)
        return cls(CharacterEncoder(face_dir, clip_dir, device=device, dtype=dtype))

    @property
    def model_id(self) -> str:
        return str(getattr(self.encoder, "model_id", ""))

    # -- one image ---------------------------------------------------------------------------------------------

    def measure(self, image: Image.Image, characters: Sequence[CharacterRef], prompt: str,
                cache_dir: Path | None = None) -> Measurement:
        """The metrics of `image` for these characters (in the panel's order) and this prompt; `cache_dir` (a
        project's .cache folder) keeps what the reference photos give across runs."""
        import numpy as np

        image = image.convert("RGB")
        self.measured += 1
        faces = self.encoder.detect_faces(image)[:MAX_FACES] if characters else []
        face_sim: list[float] = []
        clip_i: list[float] = []
        boxes: list[tuple[float, float, float, float] | None] = [None] * len(characters)
        if characters:
            identities = np.stack([self.reference_identity(c, cache_dir) for c in characters])
            if faces:
                similarity = identities @ np.stack([f.embedding for f in faces]).T
                matched = match_faces(similarity.tolist())
                face_sim = [float(similarity[r, c]) if c is not None else 0.0 for r, c in enumerate(matched)]
                boxes = [_relative_box(faces[c].box, image.size) if c is not None else None for c in matched]
            else:
                face_sim = [0.0] * len(characters)
        image_embedding = self.encoder.image_embeddings([image])[0]
        for character in characters:
            clip_i.append(float(np.dot(image_embedding, self._crop_embedding(character, cache_dir))))
        clip_t = 100.0 * float(np.dot(image_embedding, self._text_embedding(prompt)))
        return Measurement(tuple(face_sim), tuple(clip_i), clip_t, len(faces), tuple(boxes))

    def reference_identity(self, character: CharacterRef, cache_dir: Path | None = None) -> Any:
        """The ArcFace identity of the largest face in the character's reference photo (EngineError if none).

        Detected once per photo content (and models): from memory, else from `cache_dir`, else found now."""
        if character.reference is None:
            raise EngineError(f"{character.name} has no reference photo, so Face Sim cannot be measured. Add a photo "
                              f"of {character.name} in the Cast tab.")
        key = self._reference_key("identity", _file_digest(character.reference))
        if key not in self._identities:
            identity = _read_vector(cache_dir, key)
            if identity is None:
                photo = _open_image(character.reference, f"the reference photo of {character.name}")
                faces = self.encoder.detect_faces(photo)
                if not faces:
                    raise EngineError(
                        f"No face found in the reference photo of {character.name} ({character.reference}), so Face Sim "
                        "cannot be measured. Use a clear, front-facing photo in which the face is at least about 100 px tall."
                    )
                identity = faces[0].embedding  # the largest face, as the engine uses
                _write_vector(cache_dir, key, identity)
            self._identities[key] = identity
        return self._identities[key]

    def _crop_embedding(self, character: CharacterRef, cache_dir: Path | None = None) -> Any:
        key = self._reference_key("crop", _file_digest(character.reference), _file_digest(character.mask) if character.mask else "-")
        if key not in self._crops:
            embedding = _read_vector(cache_dir, key)
            if embedding is None:
                embedding = self.encoder.image_embeddings([self.encoder.reference_crop(character)])[0]
                _write_vector(cache_dir, key, embedding)
            self._crops[key] = embedding
        return self._crops[key]

    def _reference_key(self, kind: str, *digests: str) -> str:
        """The cache key of what `kind` of measurement gives for these file contents, with these models."""
        data = json.dumps([METRICS_VERSION, self.model_id, kind, *digests])
        return f"{kind}-" + hashlib.sha256(data.encode()).hexdigest()[:32]

    def _text_embedding(self, prompt: str) -> Any:
        if prompt not in self._texts:
            self._texts[prompt] = self.encoder.text_embeddings([prompt])[0]
        return self._texts[prompt]

    # -- takes of a project --------------------------------------------------------------------------------------

    def take_digest(self, root: Path, project: Project, panel: Panel, take: Take) -> str:
        """What the take's scores depend on (kept in the take as `scored`)."""
        return take_digest(root, project, panel, take, self.model_id)

    def score_take(self, root: Path, project: Project, panel: Panel, take: Take, force: bool = False) -> Take:
        """The take with its scores: the stored ones when its digest still matches, else measured now.

        Raises NotScorable for draft takes, ProjectError for a missing or unreadable take file."""
        reason = unscorable_reason(take)
        if reason:
            raise NotScorable(f"Panel {panel.id!r}: take {take.file} is not scored: {reason}. Render with "
                              "--engine storymaker to get takes that can be measured.")
        root = Path(root)
        digest = self.take_digest(root, project, panel, take)
        found = dict(take.scores).get(FACES, 0.0) > 0
        if not force and take.scored == digest and metric_scores(take) and (take.faces or not found):
            return take  # (takes scored before faces were kept are measured once more, for their face boxes)
        image = _open_image(resolve_inside(root, take.file), f"panel {panel.id!r}: the take {take.file}")
        characters = character_refs(root, project, panel)
        measurement = self.measure(image, characters, panel_prompt(project, panel), cache_dir=root / ".cache")
        ids = [c.id for c in characters]
        return dataclasses.replace(take, scores=measurement.scores(ids), scored=digest, faces=measurement.face_boxes(ids))

    def __call__(self, root: Path, project: Project, panel: Panel, take: Take) -> Take:
        """The render hook (storyboard.render): score a take just rendered."""
        return self.score_take(root, project, panel, take)


def _relative_box(box: Sequence[float], size: tuple[int, int]) -> tuple[float, float, float, float]:
    """A face box (x0, y0, x1, y1 in pixels) as (x, y, w, h) fractions of the image, clipped to it."""
    w, h = size
    x0, y0 = min(max(box[0] / w, 0.0), 1.0), min(max(box[1] / h, 0.0), 1.0)
    x1, y1 = min(max(box[2] / w, 0.0), 1.0), min(max(box[3] / h, 0.0), 1.0)
    return x0, y0, max(x1 - x0, 1e-4), max(y1 - y0, 1e-4)


@dataclass(frozen=True)
class ScoreReport:
    """What score_project did: takes measured, answered from story.yaml, and not scorable (with why)."""

    measured: tuple[tuple[str, str], ...] = ()  # (panel id, take file)
    cached: tuple[tuple[str, str], ...] = ()
    skipped: tuple[tuple[str, str, str], ...] = ()  # (panel id, take file, reason)


def score_project(root: Path, project: Project, scorer: Scorer, panel_ids: Iterable[str] | None = None,
                  force: bool = False, on_take: Callable[[Panel, Take, str], None] | None = None) -> tuple[Project, ScoreReport]:
    """Score every take of the project (or of `panel_ids`) that has no current scores; records the scores into
    the current story once per panel that changed (storyboard.render.record_scores), so edits made while it
    measures are kept. `on_take(panel, take, status)` gets 'measured', 'cached' or 'skipped'."""
    from storyboard.render import record_scores
    from storyboard.storyfile import load_project

    root = Path(root)
    wanted = list(panel_ids) if panel_ids is not None else [p.id for p in project.panels]
    known = {p.id for p in project.panels}
    unknown = [pid for pid in wanted if pid not in known]
    if unknown:
        raise ProjectError(f"No panel with id {', '.join(map(repr, unknown))} in {root}; panels are: {', '.join(known) or 'none'}.")
    measured: list[tuple[str, str]] = []
    cached: list[tuple[str, str]] = []
    skipped: list[tuple[str, str, str]] = []
    for pid in wanted:
        panel = project.panel(pid)
        takes = list(panel.takes)
        for index, take in enumerate(takes):
            reason = unscorable_reason(take)
            if reason:
                skipped.append((pid, take.file, reason))
                _emit(on_take, panel, take, "skipped")
                continue
            if not resolve_inside(root, take.file).is_file():
                skipped.append((pid, take.file, "the file is missing"))
                _emit(on_take, panel, take, "skipped")
                continue
            before = scorer.measured
            scored = scorer.score_take(root, project, panel, take, force=force)
            status = "measured" if scorer.measured > before else "cached"
            (measured if status == "measured" else cached).append((pid, take.file))
            takes[index] = scored
            _emit(on_take, panel, scored, status)
        if tuple(takes) != panel.takes:
            record_scores(root, pid, [t for t, before in zip(takes, panel.takes) if t != before])
    return load_project(root), ScoreReport(tuple(measured), tuple(cached), tuple(skipped))


def _emit(callback: Callable[[Panel, Take, str], None] | None, panel: Panel, take: Take, status: str) -> None:
    if callback is not None:
        callback(panel, take, status)


# ---------------------------------------------------------------- helpers


def panel_prompt(project: Project, panel: Panel) -> str:
    """The text CLIP-T compares with: the panel prompt with cast names filled in (no style template)."""
    from storyboard.render import fill_prompt

    return fill_prompt(panel.prompt, project)


def character_refs(root: Path, project: Project, panel: Panel) -> tuple[CharacterRef, ...]:
    """The panel's characters with absolute paths, in the panel's order."""
    refs = []
    for cid in panel.characters:
        c = project.character(cid)
        refs.append(CharacterRef(id=c.id, name=c.name, color=c.color, description=c.description,
                                 reference=resolve_inside(root, c.reference) if c.reference else None,
                                 mask=resolve_inside(root, c.mask) if c.mask else None))
    return tuple(refs)


def take_digest(root: Path, project: Project, panel: Panel, take: Take, model_id: str = "") -> str:
    """A digest of the take file, prompt, reference photos and masks and models."""
    root = Path(root)
    data = {
        "version": METRICS_VERSION,
        "take": _file_digest(resolve_inside(root, take.file)),
        "prompt": panel_prompt(project, panel),
        "characters": [(c.id, _file_digest(c.reference), _file_digest(c.mask) if c.mask else None)
                       for c in character_refs(root, project, panel)],
        "models": model_id,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _read_vector(cache_dir: Path | None, key: str) -> Any:
    """A vector kept by _write_vector, or None (no cache folder, not there yet, or damaged: then found again)."""
    import numpy as np

    if cache_dir is None:
        return None
    path = Path(cache_dir) / REFERENCE_CACHE / f"{key}.npy"
    if not path.is_file():
        return None
    try:
        vector = np.load(path, allow_pickle=False)
        if vector.ndim != 1 or vector.dtype != np.float32 or not np.isfinite(vector).all():
            raise ValueError(f"a {vector.dtype} array of shape {vector.shape}")
    except (OSError, ValueError) as exc:
        log.warning("Ignoring the damaged reference cache file %s: %s", path, exc)
        return None
    vector.setflags(write=False)
    return vector


def _write_vector(cache_dir: Path | None, key: str, vector: Any) -> None:
    """Keep a float32 vector as `<cache_dir>/references/<key>.npy` (atomically; a read-only project only loses speed)."""
    import numpy as np

    if cache_dir is None:
        return
    folder = Path(cache_dir) / REFERENCE_CACHE
    tmp: str | None = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{key}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.save(f, np.asarray(vector, dtype=np.float32), allow_pickle=False)
        os.replace(tmp, folder / f"{key}.npy")
    except OSError as exc:
        log.warning("Could not write the reference cache in %s: %s", folder, exc)
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _file_digest(path: Path | None) -> str:
    from storyboard.render import file_digest

    return file_digest(Path(path)) if path is not None else "none"


def _open_image(path: Path, what: str) -> Image.Image:
    """`what` ("panel 'p1': the take renders/p1/1.png") as RGB; ProjectError names it and says what to do."""
    return open_image(path, f"cannot score {what}: {path}", error=ProjectError,
                      advice="Render it again, or fix the path in story.yaml, then score again.")


def metric_model_dirs(models_dir: Path | None) -> tuple[Path, Path]:
    """(insightface folder, open_clip folder) for the metrics: from `models_dir`, else the local caches.

    Nothing is downloaded; EngineUnavailable says what is missing and how to get it."""
    from storyboard.engines.storymaker.models import model_sources

    src = model_sources()
    if models_dir is not None:
        root = Path(models_dir)
        face = root / src["face"]["local"]
        clip = root / src["clip"]["local"]
        missing = []
        if not any(face.glob("*.onnx")):
            missing.append(f"{face}/ (the insightface {src['face']['name']} pack's .onnx files; licensed for "
                           "non-commercial research only)")
        if not (clip / "open_clip_config.json").is_file():
            missing.append(f"{clip}/ (open_clip_config.json + weights: `huggingface-cli download {src['clip']['hub']} "
                           f"--local-dir {clip}`)")
        if missing:
            raise EngineUnavailable(f"Scoring needs the face and CLIP models, and the models folder {root} is missing "
                                    f"{len(missing)}:\n  - " + "\n  - ".join(missing))
        return face.parent.parent, clip
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError
    except ImportError as exc:
        raise EngineUnavailable("huggingface_hub is not installed; install the project's dependencies.") from exc
    try:
        clip = Path(snapshot_download(src["clip"]["hub"], local_files_only=True,
                                      allow_patterns=["open_clip_config.json", "open_clip_model.safetensors"]))
    except LocalEntryNotFoundError:
        raise EngineUnavailable(
            f"Scoring needs the CLIP model {src['clip']['hub']} and the insightface {src['face']['name']} pack, and "
            f"CLIP is not in the Hugging Face cache. Point '--models DIR' (or $STORYBOARD_MODELS) at a models folder "
            "(see README.md), or run '--engine storymaker' once on a machine with internet to download the models."
        ) from None
    face_root = Path.home() / ".insightface"
    if not any((face_root / "models" / src["face"]["name"]).glob("*.onnx")):
        raise EngineUnavailable(
            f"Scoring needs the insightface {src['face']['name']} pack in {face_root / 'models' / src['face']['name']} "
            "(licensed for non-commercial research only: download buffalo_l.zip from the insightface releases and "
            "unpack it there), or '--models DIR' pointing at a models folder (see README.md)."
        )
    return face_root, clip


def scorer_for_engine(engine: Any) -> Scorer | None:
    """A scorer sharing a loaded StoryMaker engine's models; None for engines whose takes cannot be scored."""
    encoder = getattr(engine, "encoder", None)
    return Scorer(encoder) if encoder is not None else None
