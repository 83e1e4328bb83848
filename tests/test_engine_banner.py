"""The engine banner in the browser speaks to a web user (issue 12 item 6): what to install or where the models go, and
whom to ask; never the command line's flags, which stay in app.py's log (EngineHolder.status() as before)."""

from __future__ import annotations

from pathlib import Path

import pytest

from storyboard.engine_holder import EngineHolder
from test_studio import fake_loader

FLAGS = ("--engine", "--models", "python -m", "huggingface-cli", "`")


def holders(tmp_path: Path) -> dict[str, tuple[EngineHolder, tuple[str, ...]]]:
    """Each situation of the banner: (holder, what the web wording must say)."""
    no_gpu = EngineHolder("auto", tmp_path, loader=fake_loader([], "there is no GPU here; StoryMaker on the CPU takes "
                                                                   "minutes per panel (ask for it with '--engine storymaker')"))
    no_gpu._plan = ("storymaker", "")
    no_gpu.get()
    no_torch = EngineHolder("auto", tmp_path, loader=fake_loader([], "StoryMaker needs torch and diffusers (No module named "
                                                                     "'torch'); install the project's dependencies."))
    no_torch._plan = ("storymaker", "")
    no_torch.get()
    failed = EngineHolder("storymaker", tmp_path, loader=fake_loader([], "the storymaker/mask.bin adapter is missing"))
    failed._plan = ("storymaker", "")
    with pytest.raises(Exception):
        failed.get()
    return {
        "draft chosen": (EngineHolder("draft"), ("Draft mode", "restarted with StoryMaker", "ask them")),
        "auto, models folder missing": (EngineHolder("auto", tmp_path / "models"),
                                        ("Draft mode", f"put its models in {tmp_path / 'models'}", "restart the studio")),
        "storymaker, folder incomplete": (EngineHolder("storymaker", tmp_path),
                                          (f"put its models in {tmp_path}", "sdxl/", "restart the studio", "ask them")),
        "auto, no GPU": (no_gpu, ("Draft mode", "a machine with a GPU", "ask them")),
        "auto, no PyTorch": (no_torch, ("install PyTorch and diffusers", "restart the studio")),
        "storymaker failed to load": (failed, ("could not load", f"put its models in {tmp_path}",
                                               "press Load models to try again")),
    }


@pytest.mark.parametrize("case", ["draft chosen", "auto, models folder missing", "storymaker, folder incomplete",
                                  "auto, no GPU", "auto, no PyTorch", "storymaker failed to load"])
def test_the_banner_for_the_browser_says_what_to_do_without_flags(tmp_path: Path, case: str) -> None:
    holder, wanted = holders(tmp_path)[case]
    web = holder.status("web")
    assert all(text in web for text in wanted), web
    assert not any(flag in web for flag in FLAGS), web
    assert len(web) - len(str(tmp_path)) < 300, f"a banner, not a manual: {len(web)} characters"


def test_the_log_keeps_the_command_line_wording() -> None:
    assert "chosen with --engine draft" in EngineHolder("draft").status()
    assert EngineHolder("draft").status() == EngineHolder("draft").status("cli")
    with pytest.raises(ValueError, match="audience must be one of cli, web"):
        EngineHolder("draft").status("gui")
