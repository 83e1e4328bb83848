"""Reliability catalogue, story.yaml and the store (issue 11 items 1, 2, 6): hostile or careless story files.

Every row: the CLI or the studio refuses with a message that names the thing and what to do, and leaves
the project as it was. See tests/reliability.py for the harness.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import REPO, STORY
from reliability import Case, cli, run_case
from storyboard import studio
from storyboard.errors import ProjectError, StoryboardError
from storyboard.settings import load_settings

# 408 bytes that expand to 9**9 (387 million) strings: took 322 s and 8.6 GB to load before issue 11
ALIAS_BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for prev, name in zip([None, *"abcdefgh"], "abcdefghi")
)


def story_text(text: str):
    def setup(root: Path) -> None:
        (root / "story.yaml").write_text(text, encoding="utf-8")

    setup.__name__ = "story_text"
    return setup


def replaced(old: str, new: str):
    assert old in STORY, old
    return story_text(STORY.replace(old, new))


def appended(text: str):
    return story_text(STORY + text)


def nested(depth: int) -> str:
    return "schema: 1\ntitle: Deep\ncast: " + "[" * depth + "]" * depth + "\n"


def nothing(root: Path) -> None:
    return None


def studio_call(fn, *args, **kwargs):
    def act(root: Path, _: object) -> object:
        return fn(root, *args, **kwargs)

    act.__name__ = fn.__name__
    return act


def fifo_story(root: Path) -> None:
    (root / "story.yaml").unlink()
    os.mkfifo(root / "story.yaml")


def folder_story(root: Path) -> None:
    (root / "story.yaml").unlink()
    (root / "story.yaml").mkdir()


def huge_story(root: Path) -> None:
    padding = "\n".join(f"# {'x' * 200}" for _ in range(6000))  # about 1.2 MB of comments
    (root / "story.yaml").write_text(STORY + padding, encoding="utf-8")


CASES = [
    Case("alias bomb (validate)", story_text(ALIAS_BOMB), cli("validate", "{root}"), 2, says=("alias",),
         advice="write the value out"),
    Case("alias bomb (render)", story_text(ALIAS_BOMB), cli("render", "{root}", "--engine", "draft"), 2, says=("alias",),
         advice="write the value out"),
    Case("alias inside a real story", replaced("    duration: 2.5\n", "    duration: &d 2.5\n    seed_locked: *d\n"),
         cli("validate", "{root}"), 2, says=("alias",), advice="write the value out"),
    Case("merge key", replaced("title: Test Story\n", "title: Test Story\n<<: {author: Somebody}\n"),
         cli("validate", "{root}"), 2, says=("merge keys", "line 3"), advice="write the keys out"),
    Case("second panels: key", appended("panels:\n  - id: p9\n    prompt: lost\n"), cli("validate", "{root}"), 2,
         says=("'panels'", "appears twice", "lines 17 and 41"), advice="merge them|remove one"),
    Case("duplicate key in a panel", replaced("    shot: wide\n", "    shot: wide\n    shot: full\n"),
         cli("validate", "{root}"), 2, says=("'shot'", "appears twice"), advice="remove one"),
    Case("id with a trailing newline", replaced("  - id: p3\n", '  - id: "p3\\n"\n'), cli("validate", "{root}"), 2,
         says=("panel id", "p3\\n"), advice="use 1-40 lowercase"),
    Case("cast id with a trailing newline", replaced("  - id: leo\n", '  - id: "leo\\n"\n'), cli("validate", "{root}"), 2,
         says=("cast member id",), advice="use 1-40 lowercase"),
    Case("duration NaN", replaced("duration: 2.5", "duration: .nan"), cli("render", "{root}", "--engine", "draft"), 2,
         says=("duration", "finite"), advice="finite number"),
    Case("duration infinite", replaced("duration: 2.5", "duration: .inf"), cli("validate", "{root}"), 2,
         says=("duration", "finite")),
    Case("score NaN", replaced("    seed: 99\n", "    seed: 99\n    takes: [{file: renders/x.png, scores: {face_sim: .nan}}]\n"),
         cli("validate", "{root}"), 2, says=("face_sim", "number")),
    Case("style override NaN", replaced("style: ink-comic\n", "style: ink-comic\nstyle_overrides: {guidance: .nan}\n"),
         cli("validate", "{root}"), 2, says=("guidance",)),
    Case("nesting 40 deep", story_text(nested(40)), cli("validate", "{root}"), 2, says=("nests",)),
    Case("nesting 5000 deep", story_text(nested(5000)), cli("validate", "{root}"), 2, says=("line 3",),
         advice="not valid YAML"),
    Case("python object tag", replaced("title: Test Story", "title: !!python/object/apply:os.system [echo hi]"),
         cli("validate", "{root}"), 2, says=("line 2",), advice="not valid YAML"),
    Case("not UTF-8", lambda root: (root / "story.yaml").write_bytes(STORY.encode("utf-16")), cli("validate", "{root}"), 2,
         says=("UTF-8",), advice="save it as UTF-8"),
    Case("story.yaml is a folder", folder_story, cli("validate", "{root}"), 2, says=("story.yaml", "not a regular file"),
         advice="Replace it"),
    Case("story.yaml is a FIFO", fifo_story, cli("render", "{root}", "--engine", "draft"), 2, says=("not a regular file",)),
    Case("story.yaml over the size limit", huge_story, cli("validate", "{root}"), 2, says=("MB",),
         advice="STORYBOARD_MAX_STORY_MB"),
    Case("validate names the story.yaml itself", nothing, cli("validate", "{root}/story.yaml"), 0, unchanged=True),
    Case("render names the story.yaml itself", nothing, cli("render", "{root}/story.yaml", "--panels", "p9"), 2,
         says=("p9",)),
    Case("studio: NaN duration", nothing, studio_call(studio.update_panel, "p1", duration=float("nan")), StoryboardError,
         says=("duration",), advice="positive number"),
    Case("studio: infinite duration", nothing, studio_call(studio.update_panel, "p1", duration=float("inf")),
         StoryboardError, says=("duration",), advice="positive number"),
    Case("studio: panel gone", nothing, studio_call(studio.add_balloon, "p42", "Hi", "mia"), ProjectError,
         says=("p42",), advice="pick a panel"),
]


@pytest.fixture(autouse=True)
def small_story_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORYBOARD_MAX_STORY_MB", "1")
    assert load_settings().max_story_mb == 1


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_story_catalogue(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_case(case, tmp_path, capsys)


def test_the_alias_bomb_is_refused_fast_and_small(tmp_path: Path) -> None:
    """In a child process limited to 1 GB and 20 s, so a regression fails instead of eating the machine."""
    story = tmp_path / "story.yaml"
    story.write_text(ALIAS_BOMB)
    assert len(ALIAS_BOMB.encode()) < 420
    code = textwrap.dedent("""
        import resource, sys, time
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from storyboard.errors import ProjectError
        from storyboard.storyfile import load_project

        def peak_mb():  # the high-water mark of resident memory (a forked child may start with its parent's)
            with open("/proc/self/status") as status:
                return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024

        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")  # reset the high-water mark
        started, base = time.perf_counter(), peak_mb()
        try:
            load_project(sys.argv[1])
        except ProjectError as exc:
            print(f"{time.perf_counter() - started:.3f} {peak_mb() - base:.0f}", exc)
    """)
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=20)
    seconds, peak_mb, message = done.stdout.split(" ", 2)
    assert "alias" in message, done.stdout + done.stderr
    assert float(seconds) < 1.0 and float(peak_mb) < 100, done.stdout
