"""Project .zip import and export (issue 11): hostile archives are refused with a clear message, leaving nothing."""

from __future__ import annotations

import json
import os
import threading
import zipfile
import zlib
from pathlib import Path

import pytest

from conftest import POSE_P2, STORY, write_project
from hostile_zips import DEFLATED, STORED, Raw, bomb_of_many, deflate, leftovers, story, write_zip
from storyboard import archive
from storyboard.archive import ZIP_MAX_ENTRIES, export_zip, import_zip
from storyboard.errors import ProjectError
from storyboard.settings import load_settings
from storyboard.storyfile import load_project

PNG = (Path(__file__).parent / "conftest.py").read_bytes()  # any bytes will do as a take


def refused(zip_path: Path, *words: str, max_bytes: int | None = None) -> str:
    """Import `zip_path` into a fresh folder beside it; it must fail naming `words` and leave nothing behind."""
    before = leftovers(zip_path.parent)
    with pytest.raises(ProjectError) as caught:
        import_zip(zip_path, zip_path.parent / "imported", max_bytes=max_bytes)
    message = str(caught.value)
    for word in (str(zip_path), *words):
        assert word.lower() in message.lower(), f"{word!r} not in: {message}"
    assert leftovers(zip_path.parent) == before, "a failed import left files behind"
    return message


def test_export_then_import_gives_the_same_project(project_dir: Path, tmp_path: Path) -> None:
    (project_dir / ".story.lock").write_text("")
    (project_dir / ".history").mkdir()
    (project_dir / ".history" / "1.yaml").write_text(STORY)
    exported = export_zip(project_dir, tmp_path / "out" / "p.zip")
    assert not {n for n in zipfile.ZipFile(exported).namelist() if n.startswith(".")}
    project = import_zip(exported, tmp_path / "in")
    assert project == load_project(project_dir) == load_project(tmp_path / "in")
    assert leftovers(tmp_path / "in") == [p for p in leftovers(project_dir) if not p.startswith(".")]


