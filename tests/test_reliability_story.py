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


def symlinked_photo(root: Path) -> None:
    (root / "cast" / "leo.png").unlink()
    (root / "cast" / "leo.png").symlink_to("/etc/hostname")


def disk_full(act):
    """`act` run as on a full disk: opening any file under the test's folder for writing fails with ENOSPC."""
    import builtins
    import errno

    def run(root: Path, made: object) -> object:
        real_open, real_os_open = builtins.open, os.open
        base = str(root.parent)

        def refuse(path: object) -> None:
            if str(path).startswith(base):
                raise OSError(errno.ENOSPC, "No space left on device", str(path))

        def fake_open(file, mode="r", *args, **kwargs):
            if isinstance(file, (str, os.PathLike)) and any(m in mode for m in "wax+"):
                refuse(file)
            return real_open(file, mode, *args, **kwargs)

        def fake_os_open(path, flags, *args, **kwargs):
            if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and not str(path).endswith(".story.lock"):
                refuse(path)
            return real_os_open(path, flags, *args, **kwargs)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(builtins, "open", fake_open)
            patch.setattr(os, "open", fake_os_open)
            return act(root, made)

    run.__name__ = f"disk full: {getattr(act, '__name__', 'act')}"
    return run


def render_panels(root: Path, _: object) -> object:
    from storyboard.engines.draft import DraftEngine
    from storyboard.render import RenderOptions, render_project
    from storyboard.storyfile import load_project

    return render_project(root, load_project(root), DraftEngine(), options=RenderOptions(max_side=64))


MORE_CASES = [
    Case("reference outside the project", replaced("reference: cast/mia.png", "reference: ../../etc/passwd"),
         cli("validate", "{root}"), 2, says=("leads outside the project folder",), advice="copy the file into the project"),
    Case("absolute pose path", replaced("pose: poses/p2.json", "pose: /etc/passwd"), cli("render", "{root}"), 2,
         says=("absolute path",), advice="copy the file into the project"),
    Case("photo symlinked out of the project", symlinked_photo, cli("render", "{root}", "--engine", "draft"), 2,
         says=("leads outside the project folder",), advice="copy the file into the project"),
    Case("disk full while the studio saves", nothing, disk_full(studio_call(studio.update_panel, "p1", caption="lost?")),
         ProjectError, says=("story.yaml", "No space left"), advice="previous version is unchanged"),
    Case("disk full while a render records a take", nothing, disk_full(render_panels), ProjectError,
         says=("No space left",), advice="disk"),
    Case("disk full while exporting", lambda root: render_panels(root, None),
         disk_full(cli("export", "{root}", "-o", "{root}/../out.pdf")), 2, says=("out.pdf", "No space left")),
]
CASES += MORE_CASES


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


def test_kill_9_during_an_export_leaves_no_half_pdf(project_dir: Path, tmp_path: Path) -> None:
    """The PDF is written to a temp file and renamed: a killed export leaves the old PDF (or none), whole."""
    import signal
    import time

    from pypdf import PdfReader

    out = tmp_path / "comic.pdf"
    code = textwrap.dedent("""
        import sys, time
        import storyboard.export as export
        real = export.draw_comic_page
        def slow(*args, **kwargs):
            print("drawing", flush=True)
            time.sleep(30)
            return real(*args, **kwargs)
        export.draw_comic_page = slow
        from storyboard.cli import main
        sys.exit(main(["export", sys.argv[1], "-o", sys.argv[2], "--engine", "draft"]))
    """)
    child = subprocess.Popen([sys.executable, "-c", code, str(project_dir), str(out)], cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    for line in child.stdout:
        if "drawing" in line:
            break
    time.sleep(0.2)
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    assert not out.exists(), "a half-written PDF took the output's name"
    leftovers = list(tmp_path.glob(".comic.pdf.*.tmp"))
    for leftover in leftovers:
        leftover.unlink()  # a temp file beside the output is all a kill leaves; it never has the output's name
    from storyboard.cli import main

    assert main(["export", str(project_dir), "-o", str(out), "--engine", "draft", "-q"]) == 0
    assert len(PdfReader(out).pages) >= 1
