"""Character encoding for StoryMaker (issue 6, item 2) on tiny random-weight models in the real formats."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here may reach the network
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import cv2
import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from storyboard.engines import CharacterRef
from storyboard.engines.storymaker.encoding import (
    CharacterEncoder,
    align_face,
    character_crop,
)
from storyboard.engines.storymaker.crops import mask_box
from storyboard.errors import EngineError, EngineUnavailable
from tests.tiny_models.clip import build_tiny_clip, to_transformers
from tests.tiny_models.face import build_tiny_buffalo, face_image, no_face_image, person_mask

pytestmark = pytest.mark.filterwarnings("ignore:`estimate` is deprecated:FutureWarning")  # inside insightface

FACE = (132, 48, 120)  # x, y, side of the face square in the default 384 x 384 test photo
FACE_BOX = (132.0, 48.0, 252.0, 168.0)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {"face": build_tiny_buffalo(root), "clip": build_tiny_clip(root)}


@pytest.fixture(scope="module")
def encoder(models: dict[str, Path]) -> CharacterEncoder:
    """One encoder without a disk cache, shared by the tests that only look at results."""
    return CharacterEncoder(models["face"], models["clip"])


@pytest.fixture(scope="module")
def cast(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("cast")
    files = {
        "mia": folder / "mia.png",
        "mia_mask": folder / "mia_mask.png",
        "outfit": folder / "coat.png",
        "leo": folder / "leo.jpg",
        "nobody": folder / "nobody.png",
        "corrupt": folder / "broken.png",
    }
    face_image(seed=1).save(files["mia"])
    person_mask().save(files["mia_mask"])
    Image.new("RGB", (200, 300), (40, 160, 60)).save(files["outfit"])
    face_image(seed=2).save(files["leo"], quality=95)
    no_face_image(seed=1).save(files["nobody"])
    files["corrupt"].write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 20)
    return files


def ref(path: Path, name: str = "Mia", **kwargs) -> CharacterRef:
    return CharacterRef(id=name.lower(), name=name, color="#e4572e", reference=path, **kwargs)


# -- the tiny face models are real insightface models ---------------------------------------------------------


def test_tiny_buffalo_loads_through_insightface_face_analysis(models: dict[str, Path]) -> None:
    from insightface.app import FaceAnalysis
    from insightface.model_zoo.arcface_onnx import ArcFaceONNX
    from insightface.model_zoo.scrfd import SCRFD

    app = FaceAnalysis(name=str(models["face"] / "models" / "buffalo_l"), root=str(models["face"]),
                       allowed_modules=["detection", "recognition"], providers=["CPUExecutionProvider"])
    app.prepare(ctx_id=-1, det_size=(640, 640))
    assert isinstance(app.models["detection"], SCRFD) and app.models["detection"].use_kps
    assert isinstance(app.models["recognition"], ArcFaceONNX)
    bgr = np.asarray(face_image())[:, :, ::-1].copy()
    faces = app.get(bgr)
    assert len(faces) == 1
    np.testing.assert_allclose(faces[0].bbox, FACE_BOX, atol=1.0)
    assert faces[0].kps.shape == (5, 2) and faces[0].embedding.shape == (512,)
    assert app.get(np.asarray(no_face_image())[:, :, ::-1].copy()) == []
    # The detector looks for a colour in RGB order: the same photo handed over as RGB instead of BGR has no face.
    assert app.get(np.asarray(face_image()).copy()) == []


# -- what an encoding holds ----------------------------------------------------------------------------------


def test_encode_with_mask(encoder: CharacterEncoder, cast: dict[str, Path]) -> None:
    enc = encoder.encode(ref(cast["mia"], mask=cast["mia_mask"]))
    assert enc.identity.shape == (512,) and enc.identity.dtype == np.float32
    assert np.linalg.norm(enc.identity) == pytest.approx(1.0, abs=1e-5)
    assert enc.face_tokens.shape == enc.character_tokens.shape == (257, 32)
    assert enc.face_tokens.dtype == enc.character_tokens.dtype == np.float32
    np.testing.assert_allclose(enc.face_box, FACE_BOX, atol=1.0)
    assert enc.warnings == ()
    photo = Image.open(cast["mia"]).convert("RGB")
    crop = character_crop(photo, Image.open(cast["mia_mask"]))
    np.testing.assert_allclose(enc.character_tokens, encoder.clip_tokens([crop])[0], atol=1e-5)
    assert not np.allclose(enc.character_tokens, enc.face_tokens, atol=1e-2)
    assert not enc.identity.flags.writeable


def test_character_crop_is_the_masks_box_on_white(cast: dict[str, Path]) -> None:
    """The released pipeline's crop: mask bounding box, 5 x 5 blurred mask, white outside, 224 x 224."""
    photo = np.asarray(Image.open(cast["mia"]).convert("RGB"))
    mask = np.asarray(Image.open(cast["mia_mask"]).convert("L"))
    ys, xs = np.nonzero(mask)
    box = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    alpha = cv2.GaussianBlur(mask[box], (5, 5), 0)[:, :, None] / 255.0
    expected = np.asarray(Image.fromarray((255 * (1 - alpha) + alpha * photo[box]).astype(np.uint8)).resize((224, 224)))
    ours = np.asarray(character_crop(Image.fromarray(photo), Image.fromarray(mask)))
    assert ours.shape == (224, 224, 3)
    np.testing.assert_array_equal(ours, expected)
    # background far from the person is white, the person is not
    assert (ours[5, 5] == 255).all() and (ours[200, 112] != 255).any()


