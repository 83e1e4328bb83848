"""Reliability catalogue, project archives (issue 11): hostile or broken .zip files imported in the studio.

Every row: ProjectError naming the archive, the entry and what to do; the session folder the zip was
imported into holds exactly what it held before (no project folder, no partial files, no hidden temporary
folder); the open project is as it was. See tests/reliability.py for the harness.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from conftest import POSE_P2, STORY
from hostile_zips import STORED, Raw, bomb_of_many, leftovers, story, write_zip
from reliability import Act, Case, run_case
from storyboard import studio
from storyboard.archive import ZIP_MAX_ENTRIES, export_zip, import_zip
from storyboard.errors import ProjectError
from storyboard.settings import load_settings

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
GOOD = [story(), Raw("cast/mia.png", PNG), Raw("cast/mia_mask.png", PNG), Raw("cast/leo.png", PNG),
        Raw("poses/p2.json", json.dumps(POSE_P2).encode())]
TRUST = "only import projects you trust"
DAMAGED = "download it again|export the project again"
REZIP = "export the project again|zip its folder again"


def zipped(entries: list[Raw], name: str = "shared.zip", **kwargs: Any):
    """A setup that writes the zip beside the project folder and returns its path."""

    def setup(root: Path) -> Path:
        return write_zip(root.parent / name, entries, **kwargs)

    setup.__name__ = f"zipped {name}"
    return setup


def bomb(root: Path) -> Path:
    return bomb_of_many(root.parent / "shared.zip")


def big(root: Path) -> Path:
    noise = os.urandom(9 * 1024 * 1024)
    return write_zip(root.parent / "shared.zip", GOOD + [Raw("renders/p1/1.png", noise, method=STORED),
                                                         Raw("renders/p1/2.png", noise, method=STORED)])


def truncated(root: Path) -> Path:
    whole = export_zip(root, root.parent / "whole.zip").read_bytes()
    (root.parent / "whole.zip").unlink()
    (root.parent / "shared.zip").write_bytes(whole[: len(whole) // 2])
    return root.parent / "shared.zip"


def fifo(root: Path) -> Path:
    os.mkfifo(root.parent / "shared.zip")
    return root.parent / "shared.zip"


def exported(root: Path) -> Path:
    return export_zip(root, root.parent / "shared.zip")


def studio_import(env: dict[str, str] | None = None) -> Act:
    """Import the setup's zip with the studio's handler, in a thread with a time guard; the session must be unchanged."""

    def act(root: Path, archive: Path) -> Any:
        session = root.parent / "session"
        session.mkdir(exist_ok=True)
        before = leftovers(session)
        outcome: list[BaseException | Path] = []

        def target() -> None:
            try:
                outcome.append(studio.import_project(session, archive, load_settings(env or {})))
            except BaseException as exc:  # re-raised below, in the test's thread
                outcome.append(exc)

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        thread.join(20)
        assert not thread.is_alive(), "the import blocked or took over 20 s"
        assert leftovers(session) == before, f"a failed import left {leftovers(session)} in the session"
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        return outcome[0]

    act.__name__ = "studio.import_project"
    return act


def import_over_project(root: Path, archive: Path) -> Any:
    return import_zip(archive, root)


ALIAS_BOMB = "".join(f"{n}: &{n} [{', '.join([f'*{p}'] * 9) if p else 'x'}]\n" for p, n in zip([None, *"abcdefgh"], "abcdefghi"))
fifos = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")

CASES = [
    Case("1 GiB in a 1.2 MB zip", bomb, studio_import(), ProjectError, says=("shared.zip", "zip bomb"), advice=TRUST),
    Case("one 8 MB entry of zeros", zipped(GOOD + [Raw("renders/p1/1.png", b"\0" * (8 << 20))]), studio_import(),
         ProjectError, says=("shared.zip", "'renders/p1/1.png'", "zip bomb"), advice=TRUST),
    Case("over STORYBOARD_MAX_PROJECT_MB", big, studio_import({"STORYBOARD_MAX_PROJECT_MB": "16"}), ProjectError,
         says=("shared.zip", "18.0 MB", "16 MB"), advice="raise STORYBOARD_MAX_PROJECT_MB|remove unused takes"),
    Case("encrypted entry", zipped(GOOD + [Raw("renders/p1/1.png", PNG, flags=0x1)]), studio_import(), ProjectError,
         says=("shared.zip", "'renders/p1/1.png'", "encrypted"), advice="without a password"),
    Case("bzip2 entry", zipped(GOOD + [Raw("renders/p1/1.png", PNG, method=12)]), studio_import(), ProjectError,
         says=("shared.zip", "'renders/p1/1.png'", "bzip2"), advice="ordinary \\(deflate\\) compression"),
    Case("bad CRC", zipped(GOOD + [Raw("renders/p1/1.png", PNG, crc=1)]), studio_import(), ProjectError,
         says=("shared.zip", "'renders/p1/1.png'", "CRC"), advice=DAMAGED),
    Case("size in the records lies", zipped(GOOD + [Raw("renders/p1/1.png", b"\0" * (4 << 20), size=100)]),
         studio_import(), ProjectError, says=("shared.zip", "'renders/p1/1.png'", "CRC"), advice=DAMAGED),
    Case("damaged deflate data", zipped(GOOD + [Raw("renders/p1/1.png", payload=b"\xff" * 99, size=500, crc=0)]),
         studio_import(), ProjectError, says=("shared.zip", "'renders/p1/1.png'", "damaged"), advice=DAMAGED),
    Case("file and folder of one name", zipped(GOOD + [Raw("renders", b"x"), Raw("renders/p1/1.png", PNG)]),
         studio_import(), ProjectError, says=("shared.zip", "'renders'", "folder"), advice=REZIP),
    Case("a name twice", zipped(GOOD + [Raw("cast/mia.png", b"other")]), studio_import(), ProjectError,
         says=("shared.zip", "'cast/mia.png'", "twice"), advice=REZIP),
    Case("too many entries", zipped([story()] + [Raw(f"renders/{i}.png") for i in range(ZIP_MAX_ENTRIES)]),
         studio_import(), ProjectError, says=("shared.zip", f"at most {ZIP_MAX_ENTRIES} files"),
         advice="remove unused takes"),
    Case("entry escapes the folder", zipped(GOOD + [Raw("../../evil.txt", b"x")]), studio_import(), ProjectError,
         says=("shared.zip", "'../../evil.txt'", "outside"), advice=TRUST),
    Case("absolute entry", zipped(GOOD + [Raw("/etc/cron.d/evil", b"x")]), studio_import(), ProjectError,
         says=("shared.zip", "'/etc/cron.d/evil'", "absolute"), advice=TRUST),
    Case("symbolic link entry", zipped(GOOD + [Raw("renders/p1/1.png", b"/etc/passwd", mode=0o120777)]),
         studio_import(), ProjectError, says=("shared.zip", "'renders/p1/1.png'", "symbolic link"), advice=TRUST),
    Case("alias bomb in its story.yaml", zipped([story(ALIAS_BOMB)] + GOOD[1:]), studio_import(), ProjectError,
         says=("story.yaml in", "shared.zip", "alias"), advice="nothing was imported"),
    Case("duplicate key in its story.yaml", zipped([story(STORY.replace("title: Test Story", "title: A\ntitle: B"))]
         + GOOD[1:]), studio_import(), ProjectError, says=("shared.zip", "'title'", "twice"), advice="remove one"),
    Case("truncated zip", truncated, studio_import(), ProjectError, says=("shared.zip", "not a readable .zip"),
         advice="export the project again"),
    pytest.param(Case("the upload is a FIFO", fifo, studio_import(), ProjectError,
                      says=("shared.zip", "not a regular file"), advice="choose the project's .zip"), marks=fifos),
    Case("import over the open project", exported, import_over_project, ProjectError, says=("not empty",),
         advice="into a new folder"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_archive_catalogue(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_case(case, tmp_path, capsys)


def test_the_good_zip_of_the_catalogue_imports(tmp_path: Path) -> None:
    """The rows above differ from a zip that imports by one entry each."""
    session = tmp_path / "session"
    dest = studio.import_project(session, write_zip(tmp_path / "good.zip", GOOD), load_settings({}))
    assert leftovers(session) == [dest.name] + [f"{dest.name}/{p}" for p in leftovers(dest)]
    assert studio.list_projects(session) == [("Test Story", dest)]
