"""Automatic masks: a human-parsing model in the models folder masks cast photos that have no mask."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers")
pytest.importorskip("insightface")

from PIL import Image  # noqa: E402

from storyboard.engines import CharacterRef  # noqa: E402
from storyboard.engines.storymaker.encoding import CharacterEncoder  # noqa: E402
from storyboard.engines.storymaker.segmentation import SegmentationMasker  # noqa: E402
from storyboard.errors import EngineError  # noqa: E402
from tiny_models.clip import build_tiny_clip  # noqa: E402
from tiny_models.face import build_tiny_buffalo, face_image  # noqa: E402
from tiny_models.segmentation import build_tiny_segmenter  # noqa: E402


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("seg")
    photo = root / "mia.png"
    face_image().save(photo)
    return {
        "face": build_tiny_buffalo(root), "clip": build_tiny_clip(root), "photo": photo,
        "person": build_tiny_segmenter(root / "person", "Person"),
        "nobody": build_tiny_segmenter(root / "nobody", "Background"),
    }


def test_the_mask_is_every_non_background_segment(parts: dict[str, Path]) -> None:
    photo = Image.open(parts["photo"])
    mask = SegmentationMasker(parts["person"])(photo)
    assert mask.mode == "L" and mask.size == photo.size and np.asarray(mask).min() == 255
    with pytest.raises(EngineError, match="found no person"):
        SegmentationMasker(parts["nobody"])(photo)
    with pytest.raises(EngineError, match="not a segmentation model folder"):
        SegmentationMasker(parts["photo"].parent / "missing")


def test_the_encoder_uses_it_for_cast_without_a_mask(parts: dict[str, Path]) -> None:
    mia = CharacterRef(id="mia", name="Mia", color="#e4572e", reference=parts["photo"])
    encoder = CharacterEncoder(parts["face"], parts["clip"], mask_maker=SegmentationMasker(parts["person"]))
    encoding = encoder.encode(mia)
    assert any("made automatically by segmentation:person" in w for w in encoding.warnings)
    failing = CharacterEncoder(parts["face"], parts["clip"], mask_maker=SegmentationMasker(parts["nobody"]))
    with pytest.raises(EngineError, match="automatic mask .* failed for Mia"):
        failing.encode(mia)


def test_the_models_folder_offers_it_when_present(parts: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    from storyboard.engines.storymaker.models import check_models_dir
    from tiny_models.folder import build_tiny_models_dir

    models = build_tiny_models_dir(tmp_path / "models", controlnet=False)
    assert check_models_dir(models).segmentation is None
    shutil.copytree(parts["person"], models / "segmentation")
    assert check_models_dir(models).segmentation == models / "segmentation"
    from storyboard.engines.storymaker.engine import StoryMakerEngine

    engine = StoryMakerEngine.create(models, device="cpu")
    assert engine.encoder.mask_maker is not None and engine.encoder.mask_maker.name.startswith("segmentation:segmentation")