def reference_box(mask_rgb: np.ndarray) -> tuple[int, int, int, int]:
    """The released pipeline's box: the bounding rectangles of the external contours of the first channel."""
    contours, _ = cv2.findContours(np.ascontiguousarray(mask_rgb[:, :, 0]), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    rects = [cv2.boundingRect(c) for c in contours]
    return (min(x for x, _, _, _ in rects), min(y for _, y, _, _ in rects), max(x + w for x, _, w, _ in rects),
            max(y + h for _, y, _, h in rects))


def soft_mask() -> np.ndarray:
    """A person-shaped mask drawn at 4x and scaled down, then feathered: anti-aliased, soft-edged (0-255)."""
    big = person_mask((384 * 4, 384 * 4), (132 * 4, 48 * 4, 120 * 4)).resize((384, 384), Image.Resampling.BOX)
    return np.asarray(big.filter(ImageFilter.GaussianBlur(4)))


def test_the_crop_box_of_a_soft_mask_is_the_references_and_ignores_isolated_noise(cast: dict[str, Path]) -> None:
    """Issue 15 item 4: every non-zero pixel of the mask is boxed, as in the reference; specks apart from the
    character (compression noise) are not."""
    mask = soft_mask()
    rgb = np.repeat(mask[:, :, None], 3, axis=2)
    expected = reference_box(rgb)
    assert mask_box(mask) == expected
    ys, xs = np.nonzero(mask >= 128)
    assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) != expected, "the old threshold at 128 boxed less"
    # the crop is the reference's: that box of the photo, white outside the blurred mask
    photo = np.asarray(Image.open(cast["mia"]).convert("RGB"))
    x0, y0, x1, y1 = expected
    alpha = cv2.GaussianBlur(rgb[y0:y1, x0:x1], (5, 5), 0) / 255.0
    reference = np.asarray(Image.fromarray((255 * (1 - alpha) + alpha * photo[y0:y1, x0:x1]).astype(np.uint8))
                           .resize((224, 224)))
    np.testing.assert_array_equal(np.asarray(character_crop(Image.fromarray(photo), Image.fromarray(mask))), reference)
    # isolated faint specks (JPEG noise in the background) would widen the reference's box, not ours
    noisy = mask.copy()
    for x, y, value in ((3, 3, 4), (380, 10, 9), (10, 370, 2), (378, 381, 14)):
        noisy[y, x] = value
    assert reference_box(np.repeat(noisy[:, :, None], 3, axis=2))[:3] == (3, 3, 381)
    assert mask_box(noisy) == expected
    # a JPEG-saved mask: the box keeps the soft edge, give or take the compression's own 8-px blocks
    buffer = io.BytesIO()
    Image.fromarray(mask).save(buffer, format="JPEG", quality=70)
    jpeg = np.asarray(Image.open(buffer).convert("L"))
    assert max(abs(a - b) for a, b in zip(mask_box(jpeg), expected)) <= 8
    assert mask_box(np.zeros((8, 8), np.uint8)) is None