def test_import_into_an_empty_folder_and_skip_other_tools_litter(tmp_path: Path) -> None:
    write_zip(tmp_path / "p.zip", [Raw("proj/", mode=0o040755), Raw("proj/story.yaml", STORY.encode()),
                                   Raw("proj/cast/mia.png", PNG), Raw("proj/.story.lock"), Raw("proj/.DS_Store", b"x"),
                                   Raw("__MACOSX/proj/._story.yaml", b"x"), Raw("proj/.history/1.yaml", b"x")])
    (tmp_path / "in").mkdir()
    assert import_zip(tmp_path / "p.zip", tmp_path / "in").title == "Test Story"
    assert leftovers(tmp_path / "in") == ["cast", "cast/mia.png", "story.yaml"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


# ---- zip bombs and size limits ---------------------------------------------------------------------


def test_a_one_megabyte_zip_cannot_write_a_gigabyte(tmp_path: Path) -> None:
    bomb = bomb_of_many(tmp_path / "bomb.zip")  # 1024 renders of 1 MiB of zeros, one shared payload
    assert bomb.stat().st_size < 1.4e6
    refused(bomb, "expands 1.0 MB to 1024.0 MB", "zip bomb", "only import projects you trust")


def test_one_entry_with_a_huge_ratio_is_refused_before_it_is_unpacked(tmp_path: Path) -> None:
    zeros = b"\0" * (32 * 1024 * 1024)
    write_zip(tmp_path / "bomb.zip", [story(), Raw("renders/p1/1.png", zeros)])
    refused(tmp_path / "bomb.zip", "'renders/p1/1.png'", "32.0 MB", "zip bomb")


def test_a_bomb_whose_records_claim_a_small_size_is_refused_as_damaged(tmp_path: Path) -> None:
    """Headers can lie: zipfile stops at the claimed size, and the CRC of what it read then does not match."""
    zeros = b"\0" * (8 * 1024 * 1024)
    write_zip(tmp_path / "liar.zip", [story(), Raw("renders/p1/1.png", zeros, size=1000)])
    refused(tmp_path / "liar.zip", "'renders/p1/1.png'", "checksum (CRC)", "damaged")


def test_the_project_size_cap_is_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    noise = os.urandom(3 * 1024 * 1024)  # does not compress: no ratio alarm, only the size cap
    write_zip(tmp_path / "big.zip", [story(), Raw("renders/p1/1.png", noise, method=STORED),
                                     Raw("renders/p1/2.png", noise, method=STORED)])
    refused(tmp_path / "big.zip", "unpacks to 6.0 MB", "5 MB", "STORYBOARD_MAX_PROJECT_MB", max_bytes=5 * 1024 * 1024)
    monkeypatch.setenv("STORYBOARD_MAX_PROJECT_MB", "16")
    assert archive.max_project_bytes() == 16 * 1024 * 1024
    assert import_zip(tmp_path / "big.zip", tmp_path / "fits").title == "Test Story"


def test_the_space_default_is_smaller() -> None:
    assert load_settings({}).max_project_mb == 4096
    assert load_settings({"SPACE_ID": "x/y"}).max_project_mb == 512


def test_bytes_written_are_counted_whatever_the_records_say(tmp_path: Path) -> None:
    """The unpacking loop stops at the cap by what it actually wrote (a second guard behind the records' sizes)."""
    write_zip(tmp_path / "p.zip", [story(), Raw("renders/p1/1.png", b"x" * 5000)])
    with zipfile.ZipFile(tmp_path / "p.zip") as opened:
        entries = archive._checked_entries(opened, tmp_path / "p.zip", cap=1 << 30)
        (tmp_path / "out").mkdir()
        with pytest.raises(ProjectError, match="unpacks to more than 0 MB"):
            archive._unpack(opened, tmp_path / "p.zip", entries, tmp_path / "out", cap=4000)


def test_too_many_entries(tmp_path: Path) -> None:
    entries = [story()] + [Raw(f"renders/{i}.png") for i in range(ZIP_MAX_ENTRIES)]
    write_zip(tmp_path / "many.zip", entries)
    refused(tmp_path / "many.zip", f"lists {ZIP_MAX_ENTRIES + 1} entries", f"at most {ZIP_MAX_ENTRIES} files")
    write_zip(tmp_path / "many.zip", entries, declared_count=5)  # the end record lies: zipfile reads them all
    refused(tmp_path / "many.zip", f"holds {ZIP_MAX_ENTRIES + 1} entries", "remove unused takes")


# ---- entries that are not what they seem --------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "words"),
    [
        ([story(), Raw("cast/mia.png", PNG, flags=0x1)], ("'cast/mia.png'", "encrypted", "without a password")),
        ([story(), Raw("cast/mia.png", PNG, flags=0x41)], ("encrypted",)),
        ([story(), Raw("cast/mia.png", PNG, method=12)], ("method 12 (bzip2)", "unpacks only stored and deflate")),
        ([story(), Raw("cast/mia.png", PNG, method=14)], ("method 14 (lzma)",)),
        ([story(), Raw("cast/mia.png", PNG, method=9)], ("method 9 (deflate64)",)),
        ([story(), Raw("cast/mia.png", PNG, method=99, flags=0x1)], ("encrypted",)),  # WinZip AES
        ([story(), Raw("cast/mia.png", PNG, method=77)], ("method 77 (unknown)",)),
        ([story(), Raw("cast", b"x"), Raw("cast/mia.png", PNG)], ("'cast'", "needs a folder of that name")),
        ([story(), Raw("cast/mia.png/x", PNG), Raw("cast/mia.png", PNG)], ("'cast/mia.png'", "folder")),
        ([story(), Raw("cast/mia.png", PNG), Raw("cast/mia.png", b"other")], ("'cast/mia.png'", "appears twice")),
        ([story(), Raw("cast/mia.png", PNG), Raw("cast\\mia.png", b"other")], ("same name",)),
        ([story(), Raw("cast/Mia.png", PNG), Raw("cast/mia.png", b"other")], ("differ only in case",)),
        ([story(), story()], ("'story.yaml'", "appears twice")),
        ([story(), Raw("../evil.txt", b"x")], ("'../evil.txt'", "leads outside", "only import projects you trust")),
        ([story(), Raw("cast/../../evil.txt", b"x")], ("leads outside",)),
        ([story(), Raw("cast/../story.yaml", b"x")], ("contains a '..' part",)),
        ([story(), Raw("/etc/evil", b"x")], ("absolute path",)),
        ([story(), Raw("C:/evil.txt", b"x")], ("absolute path",)),
        ([story(), Raw("cast/mia.png", b"/etc/passwd", mode=0o120777)], ("symbolic link",)),
        ([story(), Raw("cast/pipe", mode=0o010644)], ("special file",)),
        ([story(), Raw("cast/" + "m" * 300 + ".png", PNG)], ("longer than 255 bytes",)),
        ([story(), Raw("cast/mia.png", payload=b"\xff" * 64, size=100, crc=0)], ("'cast/mia.png'", "damaged")),
        ([story(), Raw("cast/mia.png", PNG, crc=zlib.crc32(PNG) ^ 1)], ("checksum (CRC)", "download it again")),
        ([story(), Raw("cast/mia.png", PNG, method=STORED, crc=12345)], ("checksum (CRC)",)),
        ([Raw("readme.txt", b"hi")], ("holds no story.yaml",)),
    ],
    ids=lambda v: v[0] if isinstance(v, tuple) else "",
)
def test_hostile_entries_are_refused_before_anything_is_written(tmp_path: Path, entries: list[Raw], words: tuple) -> None:
    refused(write_zip(tmp_path / "x.zip", entries), *words)


