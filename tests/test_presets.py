"""Style presets: every shipped one loads; each kind of mistake gets a clear message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from storyboard.errors import PresetError
from storyboard.presets import STYLES_DIR, DraftLook, list_styles, load_style, load_style_file, parse_style

GOOD = {
    "schema": 1,
    "name": "Test",
    "description": "d",
    "prompt": "{prompt}, ink",
    "negative": "photo",
    "lora": {"repo": "owner/name", "file": "w.safetensors", "weight": 0.8, "trigger": ["inkAF"], "license": "mit"},
    "sampler": {"scheduler": "unipc", "steps": 25, "guidance": 7.5, "ip_adapter_scale": 0.8, "lora_scale": 0.8},
}


def test_at_least_six_styles_ship_and_all_load() -> None:
    styles = list_styles()
    assert len(styles) >= 6
    assert "ink-comic" in styles  # the default style of new projects
    for style_id, style in styles.items():
        assert style.id == style_id and style.name and style.description
        assert "{prompt}" in style.prompt
        assert "cat on a roof" in style.apply("cat on a roof")


def test_shipped_loras_name_a_hub_file_and_licence() -> None:
    with_lora = [s for s in list_styles().values() if s.lora]
    assert with_lora, "at least one preset should use a style LoRA"
    for style in with_lora:
        assert style.lora.repo and "/" in style.lora.repo
        assert style.lora.file.endswith(".safetensors")
        assert style.lora.license, f"{style.id}: name the LoRA's licence"
        text = (STYLES_DIR / f"{style.id}.yaml").read_text()
        assert text.lstrip().startswith("#"), f"{style.id}: the licence comment belongs at the top of the file"


def test_apply_fills_the_template_and_adds_missing_trigger_words() -> None:
    style = parse_style(GOOD, "t", "t.yaml")
    assert style.apply("  a cat ") == "inkAF, a cat, ink"
    already = parse_style({**GOOD, "prompt": "inkAF style, {prompt}"}, "t", "t.yaml")
    assert already.apply("a cat") == "inkAF style, a cat"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"prompt": "no placeholder"}, "must contain {prompt}"),
        ({"colour": "red"}, "unknown key 'colour'"),
        ({"schema": 2}, "schema 2 is not supported"),
        ({"name": None}, "has no 'name'"),
        ({"lora": {"repo": "a/b"}}, "either 'repo' and 'file'"),
        ({"lora": {"path": "style.ckpt"}}, "must be a .safetensors file"),
        ({"lora": {"path": "s.safetensors", "weight": 5}}, "lora weight 5.0 is out of range"),
        ({"sampler": {"steps": 0}}, "steps 0 is out of range"),
        ({"sampler": {"scheduler": "magic"}}, "scheduler 'magic' is unknown"),
        ({"sampler": {"guidance": "high"}}, "'guidance' must be"),
        ({"sampler": {"steps": True}}, "'steps' must be"),
        ({"sampler": {"pose_scale": 3}}, "pose_scale 3.0 is out of range"),
        ({"sampler": {"pose_start": 0.6, "pose_end": 0.4}}, "pose_start (0.6) must come before pose_end (0.4)"),
        ({"sampler": {"identity_start": 0.95}}, "identity_start 0.95 is out of range; use 0.0 to 0.9"),
        ({"sampler": {"identity_start": 0.5, "identity_end": 0.5}}, "identity_start (0.5) must come before identity_end"),
        ({"draft": {"palette": "sepia"}}, "draft palette 'sepia' is unknown; use one of cast, grey, mono"),
        ({"draft": {"texture": "glitter"}}, "draft texture 'glitter' is unknown"),
        ({"draft": {"paper": "white"}}, "draft paper 'white' must be a colour like"),
        ({"draft": {"pixel": 100}}, "draft pixel 100 is out of range"),
        ({"draft": {"colors": 1}}, "draft colors 1 would leave a blank picture"),
        ({"draft": {"outline": "yes"}}, "'outline' must be true for a contrasting outline"),
        ({"draft": {"strokes": 1.5}}, "'strokes' must be strokes per line"),
        ({"draft": {"grain": 3}}, "unknown key 'grain' in draft"),
        ({"draft": "noir"}, "'draft' must be a mapping of how draft mode draws this style: palette, paper"),
    ],
)
def test_bad_presets_are_refused_with_a_clear_message(change: dict, message: str) -> None:
    data = {**GOOD, **change}
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(PresetError, match=re.escape(message)):
        parse_style(data, "bad", "bad.yaml")


def test_broken_yaml_and_unknown_style(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("schema: 1\nname: [oops\n")
    with pytest.raises(PresetError, match=r"broken.yaml, line \d+"):
        load_style_file(tmp_path / "broken.yaml")
    only = tmp_path / "only"
    only.mkdir()
    (only / "ok.yaml").write_text(yaml.safe_dump(GOOD))
    with pytest.raises(PresetError, match="Available styles: ok"):
        load_style("nope", only)


def test_every_shipped_style_describes_its_draft_look() -> None:
    """Issue 12 item 4: draft thumbnails show the style; the look is data in each preset, checked like the rest."""
    styles = list_styles()
    assert all(style.draft != DraftLook() for style in styles.values()), "each preset has a draft: mapping"
    assert styles["noir"].draft.palette == "mono" and styles["manga-screentone"].draft.texture == "screentone"
    assert styles["pixel-art"].draft.pixel > 0 and styles["cinematic-storyboard"].draft.letterbox > 0
    assert parse_style({k: v for k, v in GOOD.items()}, "plain", "plain.yaml").draft == DraftLook()
    look = parse_style({**GOOD, "draft": {"paper": "#FFFFFF", "line_weight": 2}}, "x", "x.yaml").draft
    assert look.paper == "#ffffff" and look.line_weight == 2.0 and isinstance(look.line_weight, float)


def test_the_fast_presets_name_real_files_their_licences_and_their_samplers(tmp_path: Path) -> None:
    """Issue 15 item 1: presets/fast.yaml names public step-distillation LoRAs for SDXL with licences, 4-8 steps."""
    from storyboard.presets import SCHEDULERS, list_fast, load_fast

    default, presets = list_fast()
    assert default == "lightning-8step" and load_fast() == presets[default]
    files = {p.id: (p.repo, p.file, p.license.split(" ")[0]) for p in presets.values()}
    assert files["lightning-8step"] == ("ByteDance/SDXL-Lightning", "sdxl_lightning_8step_lora.safetensors", "openrail++")
    assert files["hyper-8step-cfg"] == ("ByteDance/Hyper-SD", "Hyper-SDXL-8steps-CFG-lora.safetensors", "openrail++")
    assert files["dmd2-4step"][2] == "cc-by-nc-4.0"
    for preset in presets.values():
        assert 4 <= preset.steps <= 8 and preset.scheduler in SCHEDULERS and preset.license
    broken = tmp_path / "fast.yaml"
    broken.write_text(yaml.safe_dump({"schema": 1, "default": "x", "presets": {"x": {
        "name": "x", "repo": "a/b", "file": "x.ckpt", "scheduler": "lcm", "steps": 4, "guidance": 1}}}))
    with pytest.raises(PresetError, match="must be a .safetensors file"):
        list_fast(broken)
    broken.write_text(yaml.safe_dump({"schema": 1, "default": "y", "presets": {}}))
    with pytest.raises(PresetError, match="default fast preset 'y'"):
        list_fast(broken)