def test_encode_without_mask_uses_the_whole_photo_and_says_so(encoder: CharacterEncoder, cast: dict[str, Path]) -> None:
    enc = encoder.encode(ref(cast["mia"]))
    assert any("no mask" in w.lower() and "whole photo" in w for w in enc.warnings)
    whole = Image.open(cast["mia"]).convert("RGB").resize((224, 224), Image.BICUBIC)
    np.testing.assert_allclose(enc.character_tokens, encoder.clip_tokens([whole])[0], atol=1e-5)
    with_mask = encoder.encode(ref(cast["mia"], mask=cast["mia_mask"]))
    np.testing.assert_array_equal(enc.identity, with_mask.identity)
    np.testing.assert_array_equal(enc.face_tokens, with_mask.face_tokens)
    assert not np.allclose(enc.character_tokens, with_mask.character_tokens, atol=1e-2)


def test_outfit_replaces_the_character_crop(encoder: CharacterEncoder, cast: dict[str, Path]) -> None:
    enc = encoder.encode(ref(cast["mia"], mask=cast["mia_mask"], outfit=cast["outfit"]))
    outfit = Image.open(cast["outfit"]).convert("RGB").resize((224, 224), Image.BICUBIC)
    np.testing.assert_allclose(enc.character_tokens, encoder.clip_tokens([outfit])[0], atol=1e-5)
    plain = encoder.encode(ref(cast["mia"], mask=cast["mia_mask"]))
    assert not np.allclose(enc.character_tokens, plain.character_tokens, atol=1e-2)
    np.testing.assert_array_equal(enc.identity, plain.identity)


def test_face_only_mode_zeroes_the_character_tokens(encoder: CharacterEncoder, cast: dict[str, Path]) -> None:
    enc = encoder.encode(ref(cast["mia"], mask=cast["mia_mask"]), face_only=True)
    assert enc.character_tokens.shape == (257, 32) and not enc.character_tokens.any()
    full = encoder.encode(ref(cast["mia"], mask=cast["mia_mask"]))
    np.testing.assert_allclose(enc.face_tokens, full.face_tokens, atol=1e-5)
    np.testing.assert_array_equal(enc.identity, full.identity)


def test_different_people_have_different_identities(encoder: CharacterEncoder, cast: dict[str, Path]) -> None:
    mia = encoder.encode(ref(cast["mia"]))
    leo = encoder.encode(ref(cast["leo"], "Leo"))
    assert float(mia.identity @ leo.identity) < 0.999
    assert not np.allclose(mia.face_tokens, leo.face_tokens, atol=1e-3)


def test_the_largest_face_is_used(encoder: CharacterEncoder, tmp_path: Path) -> None:
    path = tmp_path / "two.png"
    face_image((512, 256), (380, 60, 80), extra_faces=((30, 40, 110),)).save(path)
    enc = encoder.encode(ref(path))
    np.testing.assert_allclose(enc.face_box, (30, 40, 140, 150), atol=2.0)
    assert any("2 faces" in w for w in enc.warnings)


def test_a_small_face_is_used_with_advice(encoder: CharacterEncoder, tmp_path: Path) -> None:
    path = tmp_path / "small.png"
    face_image((192, 192), (60, 20, 60)).save(path)
    enc = encoder.encode(ref(path))
    np.testing.assert_allclose(enc.face_box, (60, 20, 120, 80), atol=1.0)
    assert any("only 60 px" in w and "at least 100 px" in w for w in enc.warnings)


def test_exif_rotation_is_honoured(encoder: CharacterEncoder, tmp_path: Path) -> None:
    upright = face_image(seed=1)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = tmp_path / "phone.jpg"
    upright.rotate(90, expand=True).save(path, quality=95, exif=exif)
    enc = encoder.encode(ref(path))
    np.testing.assert_allclose(enc.face_box, FACE_BOX, atol=2.0)


def test_automatic_mask_hook(models: dict[str, Path], cast: dict[str, Path]) -> None:
    class Segmenter:
        name = "test-segmenter-1"

        def __init__(self) -> None:
            self.calls = 0

        def __call__(self, photo: Image.Image) -> Image.Image:
            self.calls += 1
            return person_mask(photo.size)

    segmenter = Segmenter()
    auto = CharacterEncoder(models["face"], models["clip"], mask_maker=segmenter)
    enc = auto.encode(ref(cast["mia"]))
    assert segmenter.calls == 1 and any("test-segmenter-1" in w for w in enc.warnings)
    explicit = auto.encode(ref(cast["mia"], mask=cast["mia_mask"]))
    assert segmenter.calls == 1  # a mask file wins over the segmenter
    np.testing.assert_allclose(enc.character_tokens, explicit.character_tokens, atol=1e-5)