def test_a_byte_flipped_inside_a_stored_file_fails_its_crc(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "x.zip", "w") as made:
        made.writestr("story.yaml", STORY, compress_type=zipfile.ZIP_DEFLATED)
        made.writestr("cast/mia.png", b"A" * 100 + b"PIXELS" + b"B" * 100)
    data = bytearray((tmp_path / "x.zip").read_bytes())
    at = data.index(b"PIXELS")
    data[at] ^= 0xFF
    (tmp_path / "x.zip").write_bytes(bytes(data))
    refused(tmp_path / "x.zip", "'cast/mia.png'", "fails its checksum (CRC)")


def test_names_in_the_directory_and_the_local_header_must_agree(tmp_path: Path) -> None:
    write_zip(tmp_path / "x.zip", [story(), Raw("cast/mia.png", PNG)])
    data = (tmp_path / "x.zip").read_bytes()
    first = data.index(b"cast/mia.png")  # the local header's copy of the name
    (tmp_path / "x.zip").write_bytes(data[:first] + b"cast/evl.png" + data[first + 12:])
    refused(tmp_path / "x.zip", "'cast/mia.png'", "cannot be read")


@pytest.mark.parametrize("damage", ["truncated", "not a zip", "empty"])
def test_files_that_are_not_zips(tmp_path: Path, damage: str) -> None:
    good = export_zip(write_project(tmp_path / "proj"), tmp_path / "good.zip").read_bytes()
    broken = {"truncated": good[: len(good) // 2], "not a zip": b"PK\x03\x04 hello", "empty": b""}[damage]
    (tmp_path / "x.zip").write_bytes(broken)
    refused(tmp_path / "x.zip", "not a readable .zip", "export the project again")


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_an_archive_that_is_not_a_regular_file_is_refused_without_blocking(tmp_path: Path, kind: str) -> None:
    if kind == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("no FIFOs here")
        os.mkfifo(tmp_path / "x.zip")
    else:
        (tmp_path / "x.zip").mkdir()
    outcome: list[BaseException] = []
    thread = threading.Thread(target=lambda: outcome.append(pytest.raises(ProjectError, import_zip, tmp_path / "x.zip",
                                                                          tmp_path / "in").value), daemon=True)
    thread.start()
    thread.join(5)
    assert not thread.is_alive(), "import_zip blocked on a FIFO"
    assert "not a regular file" in str(outcome[0]) and not (tmp_path / "in").exists()


def test_a_broken_story_inside_is_read_by_the_bounded_loader_and_named_by_the_archive(tmp_path: Path) -> None:
    bomb = "".join(f"{n}: &{n} [{', '.join([f'*{p}'] * 9) if p else 'x'}]\n" for p, n in zip([None, *"abcdefgh"], "abcdefghi"))
    write_zip(tmp_path / "x.zip", [story(bomb), Raw("cast/mia.png", PNG)])
    message = refused(tmp_path / "x.zip", "alias", "nothing was imported")
    assert ".importing-" not in message  # names the archive, not the hidden folder it was unpacked into
    write_zip(tmp_path / "y.zip", [story(STORY.replace("title: Test Story", "title: [broken"))])
    refused(tmp_path / "y.zip", f"The story.yaml in {tmp_path / 'y.zip'}", "not valid YAML")
    write_zip(tmp_path / "z.zip", [story(STORY.replace("title: Test Story", "title: A\ntitle: B"))])
    refused(tmp_path / "z.zip", "'title'", "appears twice")


def test_a_destination_that_holds_something_is_refused(project_dir: Path, tmp_path: Path) -> None:
    exported = export_zip(project_dir, tmp_path / "p.zip")
    with pytest.raises(ProjectError, match="not empty"):
        import_zip(exported, project_dir)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ProjectError, match="not empty"):
        import_zip(exported, tmp_path / "file")
    assert (tmp_path / "file").read_text() == "x"


def test_studio_import_of_a_hostile_zip_leaves_the_session_as_it_was(tmp_path: Path) -> None:
    from storyboard import studio

    session = tmp_path / "session"
    session.mkdir()
    (session / "mine").mkdir()
    bomb = bomb_of_many(tmp_path / "holiday.zip")
    with pytest.raises(ProjectError, match=r"Could not open holiday\.zip: .*zip bomb"):
        studio.import_project(session, bomb, load_settings({}))
    assert leftovers(session) == ["mine"]
    write_zip(tmp_path / "enc.zip", [story(), Raw("cast/mia.png", PNG, flags=0x1)])
    with pytest.raises(ProjectError, match="encrypted"):
        studio.import_project(session, tmp_path / "enc.zip", load_settings({}))
    assert leftovers(session) == ["mine"]
    write_zip(tmp_path / "ok.zip", [story(), Raw("cast/mia.png", PNG), Raw("cast/mia_mask.png", PNG),
                                     Raw("cast/leo.png", PNG), Raw("poses/p2.json", json.dumps(POSE_P2).encode())])
    assert studio.import_project(session, tmp_path / "ok.zip", load_settings({})).name == "ok"


def test_deflate_helper_round_trips() -> None:
    assert zlib.decompress(deflate(b"abc" * 100), -15) == b"abc" * 100
    assert DEFLATED == zipfile.ZIP_DEFLATED


def test_an_import_killed_while_unpacking_is_cleaned_up_by_the_next_import(project_dir: Path, tmp_path: Path) -> None:
    import os

    from storyboard import studio
    from storyboard.archive import export_zip
    from storyboard.settings import load_settings

    session = tmp_path / "session"
    stale = session / ".story.importing-abc123"
    (stale / "cast").mkdir(parents=True)
    (stale / "cast" / "half.png").write_bytes(b"half")
    os.utime(stale, (0, 0))  # long ago: its import was killed
    fresh = session / ".other.importing-def456"
    fresh.mkdir()  # another import, still running
    archive = export_zip(project_dir, tmp_path / "story.zip")
    imported = studio.import_project(session, archive, load_settings({}))
    assert not stale.exists() and fresh.exists() and (imported / "story.yaml").is_file()
