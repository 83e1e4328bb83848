"""The repository keeps its promises: README commands match CI, layout, import direction."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

from conftest import REPO


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)\n```", quick, re.S)


def test_quick_start_is_two_commands_and_ci_runs_the_test_one_verbatim() -> None:
    commands = readme_commands()
    assert len(commands) == 2 and all("\n" not in c for c in commands)
    start, test = commands
    assert start.endswith("app.py") and "pytest" in test
    ci = (REPO / ".ci" / "run").read_text()
    assert f"TEST_COMMAND='{test}'" in ci
    assert 'bash -c "$TEST_COMMAND"' in ci and '"$rc" -eq 5' in ci


def test_layout_and_dependencies() -> None:
    for name in ("storyboard", "ui", "assets", "presets", "tests", "app.py", "pyproject.toml", "README.md", "LICENSE",
                 ".ci/run", "requirements.txt"):
        assert (REPO / name).exists(), name
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = {"gradio", "torch", "torchvision", "diffusers", "transformers", "accelerate", "safetensors", "peft",
              "insightface", "onnxruntime", "open_clip_torch", "controlnet_aux", "reportlab", "pyyaml", "pillow",
              "numpy", "opencv-python-headless"}
    names = {re.split(r"[<>=!~ \[]", d, maxsplit=1)[0].lower() for d in project["dependencies"]}
    assert wanted <= names
    reqs = {re.split(r"[<>=!~ \[]", line, maxsplit=1)[0].lower() for line in (REPO / "requirements.txt").read_text().splitlines()
            if line and not line.startswith("#")}
    assert reqs == names, "requirements.txt (for a Space) and pyproject.toml list the same packages"
    assert "pytest" in " ".join(project["optional-dependencies"]["dev"])
    torch_spec = next(d for d in project["dependencies"] if d.startswith("torch>"))
    assert "2.14.1" not in torch_spec, "keep the torch range loose for CUDA users"


def test_storyboard_never_imports_gradio_or_heavy_ml_on_the_draft_path(tmp_path) -> None:
    code = (
        "import sys\n"
        "from storyboard.cli import main\n"
        f"main(['new', r'{tmp_path / 'p'}'])\n"
        f"main(['render', r'{tmp_path / 'p'}', '--engine', 'draft'])\n"
        "import storyboard.storyfile, storyboard.render, storyboard.engines.draft, storyboard.presets\n"
        "bad = [m for m in ('gradio', 'torch', 'diffusers', 'transformers', 'insightface', 'open_clip') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True, timeout=60)
    for path in (REPO / "storyboard").rglob("*.py"):
        assert not re.search(r"^\s*(import|from)\s+gradio", path.read_text(), re.M), f"{path} imports gradio"
