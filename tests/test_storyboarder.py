"""Storyboarder exchange (issue 14, item 3): .storyboarder out with board images, back in as panels with takes."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from conftest import snapshot
from storyboard.cli import main
from storyboard.engines.draft import DraftEngine
from storyboard.errors import ProjectError
from storyboard.exchange.storyboarder import StoryboarderError, export_storyboarder, parse_aspect
from storyboard.exchange.storyboarder_import import import_storyboarder
from storyboard.export import ExportError, load_take_image
from storyboard.settings import Settings
from storyboard.storyfile import load_project

# The keys Storyboarder's own example files (its test fixtures) carry at the top and on every board.
FILE_KEYS = {"version", "aspectRatio", "fps", "defaultBoardTiming", "boards"}
BOARD_KEYS = {"uid", "url", "newShot", "lastEdited", "layers", "number", "shot", "time"}


def exported(project_dir: Path, **kwargs) -> tuple[Path, dict]:
    out = project_dir.parent / "board" / "story.storyboarder"
    out.parent.mkdir(exist_ok=True)
    export_storyboarder(project_dir, load_project(project_dir), out, engine=DraftEngine(), **kwargs)
    return out, json.loads(out.read_text())


def test_export_carries_storyboarders_fields_and_images(project_dir: Path) -> None:
    out, data = exported(project_dir, fps=30, aspect_ratio="2.39")
    assert FILE_KEYS <= set(data) and data["fps"] == 30 and data["aspectRatio"] == 2.39
    assert data["defaultBoardTiming"] == 2000 and len(data["boards"]) == 3
    times = 0
    for number, board in enumerate(data["boards"], start=1):
        assert BOARD_KEYS <= set(board) and {"dialogue", "action", "notes"} <= set(board)
        assert re.fullmatch(r"[A-Z0-9]{5}", board["uid"]) and board["url"] == f"board-{number}-{board['uid']}.png"
        assert board["number"] == number and board["shot"] == f"{number}A" and board["time"] == times
        times += board.get("duration", data["defaultBoardTiming"])
        layer = board["layers"]["reference"]["url"]
        for name in (layer, board["url"].replace(".png", "-posterframe.jpg"), board["url"].replace(".png", "-thumbnail.png")):
            assert (out.parent / "images" / name).is_file(), name
        with Image.open(out.parent / "images" / layer) as image:
            assert image.size == (2151, 900)  # Storyboarder's boards: 900 px high, as wide as the aspect ratio says
    first, second, third = data["boards"]
    assert first["duration"] == 2500 and "duration" not in third
    assert first["action"] == "Mia runs for the bus" and first["notes"] == "camera low"
    assert first["dialogue"] == "Caption: Monday, 8:59.\nMia: Wait for me!"
    assert second["dialogue"] == "Leo: Morning!\nMia: Coffee first."


def test_round_trip_keeps_panels_cast_and_images(project_dir: Path, tmp_path: Path) -> None:
    out, _ = exported(project_dir)
    original = load_project(project_dir)
    result = import_storyboarder(out, tmp_path / "back")
    back = load_project(tmp_path / "back")
    assert result.created and back.title == original.title and back.author == original.author
    assert [(c.id, c.name, c.color, c.reference) for c in back.cast] == [(c.id, c.name, c.color, None) for c in original.cast]
    fields = ("prompt", "shot", "characters", "caption", "balloons", "notes", "duration")
    boards = json.loads(out.read_text())["boards"]
    for before, after, board in zip(original.panels, back.panels, boards, strict=True):
        assert {f: getattr(after, f) for f in fields} == {f: getattr(before, f) for f in fields}
        art = load_take_image(tmp_path / "back", after)  # the board's one layer, pixel for pixel
        with Image.open(out.parent / "images" / board["layers"]["reference"]["url"]) as layer:
            assert art.size == (1600, 900) and art.tobytes() == layer.convert("RGB").tobytes()
    # a second import appends: new ids, same cast
    again = import_storyboarder(out, tmp_path / "back")
    assert again.panels == ("p4", "p5", "p6") and len(load_project(tmp_path / "back").cast) == 2


def write_board(folder: Path, data: dict, images: dict[str, Image.Image]) -> Path:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for name, image in images.items():
        image.save(folder / "images" / name)
    path = folder / "plain.storyboarder"
    path.write_text(json.dumps(data))
    return path


def plain_file(folder: Path) -> Path:
    """A file as Storyboarder itself writes it (numbers as text, layers with opacity, no keys of this app)."""
    red = Image.new("RGBA", (160, 90), (0, 0, 0, 0))
    red.paste((200, 30, 30, 255), (0, 0, 80, 90))
    ink = Image.new("RGBA", (160, 90), (0, 0, 0, 0))
    ink.paste((0, 0, 0, 255), (100, 0, 110, 90))
    data = {
        "version": "0.8.0", "aspectRatio": "1.7777777777777777", "fps": 24, "defaultBoardTiming": "2001",
        "boards": [
            {"uid": "42VR9", "url": "board-1-42VR9.png", "newShot": True, "lastEdited": 1500573659774,
             "layers": {"reference": {"url": "board-1-42VR9-reference.png", "opacity": 0.5},
                        "notes": {"url": "board-1-42VR9-notes.png"}},
             "number": 1, "shot": "1A", "time": 0, "notes": "TITLE CARD: DUCKS", "duration": 2000},
            {"uid": "P2FLS", "url": "board-2-P2FLS.png", "newShot": False, "lastEdited": 1500417576275,
             "layers": {"fill": {"url": "board-2-P2FLS-fill.png"}, "ink": {"url": "board-2-P2FLS-ink.png"}},
             "number": 2, "shot": "1B", "time": 2000, "action": "Close on the ducks crossing the {street}.",
             "dialogue": "MIA: Look at them!\nV.O.: It was a quiet town.\nsomeone hums", "duration": 1000},
            {"uid": "WEBM4", "url": "board-3-WEBM4.png", "number": 3, "shot": "2A", "time": 3000,
             "dialogue": "DUCK KEEPER: Mind the gap."},
        ],
    }
    return write_board(folder, data, {"board-1-42VR9-reference.png": red, "board-1-42VR9-notes.png": ink,
                                      "board-2-P2FLS-fill.png": red, "board-2-P2FLS-ink.png": ink})


def test_a_file_storyboarder_wrote_appends_to_an_existing_project(project_dir: Path, tmp_path: Path) -> None:
    result = import_storyboarder(plain_file(tmp_path / "sb"), project_dir)
    project = load_project(project_dir)
    assert not result.created and result.panels == ("p4", "p5", "p6") and result.fps == 24
    assert abs(result.aspect_ratio - 16 / 9) < 1e-9
    p4, p5, p6 = (project.panel(p) for p in result.panels)
    assert p4.notes == "TITLE CARD: DUCKS" and p4.duration == 2.0 and not p4.balloons
    assert p5.prompt == "Close on the ducks crossing the street." and p5.shot == "close-up" and p5.duration == 1.0
    assert [(b.speaker, b.text) for b in p5.balloons] == [("mia", "Look at them!"), (None, "someone hums")]
    assert p5.caption == "It was a quiet town." and p5.characters == ("mia",)
    assert [(b.speaker, b.text) for b in p6.balloons] == [("duck-keeper", "Mind the gap.")] and p6.takes == ()
    assert [c.name for c in result.new_cast] == ["Duck Keeper"] and "no image was found" in result.warnings[0]
    # board 1: its one drawing layer at half opacity (the notes layer is left out); board 2: fill and ink laid over
    one = load_take_image(project_dir, p4)
    assert max(abs(a - b) for a, b in zip(one.getpixel((10, 10)), (228, 143, 143))) <= 1
    assert one.getpixel((105, 45)) == (255, 255, 255)
    two = load_take_image(project_dir, p5)
    assert two.getpixel((10, 10)) == (200, 30, 30) and two.getpixel((105, 45)) == (0, 0, 0)
    assert two.getpixel((150, 45)) == (255, 255, 255)


def test_posterframe_is_the_picture_of_a_board_with_many_layers(tmp_path: Path) -> None:
    poster = Image.new("RGB", (160, 90), (10, 120, 200))
    data = {"aspectRatio": 1.78, "fps": 24, "boards": [{"uid": "AAAAA", "url": "board-1-AAAAA.png", "layers": {
        "fill": {"url": "board-1-AAAAA-fill.png"}, "ink": {"url": "board-1-AAAAA-ink.png"}}}]}
    path = write_board(tmp_path / "sb", data, {"board-1-AAAAA-posterframe.jpg": poster,
                                               "board-1-AAAAA-fill.png": Image.new("RGB", (160, 90), "white")})
    import_storyboarder(path, tmp_path / "p")
    art = load_take_image(tmp_path / "p", load_project(tmp_path / "p").panels[0])
    assert max(abs(a - b) for a, b in zip(ImageStat.Stat(art).mean, (10, 120, 200))) < 3


BAD_FILES = [
    (b"{not json", r"line 1: this is not valid JSON"),
    (b'{"boards": {}}', "no 'boards' list"),
    (b'{"boards": []}', "no boards to import"),
    (b'{"boards": [3]}', "board 1: a board must be a JSON object"),
    (b'{"boards": [{"action": 7}]}', "board 1: 'action' must be text"),
    (json.dumps({"boards": [{}, {"notes": "n" * 2001}]}).encode(), "board 2: 'notes' is 2,001 characters"),
    (json.dumps({"boards": [{"dialogue": "MIA: " + "w" * 501}]}).encode(), "'dialogue line' is 501 characters"),
    (json.dumps({"boards": [{"url": "../../etc/passwd.png"}]}).encode(), "is not a plain file name"),
    (b'{"boards": [{"duration": NaN}]}', "not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "nests far too deeply"),
    (b"\xff\xfe{}", "not UTF-8"),
]


@pytest.mark.parametrize("raw, words", BAD_FILES)
def test_bad_files_are_refused_and_write_nothing(tmp_path: Path, project_dir: Path, raw: bytes, words: str) -> None:
    path = tmp_path / "bad.storyboarder"
    path.write_bytes(raw)
    before = snapshot(project_dir)
    with pytest.raises(StoryboarderError, match=re.escape(words) if "(" in words else words):
        import_storyboarder(path, project_dir)
    assert snapshot(project_dir) == before
    with pytest.raises(StoryboarderError):
        import_storyboarder(path, tmp_path / "new")
    assert not (tmp_path / "new").exists()


def test_limits_links_and_folders(tmp_path: Path, project_dir: Path) -> None:
    path = plain_file(tmp_path / "sb")
    with pytest.raises(StoryboarderError, match="board 1: this would be panel number 4; a project holds at most 3"):
        import_storyboarder(path, project_dir, settings=Settings(max_panels=3))
    with pytest.raises(StoryboarderError, match="would be cast member number 3"):
        import_storyboarder(path, project_dir, settings=Settings(max_cast=2))
    big = Image.new("RGB", (2000, 1000), "white")
    data = {"boards": [{"uid": "BIG01", "url": "board-1-BIG01.png"}]}
    with pytest.raises(StoryboarderError, match="(?i)board 1's image board-1-BIG01.png is 2000x1000"):
        import_storyboarder(write_board(tmp_path / "big", data, {"board-1-BIG01.png": big}), project_dir,
                            settings=Settings(max_image_megapixels=1))
    outside = tmp_path / "secret.png"
    Image.new("RGB", (8, 8)).save(outside)
    link = write_board(tmp_path / "link", {"boards": [{"url": "board-1-LINKS.png"}]}, {})
    os.symlink(outside, tmp_path / "link" / "images" / "board-1-LINKS.png")
    with pytest.raises(StoryboarderError, match="leads outside"):
        import_storyboarder(link, project_dir)
    other = tmp_path / "photos"
    other.mkdir()
    (other / "a.jpg").write_bytes(b"x")
    with pytest.raises(ProjectError, match="not a project"):
        import_storyboarder(path, other)
    with pytest.raises(StoryboarderError, match="Cannot read"):
        import_storyboarder(tmp_path / "missing.storyboarder", tmp_path / "new")
    assert not (tmp_path / "new").exists()


def test_export_refusals(project_dir: Path, tmp_path: Path) -> None:
    project = load_project(project_dir)
    with pytest.raises(ExportError, match=r"should end in \.storyboarder"):
        export_storyboarder(project_dir, project, tmp_path / "x.json", engine=DraftEngine())
    with pytest.raises(ExportError, match="frame rate"):
        export_storyboarder(project_dir, project, tmp_path / "x.storyboarder", fps=0, engine=DraftEngine())
    with pytest.raises(StoryboarderError, match="aspect ratio"):
        export_storyboarder(project_dir, project, tmp_path / "x.storyboarder", aspect_ratio="wide", engine=DraftEngine())
    (tmp_path / "images").write_text("a file")
    with pytest.raises(ExportError, match="images is a file"):
        export_storyboarder(project_dir, project, tmp_path / "x.storyboarder", engine=DraftEngine())
    with pytest.raises(ExportError, match="no rendered image"):
        export_storyboarder(project_dir, project, project_dir / "x.storyboarder")
    assert not (project_dir / "x.storyboarder").exists()


@pytest.mark.parametrize("text, value", [("16:9", 16 / 9), ("2.39", 2.39), (1.5, 1.5)])
def test_aspect_ratios(text: str | float, value: float) -> None:
    assert abs(parse_aspect(text) - value) < 1e-9


def test_cli_export_and_import_with_progress(project_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "story.storyboarder"
    assert main(["export", str(project_dir), "-o", str(out), "--storyboarder", "--engine", "draft", "--fps", "25",
                 "--aspect-ratio", "4:3", "--page-size", "a5"]) == 0
    captured = capsys.readouterr()
    assert "[1/3] p1: rendered" in captured.out and "[3/3] board 3 <- p3" in captured.out
    assert "Ignored for --storyboarder (boards have no pages): --page-size" in captured.err
    data = json.loads(out.read_text())
    assert data["fps"] == 25 and abs(data["aspectRatio"] - 4 / 3) < 1e-9
    assert main(["import-storyboarder", str(out), str(tmp_path / "back")]) == 0
    assert "[3/3] p3: establishing, 0 balloon(s), renders/p3/storyboarder-" in capsys.readouterr().out
    assert main(["import-storyboarder", str(tmp_path / "none.storyboarder"), str(tmp_path / "x")]) == 2
    assert "Cannot read" in capsys.readouterr().err
    image = load_take_image(tmp_path / "back", load_project(tmp_path / "back").panels[0])
    assert image.size == (1200, 900)