def test_mask_of_another_size(encoder: CharacterEncoder, cast: dict[str, Path], tmp_path: Path) -> None:
    half = tmp_path / "half.png"
    person_mask().resize((192, 192), Image.NEAREST).save(half)
    enc = encoder.encode(ref(cast["mia"], mask=half))
    assert any("resized" in w for w in enc.warnings)
    wrong = tmp_path / "wrong.png"
    Image.new("L", (100, 300), 255).save(wrong)
    with pytest.raises(EngineError, match=r"Mia.*wrong\.png.*same size"):
        encoder.encode(ref(cast["mia"], mask=wrong))
    empty = tmp_path / "empty.png"
    Image.new("L", (384, 384), 0).save(empty)
    with pytest.raises(EngineError, match=r"mask of Mia .*empty\.png.* is empty"):
        encoder.encode(ref(cast["mia"], mask=empty))


# -- bad input ---------------------------------------------------------------------------------------------


def test_no_face_names_the_character_and_file(encoder: CharacterEncoder, cast: dict[str, Path]) -> None:
    with pytest.raises(EngineError, match=r"No face found in the reference photo of Nobody \(.*nobody\.png\).*front-facing"):
        encoder.encode(ref(cast["nobody"], "Nobody"))


def test_corrupt_or_missing_images_are_named(encoder: CharacterEncoder, cast: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(EngineError, match=r"Could not read the reference photo of Mia \(.*broken\.png\).*PNG or JPEG"):
        encoder.encode(ref(cast["corrupt"]))
    with pytest.raises(EngineError, match=r"Could not read the mask of Mia \(.*broken\.png\)"):
        encoder.encode(ref(cast["mia"], mask=cast["corrupt"]))
    with pytest.raises(EngineError, match=r"reference photo of Mia was not found: .*gone\.png"):
        encoder.encode(ref(tmp_path / "gone.png"))


def test_missing_or_damaged_face_models_are_reported(models: dict[str, Path], cast: dict[str, Path], tmp_path: Path) -> None:
    face = tmp_path / "insightface"
    shutil.copytree(models["face"], face)
    (face / "models" / "buffalo_l" / "w600k_r50.onnx").unlink()
    with pytest.raises(EngineUnavailable, match=r"missing from .*buffalo_l: w600k_r50\.onnx\..*non-commercial research"):
        CharacterEncoder(face, models["clip"])
    with pytest.raises(EngineUnavailable, match=r"det_10g\.onnx, w600k_r50\.onnx"):
        CharacterEncoder(tmp_path / "nowhere", models["clip"])
    shutil.copy(models["face"] / "models" / "buffalo_l" / "w600k_r50.onnx", face / "models" / "buffalo_l")
    (face / "models" / "buffalo_l" / "det_10g.onnx").write_bytes(b"not an onnx model")
    damaged = CharacterEncoder(face / "models" / "buffalo_l", models["clip"])  # the pack folder itself works too
    with pytest.raises(EngineUnavailable, match=r"face models in .*buffalo_l could not be loaded"):
        damaged.encode(ref(cast["mia"]))


def test_missing_or_broken_clip_is_reported(models: dict[str, Path], tmp_path: Path) -> None:
    clip = tmp_path / "clip"
    clip.mkdir()
    shutil.copy(models["clip"] / "open_clip_config.json", clip)
    with pytest.raises(EngineUnavailable, match=r"CLIP .* missing .*open_clip_model\.safetensors or"):
        CharacterEncoder(models["face"], clip)
    (clip / "open_clip_model.safetensors").write_bytes(b"garbage")
    broken = CharacterEncoder(models["face"], clip)
    with pytest.raises(EngineUnavailable, match=r"could not be loaded"):
        broken.clip_tokens([Image.new("RGB", (224, 224))])


# -- cache ---------------------------------------------------------------------------------------------------


def test_cache_in_memory_and_on_disk(models: dict[str, Path], cast: dict[str, Path], tmp_path: Path) -> None:
    cache = tmp_path / ".cache" / "encodings"
    character = ref(cast["mia"], mask=cast["mia_mask"])
    first = CharacterEncoder(models["face"], models["clip"], cache_dir=cache)
    enc = first.encode(character)
    assert first.calls == 1
    assert first.encode(character) is enc and first.calls == 1
    assert len(list(cache.glob("*.safetensors"))) == 1

    second = CharacterEncoder(models["face"], models["clip"], cache_dir=cache)
    again = second.encode(character)
    assert second.calls == 0 and second._face_app is None and second._visual is None  # no model even loaded
    np.testing.assert_array_equal(again.identity, enc.identity)
    np.testing.assert_array_equal(again.face_tokens, enc.face_tokens)
    np.testing.assert_array_equal(again.character_tokens, enc.character_tokens)
    assert again.face_box == enc.face_box and again.warnings == enc.warnings

    second.encode(character, face_only=True)  # another mode is another encoding
    assert second.calls == 1

    other_project = tmp_path / "other" / ".cache" / "encodings"
    second.cache_dir = other_project  # the engine points its encoder at each project's cache in turn
    assert second.encode(character) is again and second.calls == 1
    assert len(list(other_project.glob("*.safetensors"))) == 1  # the project gets its own copy


def test_cache_follows_the_photo(models: dict[str, Path], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    photo = tmp_path / "mia.png"
    face_image(seed=1).save(photo)
    encoder = CharacterEncoder(models["face"], models["clip"], cache_dir=cache)
    before = encoder.encode(ref(photo))
    face_image(seed=5).save(photo)  # same path, new picture
    after = encoder.encode(ref(photo))
    assert encoder.calls == 2
    assert not np.allclose(before.identity, after.identity)
    # a damaged cache file is a miss, not an error
    for path in cache.glob("*.safetensors"):
        path.write_bytes(b"damaged")
    fresh = CharacterEncoder(models["face"], models["clip"], cache_dir=cache)
    np.testing.assert_allclose(fresh.encode(ref(photo)).identity, after.identity, atol=1e-6)
    assert fresh.calls == 1


# -- CLIP features are the released pipeline's -----------------------------------------------------------------


def test_clip_tokens_equal_transformers_hidden_states(models: dict[str, Path], encoder: CharacterEncoder,
                                                     cast: dict[str, Path]) -> None:
    """Face tokens equal CLIPVisionModelWithProjection(...).hidden_states[-2] on the released pipeline's face crop."""
    from insightface.app import FaceAnalysis
    from transformers import CLIPImageProcessor

    hf = to_transformers(models["clip"])
    processor = CLIPImageProcessor()  # the released pipeline's defaults: 224, bicubic, OpenAI mean/std
    rgb = np.asarray(Image.open(cast["mia"]).convert("RGB"))
    app = FaceAnalysis(name=str(models["face"] / "models" / "buffalo_l"), root=str(models["face"]),
                       allowed_modules=["detection", "recognition"], providers=["CPUExecutionProvider"])
    app.prepare(ctx_id=-1, det_size=(640, 640))
    face = app.get(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[0]
    from insightface.utils import face_align

    face_crop = face_align.norm_crop(rgb, landmark=face.kps, image_size=224)
    with torch.no_grad():
        pixels = processor(images=face_crop, return_tensors="pt").pixel_values
        hidden = hf(pixels, output_hidden_states=True).hidden_states
    enc = encoder.encode(ref(cast["mia"], mask=cast["mia_mask"]))
    np.testing.assert_allclose(enc.face_tokens, hidden[-2][0].numpy(), atol=1e-5, rtol=0)
    assert not np.allclose(enc.face_tokens, hidden[-1][0].numpy(), atol=1e-2)  # not the last block
    np.testing.assert_allclose(enc.identity, face.normed_embedding, atol=1e-6)
    # and the same for any 224 px picture (all the encoder feeds CLIP), through the public token function
    picture = face_image((224, 224), (60, 30, 70), seed=7)
    with torch.no_grad():
        expected = hf(processor(images=picture, return_tensors="pt").pixel_values,
                      output_hidden_states=True).hidden_states[-2][0].numpy()
    np.testing.assert_allclose(encoder.clip_tokens([picture])[0], expected, atol=1e-5, rtol=0)
    assert np.asarray(align_face(Image.fromarray(rgb), face.kps)).shape == (224, 224, 3)
