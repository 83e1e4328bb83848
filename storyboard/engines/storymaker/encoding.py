"""Character encoding for StoryMaker: from a cast member's photo to the adapter's three inputs.

Per character (see ../shared/spec/STORYMAKER_NOTES.md, "Inputs per character"):

- identity: the ArcFace embedding (`normed_embedding`, 512-d) of the largest face that insightface's
  `buffalo_l` pack finds (detection + recognition only);
- face tokens: CLIP ViT-H/14 penultimate-block tokens, CLS first, before the final layer norm (257 x 1280),
  of the face aligned to 224 px with `insightface.utils.face_align.norm_crop`;
- character tokens: the same for the character crop (the mask's bounding box, outside the slightly blurred
  mask filled with white, stretched to 224 x 224 as the released pipeline does), or for the outfit image when
  one is given (clothing swap), or all zeros in face-only mode.

Encodings are cached by content hash (photo, mask and outfit bytes, mode, model files) in memory and, when a
cache folder is given, on disk as safetensors, so a story costs one encoding per character, not per panel.

Models come from local folders only; nothing here downloads. `face_dir` is the `insightface` folder holding
`models/buffalo_l/` (det_10g.onnx, w600k_r50.onnx, ...). The insightface model packs are licensed for
non-commercial research use only. `clip_dir` is an open_clip model folder (`open_clip_config.json` plus
`open_clip_model.safetensors` or `open_clip_pytorch_model.bin`), such as the files of
laion/CLIP-ViT-H-14-laion2B-s32B-b79K. Face detection runs on the CPU (once per character); CLIP on `device`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from PIL import Image

from storyboard.engines.base import CharacterRef
from storyboard.engines.storymaker.crops import CROP_PX, align_face, character_crop, fit_mask
from storyboard.engines.storymaker.encoder_files import (BUFFALO_HOWTO, CLIP_HOWTO, buffalo_dir, clip_weights,
                                                         model_fingerprint)
from storyboard.errors import EngineError, EngineUnavailable, ImageError
from storyboard.images import open_image

log = logging.getLogger(__name__)

ENCODING_VERSION = 3  # bump when the preprocessing changes: old cache entries are then ignored (2: storyboard.images,
# 3: the crop box holds every non-zero mask pixel, as the reference does)
DETECTION_SIZE = (640, 640)
MIN_FACE_PX = 100
MEMORY_ENTRIES = 64  # encodings kept in memory by one encoder


@dataclass(frozen=True, eq=False)
class CharacterEncoding:
    """What the adapter needs for one character. Arrays are float32 and read-only."""

    identity: np.ndarray  # (512,): ArcFace normed_embedding of the largest face
    face_tokens: np.ndarray  # (T, W): CLIP penultimate tokens incl. CLS of the aligned face; (257, 1280) for ViT-H/14
    character_tokens: np.ndarray  # (T, W): same for the character crop or outfit; zeros in face-only mode
    face_box: tuple[float, float, float, float]  # x0, y0, x1, y1 of the face, in pixels of the upright photo
    warnings: tuple[str, ...] = ()  # things the user may want to fix, e.g. no mask


@dataclass(frozen=True, eq=False)
class DetectedFace:
    """A face found in an image: its box and its ArcFace identity."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels
    embedding: np.ndarray  # (512,): ArcFace normed_embedding


class MaskMaker(Protocol):
    """The hook for automatic masks: a segmentation model that returns a person mask ("L") for a photo."""

    name: str  # names the model and its version: it is part of the cache key

    def __call__(self, photo: Image.Image) -> Image.Image: ...


