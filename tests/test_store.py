"""The one writer (issue 11): nothing acknowledged is lost to a render, another thread, another process or kill -9."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from conftest import REPO, write_project
from storyboard import studio
from storyboard.engines.draft import DraftEngine
from storyboard.errors import ProjectError
from storyboard.model import Panel
from storyboard.render import RenderOptions, render_project
from storyboard.settings import load_settings
from storyboard.store import LOCK_FILE, ProjectBusy, holds_lock, project_lock, recover, update_project
from storyboard.storyfile import load_project, save_project

SETTINGS = load_settings({})
QUICK = RenderOptions(max_side=64)


def many_panels(root: Path, count: int) -> Path:
    """The test project with `count` panels (p1 ... pN), none rendered."""
    write_project(root)
    panels = tuple(Panel(id=f"p{i}", prompt=f"{{mia}} scene {i}", characters=("mia",), seed=i) for i in range(1, count + 1))
    update_project(root, lambda p: dataclasses.replace(p, panels=panels))
    return root


def child(code: str, *args: str) -> subprocess.Popen:
    """A second Python process running `code` in this repository (argv[1:] = args)."""
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# ---------------------------------------------------------------- the lock itself


def test_save_outside_the_lock_is_refused_and_the_lock_is_reentrant(project_dir: Path) -> None:
    project = load_project(project_dir)
    with pytest.raises(RuntimeError, match="without the project's lock"):
        save_project(project_dir, dataclasses.replace(project, title="Stale"))
    with project_lock(project_dir):
        with project_lock(project_dir / "story.yaml" / ".."):  # another path to the same folder
            assert holds_lock(project_dir)
            save_project(project_dir, dataclasses.replace(project, title="Fresh"))
        assert holds_lock(project_dir)
    assert not holds_lock(project_dir)
    assert load_project(project_dir).title == "Fresh"


def test_a_second_process_waits_for_the_lock_and_a_long_wait_is_a_clear_error(project_dir: Path) -> None:
    holder = child("""
        import sys, time
        from storyboard.store import project_lock
        with project_lock(sys.argv[1]):
            print("held", flush=True)
            time.sleep(3)
    """, str(project_dir))
    assert holder.stdout.readline().strip() == "held"
    started = time.monotonic()
    with pytest.raises(ProjectBusy, match="another program or window.*Try again"):
        with project_lock(project_dir, timeout=0.5):
            pass
    assert time.monotonic() - started < 2
    with project_lock(project_dir, timeout=20):  # released when the holder's block ends
        pass
    holder.wait(10)


def test_a_killed_holder_releases_the_lock(project_dir: Path) -> None:
    holder = child("""
        import sys, time
        from storyboard.store import project_lock
        with project_lock(sys.argv[1]):
            print("held", flush=True)
            time.sleep(60)
    """, str(project_dir))
    assert holder.stdout.readline().strip() == "held"
    holder.send_signal(signal.SIGKILL)
    holder.wait(10)
    with project_lock(project_dir, timeout=5):
        assert (project_dir / LOCK_FILE).exists() or True  # the file may stay; the lock does not


def test_the_lock_needs_an_existing_folder(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="does not exist"):
        with project_lock(tmp_path / "gone"):
            pass


# ---------------------------------------------------------------- renders and edits at the same time


def test_edits_made_while_a_render_runs_are_all_kept_threads(tmp_path: Path) -> None:
    """40 panels render while another thread adds balloons and rewrites prompts: every take and edit survives."""
    root = many_panels(tmp_path / "proj", 40)
    done = threading.Event()
    acknowledged: list[str] = []
    prompts: dict[str, str] = {}
    errors: list[BaseException] = []

    def render() -> None:
        try:
            render_project(root, load_project(root), DraftEngine(), options=QUICK)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            done.set()

    worker = threading.Thread(target=render)
    worker.start()
    n = 0
    while not done.is_set() or n < 20:
        n += 1
        text = f"line {n}"
        studio.add_balloon(root, "p40", text, "mia", "speech")
        acknowledged.append(text)
        pid = f"p{(n % 39) + 1}"
        prompt = f"{{mia}} edited {n}"
        studio.update_panel(root, pid, prompt=prompt)
        prompts[pid] = prompt
    worker.join(60)
    assert not errors, errors
    project = load_project(root)
    assert [b.text for b in project.panel("p40").balloons] == acknowledged
    for pid, prompt in prompts.items():
        assert project.panel(pid).prompt == prompt
    assert all(p.takes and p.selected_take is not None for p in project.panels), "a take was lost"
    for panel in project.panels:
        assert (root / panel.selected_take.file).is_file()


def test_edits_from_this_process_while_another_process_renders_are_all_kept(tmp_path: Path) -> None:
    root = many_panels(tmp_path / "proj", 40)
    renderer = child("""
        import sys
        from storyboard.cli import main
        sys.exit(main(["render", sys.argv[1], "--engine", "draft", "--max-side", "64", "-q"]))
    """, str(root))
    acknowledged: list[str] = []
    n = 0
    while renderer.poll() is None or n < 10:
        n += 1
        studio.add_balloon(root, "p7", f"line {n}", "mia", "speech")
        acknowledged.append(f"line {n}")
        studio.update_panel(root, "p8", caption=f"caption {n}")
    assert renderer.wait(60) == 0, renderer.stderr.read()
    project = load_project(root)
    assert [b.text for b in project.panel("p7").balloons] == acknowledged
    assert project.panel("p8").caption == f"caption {n}"
    assert sum(1 for p in project.panels if p.selected_take is not None) == 40


def test_a_panel_deleted_while_it_renders_is_not_brought_back(tmp_path: Path) -> None:
    root = many_panels(tmp_path / "proj", 3)

    class DeletingEngine(DraftEngine):
        def render(self, request, context):
            if request.panel_id == "p2":
                studio.delete_panel(root, "p2")
            return super().render(request, context)

    events = []
    project = render_project(root, load_project(root), DeletingEngine(), options=QUICK, on_panel=events.append)
    assert [p.id for p in project.panels] == ["p1", "p3"]
    assert [(e.panel_id, e.status) for e in events] == [("p1", "rendered"), ("p2", "skipped"), ("p3", "rendered")]
    assert not (root / "renders" / "p2").exists() or not any((root / "renders" / "p2").iterdir())


# ---------------------------------------------------------------- kill -9


def test_kill_9_during_saves_leaves_the_last_good_story_and_the_leftovers_are_swept(tmp_path: Path) -> None:
    root = many_panels(tmp_path / "proj", 200)  # a story big enough that a save takes a while
    for attempt in range(3):
        saver = child("""
            import dataclasses, sys
            from storyboard.store import update_project
            i = 0
            while True:
                i += 1
                update_project(sys.argv[1], lambda p: dataclasses.replace(p, title=f"Save {i}"))
                if i == 3:
                    print("saving", flush=True)
        """, str(root))
        assert saver.stdout.readline().strip() == "saving"
        time.sleep(0.05 + 0.07 * attempt)
        saver.send_signal(signal.SIGKILL)
        saver.wait(10)
        title = load_project(root).title  # the last good story, whatever instant the kill hit
        assert title.startswith("Save ")
    (root / ".story.yaml.crash.tmp").write_bytes(b"half a story")  # what a kill inside atomic_write leaves
    (root / "renders" / "p1").mkdir(parents=True, exist_ok=True)
    (root / "renders" / "p1" / ".1-abc.png.x1.tmp").write_bytes(b"half a take")
    opener = child("""
        import sys
        from storyboard.studio import open_project
        from pathlib import Path
        open_project(Path(sys.argv[1]).parent, Path(sys.argv[1]).name)
    """, str(root))
    assert opener.wait(30) == 0, opener.stderr.read()
    assert not list(root.rglob("*.tmp")), "temp files left after the next open"
    assert load_project(root).title == title


def test_kill_9_during_a_render_keeps_every_recorded_take(tmp_path: Path) -> None:
    root = many_panels(tmp_path / "proj", 40)
    renderer = child("""
        import sys
        from storyboard.cli import main
        sys.exit(main(["render", sys.argv[1], "--engine", "draft", "--max-side", "64"]))
    """, str(root))
    for line in renderer.stdout:
        if "[10/40]" in line:
            break
    renderer.send_signal(signal.SIGKILL)
    renderer.wait(10)
    recover(root)
    project = load_project(root)
    rendered = [p for p in project.panels if p.selected_take is not None]
    assert len(rendered) >= 10
    for panel in rendered:
        with Image.open(root / panel.selected_take.file) as image:
            image.load()  # every recorded take is a whole PNG
    assert not list(root.rglob("*.tmp"))
    # the next render picks up where the killed one stopped
    events = []
    render_project(root, project, DraftEngine(), options=QUICK, on_panel=events.append)
    assert sum(1 for e in events if e.status == "skipped") == len(rendered)
    assert all(p.selected_take is not None for p in load_project(root).panels)


def test_recover_removes_only_temp_files(project_dir: Path) -> None:
    keep = project_dir / "cast" / "notes.tmp.png"
    keep.write_bytes(b"x")
    (project_dir / "cast" / ".mia.png.abc.tmp").write_bytes(b"x")
    removed = recover(project_dir)
    assert [p.name for p in removed] == [".mia.png.abc.tmp"] and keep.exists()
    assert os.listdir(project_dir / "cast")


# ---------------------------------------------------------------- the journal of takes (issue 13: linear renders)


def test_takes_go_to_the_journal_and_a_render_ends_with_them_in_story_yaml(tmp_path: Path) -> None:
    from storyboard import journal

    root = many_panels(tmp_path / "proj", 4)
    seen = []

    class Watching(DraftEngine):
        def render(self, request, context):
            seen.append(journal.path(root).exists())
            return super().render(request, context)

    render_project(root, load_project(root), Watching(), options=QUICK)
    assert seen == [False, True, True, True], "takes after the first are recorded in the journal, not story.yaml"
    assert not journal.path(root).exists()
    text = (root / "story.yaml").read_text()
    assert text.count("renders/") == 4, "the render's end wrote every take into story.yaml"


def test_the_journal_replays_once_and_ignores_a_torn_line(tmp_path: Path) -> None:
    from storyboard import journal
    from storyboard.model import Take

    root = many_panels(tmp_path / "proj", 2)
    (root / "renders" / "p1").mkdir(parents=True)
    for name in ("a", "b"):
        Image.new("RGB", (8, 8)).save(root / "renders" / "p1" / f"{name}.png")
    with project_lock(root):
        journal.append(root, journal.take_entry("p1", Take("renders/p1/a.png", seed=5, engine="draft", inputs="x"), False))
        journal.append(root, journal.take_entry("p9", Take("renders/p1/b.png", seed=6), False))  # a deleted panel
        journal.append(root, {"panel": "p1", "take": {"file": "../../etc/passwd"}})  # not a take: left out
    with open(journal.path(root), "ab") as handle:
        handle.write(b'{"panel": "p1", "take": {"file": "renders/p1/b.p')  # cut short by kill -9
    project = load_project(root)
    p1 = project.panel("p1")
    assert [t.file for t in p1.takes] == ["renders/p1/a.png"] and p1.seed == 5
    studio.update_panel(root, "p1", caption="saved")  # any save folds the journal into story.yaml
    assert not journal.path(root).exists()
    with project_lock(root):  # a crash between writing story.yaml and removing the journal: replays change nothing
        journal.append(root, journal.take_entry("p1", Take("renders/p1/a.png", seed=5, engine="draft", inputs="x"), False))
    again = load_project(root)
    assert again.panel("p1").takes == p1.takes and again.panel("p1").caption == "saved"