class CharacterEncoder:
    """Turns CharacterRefs into CharacterEncodings; loads its models on first use, caches its results.

    `face_dir` is the `insightface` folder (holding `models/buffalo_l/`) or the `buffalo_l` folder itself;
    `clip_dir` an open_clip model folder. Missing files raise EngineUnavailable at once; the models load on
    the first encoding that is not cached. `cache_dir` (the engine passes `<project>/.cache/encodings/`) keeps
    encodings across runs; `mask_maker` makes masks for characters without one. `calls` counts the real
    (uncached) encodings done.
    """

    def __init__(
        self,
        face_dir: Path,
        clip_dir: Path,
        device: str = "cpu",
        dtype: torch.dtype = torch.float32,
        cache_dir: Path | None = None,
        mask_maker: MaskMaker | None = None,
    ) -> None:
        self.buffalo_dir = buffalo_dir(Path(face_dir))
        self.clip_dir = Path(clip_dir)
        self.clip_weights = clip_weights(self.clip_dir)
        self.device = device
        self.dtype = dtype
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.mask_maker = mask_maker
        self.calls = 0  # real (uncached) encodings done
        self.model_id = model_fingerprint(self.buffalo_dir, self.clip_dir, self.clip_weights)
        self._memory: OrderedDict[str, CharacterEncoding] = OrderedDict()  # least recently used first
        self._lock = threading.Lock()
        self._face_app: Any = None
        self._visual: Any = None
        self._preprocess: Any = None
        self._layer = -1  # index of the penultimate CLIP block, set when CLIP loads
        self._text_model: Any = None  # the CLIP text tower, loaded only for CLIP-T (storyboard.metrics)
        self._tokenizer: Any = None

    # -- public -------------------------------------------------------------------------------------------

    def encode(self, character: CharacterRef, face_only: bool = False) -> CharacterEncoding:
        """The encoding of one character: from the cache when its files and the models are unchanged."""
        with self._lock:
            # 1. Read the files (a missing one is named)
            reference = _read_bytes(character.reference, "reference photo", character)
            mask = _read_bytes(character.mask, "mask", character) if character.mask and not face_only else None
            outfit = _read_bytes(character.outfit, "outfit image", character) if character.outfit and not face_only else None
            # 2. Look in the caches
            key = self._cache_key(reference, mask, outfit, face_only)
            encoding = self._memory.get(key)
            if encoding is not None:
                if self.cache_dir is not None and not (self.cache_dir / f"{key}.safetensors").is_file():
                    self._write_disk(key, encoding)  # another project, or its cache was cleared
            else:
                encoding = self._read_disk(key)
            # 3. Encode what is in neither cache
            if encoding is None:
                encoding = self._encode(character, reference, mask, outfit, face_only)
                self.calls += 1
                self._write_disk(key, encoding)
            self._remember(key, encoding)
            return encoding

    def key(self, character: CharacterRef, face_only: bool = False) -> str:
        """The cache key of a character's encoding (its files' bytes, the mode, the models); reads the files."""
        reference = _read_bytes(character.reference, "reference photo", character)
        mask = _read_bytes(character.mask, "mask", character) if character.mask and not face_only else None
        outfit = _read_bytes(character.outfit, "outfit image", character) if character.outfit and not face_only else None
        return self._cache_key(reference, mask, outfit, face_only)

    def preload(self, encodings: Mapping[str, CharacterEncoding]) -> None:
        """Take encodings made elsewhere (by another worker of a cluster) into the memory cache, by key."""
        with self._lock:
            for key, encoding in encodings.items():
                self._remember(key, encoding)

    def clip_tokens(self, images: Sequence[Image.Image]) -> np.ndarray:
        """CLIP penultimate-block tokens, CLS first, before the final layer norm: (N, T, W) float32."""
        self._load_clip()
        batch = torch.stack([self._preprocess(image) for image in images]).to(self.device, self.dtype)
        with torch.inference_mode():
            out = self._visual.forward_intermediates(
                batch,
                indices=[self._layer],
                stop_early=True,
                output_fmt="NLC",
                output_extra_tokens=True,
                intermediates_only=True,
            )
            tokens = torch.cat([out["image_intermediates_prefix"][0], out["image_intermediates"][0]], dim=1)
        return tokens.float().cpu().numpy()

    # -- for the consistency metrics (storyboard.metrics): same models, final embeddings --------------------

    def reference_crop(self, character: CharacterRef) -> Image.Image:
        """The character crop of the reference photo (mask, automatic mask or whole photo), as encode makes it.

        An outfit image is not used: this is the character as photographed, what CLIP-I compares takes with."""
        reference = _read_bytes(character.reference, "reference photo", character)
        mask = _read_bytes(character.mask, "mask", character) if character.mask else None
        photo = _decode_image(reference, character.reference, "reference photo", character)
        return self._photo_crop(photo, mask, character, [])

    def detect_faces(self, image: Image.Image) -> list[DetectedFace]:
        """Every face insightface finds in an RGB image, largest first: box and ArcFace `normed_embedding`."""
        with self._lock:
            self._load_face()
            bgr = np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # scikit-image deprecations inside insightface
                faces = self._face_app.get(bgr)
        found = [
            DetectedFace(tuple(float(v) for v in f.bbox[:4]), np.asarray(f.normed_embedding, dtype=np.float32))  # type: ignore[arg-type]
            for f in faces
            if f.normed_embedding is not None
        ]
        return sorted(found, key=lambda f: -(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))

    def image_embeddings(self, images: Sequence[Image.Image]) -> np.ndarray:
        """CLIP's final image embeddings (encode_image: after ln_post and the projection), L2-normalised: (N, D)."""
        with self._lock:
            self._load_clip()
            batch = torch.stack([self._preprocess(image.convert("RGB")) for image in images]).to(self.device, self.dtype)
            with torch.inference_mode():
                embeddings = self._visual(batch).float()
        return torch.nn.functional.normalize(embeddings, dim=-1).cpu().numpy()

    def text_embeddings(self, texts: Sequence[str]) -> np.ndarray:
        """CLIP's final text embeddings (encode_text, 77 tokens, longer text cut), L2-normalised: (N, D).

        The text tower is loaded on first use only (rendering never needs it)."""
        with self._lock:
            self._load_clip_text()
            tokens = self._tokenizer(list(texts))
            vocabulary = getattr(getattr(self._text_model, "token_embedding", None), "num_embeddings", None)
            if vocabulary is not None and int(tokens.max()) >= vocabulary:
                raise EngineUnavailable(
                    f"The CLIP model in {self.clip_dir} has a text vocabulary of {vocabulary} tokens, smaller than its "
                    f"tokenizer's; CLIP-T needs the model's own text tower. " + CLIP_HOWTO
                )
            with torch.inference_mode():
                embeddings = self._text_model.encode_text(tokens.to(self.device)).float()
        return torch.nn.functional.normalize(embeddings, dim=-1).cpu().numpy()

    def _load_clip_text(self) -> None:
        if self._text_model is not None:
            return
        import open_clip  # noqa: PLC0415 - heavy, load on demand

        try:
            model = open_clip.create_model("local-dir:" + str(self.clip_dir))
            tokenizer = open_clip.get_tokenizer("local-dir:" + str(self.clip_dir))
        except Exception as exc:  # config and checkpoint errors come as several types
            raise EngineUnavailable(
                f"The CLIP text model in {self.clip_dir} could not be loaded ({type(exc).__name__}: {exc}). " + CLIP_HOWTO
            ) from exc
        model.visual = torch.nn.Identity()  # the image tower is already loaded once (self._visual)
        self._text_model = model.to(device=self.device, dtype=self.dtype).eval()
        self._tokenizer = tokenizer

    # -- encoding ------------------------------------------------------------------------------------------

    def _encode(
        self, character: CharacterRef, reference: bytes, mask: bytes | None, outfit: bytes | None, face_only: bool
    ) -> CharacterEncoding:
        notes: list[str] = []
        photo = _decode_image(reference, character.reference, "reference photo", character)

        # Face: identity and aligned crop
        face, count = self._largest_face(photo, character)
        x0, y0, x1, y1 = (float(v) for v in face.bbox[:4])
        if count > 1:
            notes.append(f"{count} faces in the photo of {character.name}; the largest is used.")
        if min(x1 - x0, y1 - y0) < MIN_FACE_PX:
            notes.append(
                f"The face in the photo of {character.name} is only {min(x1 - x0, y1 - y0):.0f} px; a photo whose face "
                f"is at least {MIN_FACE_PX} px gives a better likeness."
            )
        identity = np.asarray(face.normed_embedding, dtype=np.float32)
        face_crop = align_face(photo, np.asarray(face.kps, dtype=np.float32))

        # Character crop: outfit, mask, automatic mask, or the whole photo
        if face_only:
            crop = None
        elif outfit is not None:
            crop = _decode_image(outfit, character.outfit, "outfit image", character).resize((CROP_PX, CROP_PX), Image.BICUBIC)
        else:
            crop = self._photo_crop(photo, mask, character, notes)

        # CLIP tokens, both crops in one batch
        if crop is None:
            face_tokens = self.clip_tokens([face_crop])[0]
            character_tokens = np.zeros_like(face_tokens)
        else:
            face_tokens, character_tokens = self.clip_tokens([face_crop, crop])
        return _frozen(identity, face_tokens, character_tokens, (x0, y0, x1, y1), tuple(notes))

    def _photo_crop(self, photo: Image.Image, mask: bytes | None, character: CharacterRef, notes: list[str]) -> Image.Image:
        """The character crop of the photo: by its mask, an automatic mask, or the whole photo."""
        if mask is not None:
            mask_image = _decode_image(mask, character.mask, "mask", character, mode="mask")
            return character_crop(photo, fit_mask(mask_image, photo, character, notes), character)
        if self.mask_maker is not None:
            try:
                made = self.mask_maker(photo)
            except Exception as exc:  # a third-party model: say which one failed, for whom
                raise EngineError(
                    f"The automatic mask ({self.mask_maker.name}) failed for {character.name} ({character.reference}): "
                    f"{exc}. Add a mask image to the cast entry instead."
                ) from exc
            notes.append(f"No mask for {character.name}: one was made automatically by {self.mask_maker.name}.")
            return character_crop(photo, fit_mask(made, photo, character, notes), character)
        notes.append(f"No mask for {character.name}: the whole photo is used as the character crop.")
        return photo.resize((CROP_PX, CROP_PX), Image.BICUBIC)

    def _largest_face(self, photo: Image.Image, character: CharacterRef) -> tuple[Any, int]:
        self._load_face()
        bgr = np.ascontiguousarray(np.asarray(photo)[:, :, ::-1])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # scikit-image deprecations inside insightface
            faces = self._face_app.get(bgr)
        if not faces:
            raise EngineError(
                f"No face found in the reference photo of {character.name} ({character.reference}). Use a clear, "
                f"front-facing photo in which the face is at least about {MIN_FACE_PX} pixels tall."
            )
        largest = max(faces, key=lambda f: float(f.bbox[2] - f.bbox[0]) * float(f.bbox[3] - f.bbox[1]))
        if largest.normed_embedding is None:
            raise EngineUnavailable(f"The face models in {self.buffalo_dir} gave no identity embedding.")
        return largest, len(faces)

    # -- models --------------------------------------------------------------------------------------------

    def _load_face(self) -> None:
        if self._face_app is not None:
            return
        from insightface.app import FaceAnalysis  # noqa: PLC0415 - heavy, load on demand

        try:
            # An existing directory as `name` makes FaceAnalysis load it as it is and never download.
            app = FaceAnalysis(
                name=str(self.buffalo_dir.resolve()),
                root=str(self.buffalo_dir.parent.parent),
                allowed_modules=["detection", "recognition"],
                providers=["CPUExecutionProvider"],
            )
        except Exception as exc:  # onnx/onnxruntime raise many kinds for a damaged file
            raise EngineUnavailable(
                f"The face models in {self.buffalo_dir} could not be loaded ({type(exc).__name__}: {exc}). "
                + BUFFALO_HOWTO.format(folder=self.buffalo_dir)
            ) from exc
        if "recognition" not in app.models:
            raise EngineUnavailable(
                f"No face recognition model in {self.buffalo_dir}. " + BUFFALO_HOWTO.format(folder=self.buffalo_dir)
            )
        app.prepare(ctx_id=-1, det_size=DETECTION_SIZE)
        self._face_app = app

    def _load_clip(self) -> None:
        if self._visual is not None:
            return
        import open_clip  # noqa: PLC0415 - heavy, load on demand

        try:
            model, _, preprocess = open_clip.create_model_and_transforms("local-dir:" + str(self.clip_dir))
        except Exception as exc:  # config and checkpoint errors come as several types
            raise EngineUnavailable(
                f"The CLIP model in {self.clip_dir} could not be loaded ({type(exc).__name__}: {exc}). " + CLIP_HOWTO
            ) from exc
        visual = model.visual
        if not isinstance(visual, open_clip.transformer.VisionTransformer) or len(visual.transformer.resblocks) < 2:
            raise EngineUnavailable(f"The CLIP model in {self.clip_dir} is not a ViT with at least 2 blocks. " + CLIP_HOWTO)
        del model  # the text tower is not needed
        self._visual = visual.to(device=self.device, dtype=self.dtype).eval()
        self._preprocess = preprocess
        self._layer = len(visual.transformer.resblocks) - 2  # the penultimate block, hidden_states[-2]

    # -- cache ---------------------------------------------------------------------------------------------

    def _remember(self, key: str, encoding: CharacterEncoding) -> None:
        self._memory[key] = encoding
        self._memory.move_to_end(key)
        while len(self._memory) > MEMORY_ENTRIES:  # about 2.6 MB each for ViT-H/14
            self._memory.popitem(last=False)

    def _cache_key(self, reference: bytes, mask: bytes | None, outfit: bytes | None, face_only: bool) -> str:
        digest = hashlib.sha256()
        parts: list[tuple[str, bytes | None]] = [("reference", reference)]
        if not face_only:
            parts += [("mask", mask), ("outfit", outfit)]
            if mask is None and outfit is None and self.mask_maker is not None:
                parts.append(("mask_maker", self.mask_maker.name.encode()))
        header = {"version": ENCODING_VERSION, "models": self.model_id, "dtype": str(self.dtype), "face_only": face_only}
        digest.update(json.dumps(header, sort_keys=True).encode())
        for name, data in parts:
            digest.update(f"|{name}:{-1 if data is None else len(data)}|".encode())
            digest.update(data or b"")
        return digest.hexdigest()[:40]

    def _read_disk(self, key: str) -> CharacterEncoding | None:
        if self.cache_dir is None:
            return None
        path = self.cache_dir / f"{key}.safetensors"
        if not path.is_file():
            return None
        from safetensors import safe_open  # noqa: PLC0415

        try:
            with safe_open(str(path), framework="numpy") as f:
                meta = f.metadata() or {}
                arrays = {name: f.get_tensor(name) for name in ("identity", "face_tokens", "character_tokens")}
            box = tuple(float(v) for v in json.loads(meta["face_box"]))
            notes = tuple(str(n) for n in json.loads(meta["warnings"]))
            if arrays["identity"].ndim != 1 or arrays["face_tokens"].ndim != 2 or len(box) != 4:
                raise ValueError("unexpected shapes")
            if arrays["face_tokens"].shape != arrays["character_tokens"].shape:
                raise ValueError("token shapes differ")
        except Exception as exc:  # a damaged cache file is only a cache miss
            log.warning("Ignoring the damaged encoding cache file %s: %s", path, exc)
            return None
        return _frozen(arrays["identity"], arrays["face_tokens"], arrays["character_tokens"], box, notes)  # type: ignore[arg-type]

    def _write_disk(self, key: str, encoding: CharacterEncoding) -> None:
        if self.cache_dir is None:
            return
        from safetensors.numpy import save_file  # noqa: PLC0415

        tmp: str | None = None
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.cache_dir, prefix=f".{key}.", suffix=".tmp")
            os.close(fd)
            save_file(
                {
                    "identity": np.ascontiguousarray(encoding.identity),
                    "face_tokens": np.ascontiguousarray(encoding.face_tokens),
                    "character_tokens": np.ascontiguousarray(encoding.character_tokens),
                },
                tmp,
                metadata={
                    "face_box": json.dumps(list(encoding.face_box)),
                    "warnings": json.dumps(list(encoding.warnings)),
                    "encoding_version": str(ENCODING_VERSION),
                },
            )
            os.replace(tmp, self.cache_dir / f"{key}.safetensors")
        except OSError as exc:  # a read-only project still renders, only slower next time
            log.warning("Could not write the encoding cache in %s: %s", self.cache_dir, exc)
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)


# -- image helpers ------------------------------------------------------------------------------------------


def _read_bytes(path: Path | None, what: str, character: CharacterRef) -> bytes:
    try:
        return Path(path).read_bytes()  # type: ignore[arg-type]
    except FileNotFoundError:
        raise EngineError(f"The {what} of {character.name} was not found: {path}. Check the cast entry.") from None
    except OSError as exc:
        raise EngineError(f"Could not read the {what} of {character.name} ({path}): {exc}.") from exc


def _decode_image(data: bytes, path: Path | None, what: str, character: CharacterRef, mode: str = "RGB") -> Image.Image:
    """An upright image (EXIF rotation applied): "RGB" with transparency laid on white, or an L "mask"."""
    try:
        return open_image(path or what, f"the {what} of {character.name} ({path})", mode=mode, data=data)
    except ImageError as exc:
        raise EngineError(f"Could not read the {what} of {character.name} ({path}): it {exc.reason}. "
                          "Use a PNG or JPEG image, or replace the file in the cast.") from None


def _frozen(
    identity: np.ndarray,
    face_tokens: np.ndarray,
    character_tokens: np.ndarray,
    box: tuple[float, float, float, float],
    notes: tuple[str, ...],
) -> CharacterEncoding:
    arrays = [np.array(a, dtype=np.float32, copy=True) for a in (identity, face_tokens, character_tokens)]
    for array in arrays:
        array.setflags(write=False)
    return CharacterEncoding(arrays[0], arrays[1], arrays[2], box, notes)
