"""The studio's handlers (issue 7), without a server: each edit saves, each bad request changes nothing."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from storyboard import studio
from storyboard.engines.draft import DraftEngine
from storyboard.errors import RenderCancelled, StoryboardError
from storyboard.settings import SettingsError, load_settings
from storyboard.storyfile import load_project
from conftest import snapshot

SETTINGS = load_settings({})


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    Image.new("RGB", (120, 160), (200, 120, 90)).save(path)
    return path


def test_add_character_saves_png_upright_from_jpeg_with_exif(project_dir: Path, tmp_path: Path) -> None:
    jpeg = tmp_path / "sideways.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees: the upright picture is 60 wide, 100 tall
    Image.new("RGB", (100, 60), (10, 200, 10)).save(jpeg, exif=exif)
    project, cid, notes = studio.add_character(project_dir, "Ana Lu", jpeg, SETTINGS, description="tall")
    member = project.character(cid)
    assert cid == "ana-lu" and member.reference.startswith("cast/ana-lu") and member.reference.endswith(".png")
    assert member.color not in {c.color for c in project.cast if c.id != cid}
    with Image.open(project_dir / member.reference) as image:
        assert image.format == "PNG" and image.size == (60, 100)
    assert load_project(project_dir).character(cid).description == "tall"
    assert notes == []


def test_huge_photo_is_scaled_down_with_a_note_and_too_many_pixels_refused(project_dir: Path, tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    Image.new("RGB", (3000, 1000), "white").save(big)
    settings = load_settings({"STORYBOARD_MAX_REFERENCE_SIDE": "1000", "STORYBOARD_MAX_IMAGE_MEGAPIXELS": "2"})
    with pytest.raises(studio.ImageUploadError, match="megapixels"):
        studio.add_character(project_dir, "Big", big, settings)
    small = load_settings({"STORYBOARD_MAX_REFERENCE_SIDE": "1000"})
    project, cid, notes = studio.add_character(project_dir, "Big", big, small)
    assert "scaled down to 1000x333" in notes[0]
    with Image.open(project_dir / project.character(cid).reference) as image:
        assert image.size == (1000, 333)


@pytest.mark.parametrize("case", ["not an image", "mask without photo", "empty name", "duplicate name", "bad colour"])
def test_bad_character_requests_change_nothing(project_dir: Path, tmp_path: Path, photo: Path, case: str) -> None:
    text = tmp_path / "notes.png"
    text.write_text("this is not a picture")
    before = snapshot(project_dir)
    kwargs = {"name": "Zoe", "photo": photo}
    if case == "not an image":
        kwargs["photo"] = text
    elif case == "mask without photo":
        kwargs.update(photo=None, mask=photo)
    elif case == "empty name":
        kwargs["name"] = "  "
    elif case == "duplicate name":
        kwargs["name"] = "mia"
    else:
        kwargs["color"] = "red"
    expected = {"not an image": "notes.png is not an image", "mask without photo": "A mask or outfit goes with a reference photo",
                "empty name": "Give the character a name", "duplicate name": "already a character called mia",
                "bad colour": "not a colour"}[case]
    with pytest.raises(StoryboardError, match=expected):
        studio.add_character(project_dir, kwargs["name"], kwargs["photo"], SETTINGS, color=kwargs.get("color"),
                             mask=kwargs.get("mask"))
    assert snapshot(project_dir) == before


def test_a_character_without_a_photo_is_added_drawn_in_draft_and_refused_by_storymaker(project_dir: Path, photo: Path) -> None:
    """Issue 12 item 4: draft mode needs no photo; StoryMaker says whose photo is missing and where to add it."""
    project, cid, notes = studio.add_character(project_dir, "Zoe", None, SETTINGS, description="tall", color="#76b041")
    zoe = project.character(cid)
    assert zoe.reference is None and zoe.color == "#76b041" and "No photo of Zoe yet" in notes[0]
    assert "reference" not in (project_dir / "story.yaml").read_text().split("name: Zoe")[1].split("- id:")[0]
    assert load_project(project_dir).character(cid) == zoe
    studio.update_panel(project_dir, "p1", characters=[cid])
    list(studio.iter_render(project_dir, DraftEngine(), SETTINGS))
    take = load_project(project_dir).panel("p1").selected_take
    assert take is not None and take.engine == "draft"
    assert studio.face_check(project_dir, cid, DraftEngine()).status == "unavailable"
    tile = np.asarray(studio.face_preview(project_dir, cid))
    assert tile.shape[0] == tile.shape[1] and (np.abs(tile.astype(int) - (0x76, 0xB0, 0x41)).max(axis=2) < 8).sum() > 500
    with pytest.raises(StoryboardError, match="no photo yet"):
        studio.set_painted_mask(project_dir, cid, [np.full((8, 8), 255, np.uint8)])
    project, _ = studio.update_character(project_dir, cid, SETTINGS, photo=photo)
    assert project.character(cid).reference is not None


def test_update_replaces_the_photo_and_keeps_the_old_file_for_undo(project_dir: Path, photo: Path) -> None:
    project, notes = studio.update_character(project_dir, "leo", SETTINGS, name="Leon", photo=photo, color="rgb(10, 20, 30)")
    leo = project.character("leo")
    assert leo.name == "Leon" and leo.color == "#0a141e" and leo.reference != "cast/leo.png"
    assert (project_dir / leo.reference).is_file()
    assert (project_dir / "cast" / "leo.png").exists()  # until the undo history lets go of it (test_history.py)


def test_switching_style_makes_draft_panels_stale_and_switching_back_selects_the_earlier_takes(project_dir: Path) -> None:
    """Issue 12 item 4: the style is drawn in draft art; a take rendered again was not selected (journal skip)."""
    engine = DraftEngine()
    list(studio.iter_render(project_dir, engine, SETTINGS))
    first = {p.id: p.selected_take for p in load_project(project_dir).panels}
    studio.set_style(project_dir, "noir")
    assert set(studio.panel_states(project_dir, load_project(project_dir), engine, SETTINGS).values()) == {"stale"}
    list(studio.iter_render(project_dir, engine, SETTINGS))
    noir = load_project(project_dir).panels[0].selected_take
    assert noir != first["p1"]
    pixels = np.asarray(Image.open(project_dir / noir.file).convert("RGB")).astype(int)
    assert (pixels.max(axis=2) - pixels.min(axis=2)).max() <= 2, "noir draft art is black and white"
    studio.set_style(project_dir, "ink-comic")
    list(studio.iter_render(project_dir, engine, SETTINGS))
    project = load_project(project_dir)
    assert {p.id: p.selected_take for p in project.panels} == first
    assert set(studio.panel_states(project_dir, project, engine, SETTINGS).values()) == {"current"}


def test_remove_character_takes_them_out_of_panels(project_dir: Path) -> None:
    project = studio.remove_character(project_dir, "leo")
    p2 = project.panel("p2")
    assert p2.characters == ("mia",) and p2.prompt == "{mia} and Leo talk"
    assert p2.balloons[0].speaker is None  # Leo's line is now off-panel
    assert (project_dir / "cast" / "leo.png").exists()  # undo can bring Leo back


def test_face_check_in_draft_mode_says_it_needs_the_face_model(project_dir: Path) -> None:
    check = studio.face_check(project_dir, "mia", DraftEngine())
    assert check.status == "unavailable" and "needs the face model" in check.message and check.box is None


def test_face_check_with_an_encoder_reports_the_box_or_no_face(project_dir: Path) -> None:
    from storyboard.errors import EngineError

    class Encoding:
        face_box = (10.0, 12.0, 40.0, 50.0)
        warnings = ("2 faces in the photo; the largest is used.",)

    class Encoder:
        def __init__(self, face: bool) -> None:
            self.face = face

        def encode(self, ref, face_only: bool = False):
            assert face_only and ref.reference == project_dir / "cast" / "mia.png"
            if not self.face:
                raise EngineError("No face found in the reference photo of Mia. Use a clear, front-facing photo.")
            return Encoding()

    class Engine:
        name = "storymaker"

        def __init__(self, face: bool) -> None:
            self.encoder = Encoder(face)

    found = studio.face_check(project_dir, "mia", Engine(True))
    assert found.status == "found" and found.box == (10.0, 12.0, 40.0, 50.0) and "largest" in found.message
    picture = studio.face_preview(project_dir, "mia", found)
    assert picture.getpixel((10, 30)) == (228, 87, 46)  # the box in Mia's colour
    missing = studio.face_check(project_dir, "mia", Engine(False))
    assert missing.status == "none" and "No face found" in missing.message


def test_panel_list_add_duplicate_move_delete(project_dir: Path) -> None:
    project, pid = studio.add_panel(project_dir, "{leo} waves", SETTINGS, ["leo"], "close-up", after="p1")
    assert [p.id for p in project.panels] == ["p1", pid, "p2", "p3"] and pid == "p4"
    project, copy = studio.duplicate_panel(project_dir, "p2", SETTINGS)
    assert [p.id for p in project.panels] == ["p1", "p4", "p2", copy, "p3"]
    assert project.panel(copy).pose == project.panel("p2").pose  # pose files never change in place: shared safely
    project = studio.move_panel(project_dir, "p3", -10)
    assert project.panels[0].id == "p3"
    project = studio.delete_panel(project_dir, copy)
    assert copy not in [p.id for p in project.panels] and not (project_dir / "poses" / f"{copy}.json").exists()
    assert [p.id for p in load_project(project_dir).panels] == ["p3", "p1", "p4", "p2"]


@pytest.mark.parametrize("changes, message", [
    ({"characters": ["mia", "leo", "mia2", "leo2", "mia3"]}, "at most 4"),  # issue 15 item 5
    ({"prompt": "   "}, "the prompt is empty"),
    ({"prompt": "{ghost} sneaks"}, "not in the cast"),
    ({"shot": "drone"}, "not a shot type"),
    ({"seed": -1}, "seed must be"),
    ({"duration": -2}, "positive number"),
    ({"colour": "red"}, "Unknown panel field"),
])
def test_bad_panel_edits_change_nothing(project_dir: Path, photo: Path, changes: dict, message: str) -> None:
    studio.add_character(project_dir, "Mia2", photo, SETTINGS)
    before = snapshot(project_dir)
    with pytest.raises(StoryboardError, match=message):
        studio.update_panel(project_dir, "p1", **changes)
    assert snapshot(project_dir) == before


def test_empty_prompt_refused_when_adding(project_dir: Path) -> None:
    before = snapshot(project_dir)
    with pytest.raises(studio.StudioError, match="prompt is empty"):
        studio.add_panel(project_dir, "", SETTINGS)
    assert snapshot(project_dir) == before


def test_update_panel_fields_and_recast_pose(project_dir: Path) -> None:
    project = studio.update_panel(project_dir, "p2", characters=["leo", "mia"], caption="Later.", seed=7, seed_locked=True,
                                  duration=3, notes="pan left")
    p2 = project.panel("p2")
    assert (p2.characters, p2.caption, p2.seed, p2.seed_locked, p2.duration, p2.notes) == (
        ("leo", "mia"), "Later.", 7, True, 3.0, "pan left")
    from storyboard.poses import read_pose

    assert [p.character for p in read_pose(project_dir / p2.pose).people] == ["leo", "mia"]
    assert [p.character for p in read_pose(project_dir / "poses" / "p2.json").people] == [None, None]  # for undo


def test_balloons_add_update_remove(project_dir: Path) -> None:
    project = studio.add_balloon(project_dir, "p3", "Anyone here?", "mia", "whisper")
    assert project.panel("p3").balloons[-1].kind == "whisper"
    project = studio.update_balloon(project_dir, "p3", 0, "Hello?", None, "shout")
    assert project.panel("p3").balloons[0].text == "Hello?" and project.panel("p3").balloons[0].speaker is None
    project = studio.remove_balloon(project_dir, "p3", 0)
    assert project.panel("p3").balloons == ()
    before = snapshot(project_dir)
    for call in (lambda: studio.add_balloon(project_dir, "p3", " "), lambda: studio.remove_balloon(project_dir, "p3", 5),
                 lambda: studio.add_balloon(project_dir, "p3", "Hi", "nobody")):
        with pytest.raises(StoryboardError):
            call()
    assert snapshot(project_dir) == before


def test_set_pose_writes_clears_and_skips_unchanged(project_dir: Path) -> None:
    from storyboard.poselibrary import library_pose

    pose = library_pose("waving").pose.with_characters(["mia"])
    project, changed = studio.set_pose(project_dir, "p1", pose)
    assert changed and project.panel("p1").pose.startswith("poses/p1-")
    written = project.panel("p1").pose
    assert studio.set_pose(project_dir, "p1", pose)[1] is False
    project, changed = studio.set_pose(project_dir, "p1", {"canvas_width": 512, "canvas_height": 768, "people": []})
    assert changed and project.panel("p1").pose is None and (project_dir / written).exists()  # kept for undo
    five = library_pose("talking").pose
    five = five.with_person(five.people[0]).with_person(five.people[1]).with_person(five.people[0])
    with pytest.raises(StoryboardError, match="the pose has 5 skeletons; a panel holds at most 4"):
        studio.set_pose(project_dir, "p1", five)


def test_style_and_page_settings(project_dir: Path) -> None:
    assert studio.set_style(project_dir, "noir").style == "noir"
    with pytest.raises(StoryboardError, match="Available styles"):
        studio.set_style(project_dir, "vaporwave")
    page = studio.set_page_settings(project_dir, "letter", "grid-2x2", "rtl").page
    assert (page.size, page.template, page.reading) == ("letter", "grid-2x2", "rtl")
    for bad in ({"size": "huge"}, {"template": "nope"}, {"reading": "up"}):
        with pytest.raises(StoryboardError):
            studio.set_page_settings(project_dir, **bad)
    previews = studio.page_previews(project_dir)
    assert len(previews) == 1 and previews[0].width == 420


def test_render_yields_each_panel_then_stale_and_variations(project_dir: Path) -> None:
    engine = DraftEngine()
    steps: list[tuple[str, int, int]] = []
    updates = list(studio.iter_render(project_dir, engine, SETTINGS, on_step=lambda *a: steps.append(a)))
    assert [u.panel_id for u in updates] == [None, "p1", "p2", "p3"] and updates[-1].done == 3
    assert (updates[0].done, updates[0].total) == (0, 3)  # first: how many will render
    assert ("p2", 4, 4) in steps
    states = studio.panel_states(project_dir, load_project(project_dir), engine, SETTINGS)
    assert set(states.values()) == {"current"}
    studio.update_panel(project_dir, "p1", prompt="{mia} misses the bus")
    assert studio.panel_states(project_dir, load_project(project_dir), engine, SETTINGS)["p1"] == "stale"
    assert [u.panel_id for u in studio.iter_render(project_dir, engine, SETTINGS)] == [None, "p1"]
    list(studio.iter_render(project_dir, engine, SETTINGS, "variations", "p3", 2))
    p3 = load_project(project_dir).panel("p3")
    assert len(p3.takes) == 3 and p3.selected == 2
    assert studio.select_take(project_dir, "p3", 0).panel("p3").selected == 0
    with pytest.raises(StoryboardError):
        list(studio.iter_render(project_dir, engine, SETTINGS, "variations", "p3", SETTINGS.max_variations + 1))


def test_render_cancel_keeps_finished_panels(project_dir: Path) -> None:
    import threading

    from storyboard.engines import RenderContext

    cancel = threading.Event()
    done = []
    with pytest.raises(RenderCancelled):
        for update in studio.iter_render(project_dir, DraftEngine(), SETTINGS, context=RenderContext(cancel_event=cancel)):
            if update.panel_id is not None:
                done.append(update.panel_id)
                cancel.set()
    project = load_project(project_dir)
    assert done == ["p1"] and project.panel("p1").selected_take is not None and project.panel("p2").selected_take is None


def test_export_pdf_png_and_sheet(project_dir: Path, tmp_path: Path) -> None:
    engine = DraftEngine()
    pdf = studio.export(project_dir, tmp_path / "out", "pdf", engine)
    assert pdf.files[0].name == "test-story.pdf" and set(pdf.rendered) == {"p1", "p2", "p3"}
    png = studio.export(project_dir, tmp_path / "out", "png", engine)
    assert len(png.files) == 1 + png.pages and png.files[1].suffix == ".png"
    sheet = studio.export(project_dir, tmp_path / "out", "sheet", engine)
    assert sheet.files[0].name == "test-story-storyboard.pdf"
    with pytest.raises(StoryboardError, match="Unknown export"):
        studio.export(project_dir, tmp_path / "out", "gif", engine)


def test_projects_in_a_session_and_zip_round_trip(tmp_path: Path) -> None:
    session = tmp_path / "sessions" / "abc"
    first = studio.create_project(session, "Rainy Monday")
    sample = studio.open_sample(session)
    assert first.name == "rainy-monday" and sample.name == "sample-rainy-monday"
    assert load_project(first).panels == () and len(load_project(sample).panels) >= 6
    assert studio.open_sample(session) == sample, "opening the sample again keeps the user's copy"
    second = studio.create_project(session, "Rainy Monday")
    assert second.name == "rainy-monday-2"
    assert [title for title, _ in studio.list_projects(session)][0] == "Rainy Monday"
    archive = studio.export_project_zip(first, tmp_path / "exports")
    imported = studio.import_project(session, archive, SETTINGS)
    assert load_project(imported).title == "Rainy Monday"
    with pytest.raises(StoryboardError, match="not one of this session's projects"):
        studio.check_inside(tmp_path / "sessions" / "other", first)
    with pytest.raises(StoryboardError, match="title"):
        studio.create_project(session, "  ")


@pytest.mark.parametrize("content", [b"PK\x03\x04 broken", b"not a zip at all"])
def test_broken_zip_is_refused_and_leaves_nothing(tmp_path: Path, content: bytes) -> None:
    session = tmp_path / "session"
    studio.create_project(session, "Keep me")
    before = sorted(p.name for p in session.iterdir())
    bad = tmp_path / "broken.zip"
    bad.write_bytes(content)
    with pytest.raises(StoryboardError, match="broken.zip"):
        studio.import_project(session, bad, SETTINGS)
    assert sorted(p.name for p in session.iterdir()) == before


def test_zip_without_story_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "hello")
    bad = tmp_path / "empty.zip"
    bad.write_bytes(buffer.getvalue())
    with pytest.raises(StoryboardError, match="no story.yaml"):
        studio.import_project(tmp_path / "session", bad, SETTINGS)
    assert not any((tmp_path / "session").iterdir())


def test_space_limits_from_settings(project_dir: Path, photo: Path) -> None:
    space = load_settings({"SPACE_ID": "someone/studio"})
    assert space.on_space and space.max_panels == 24 and space.max_render_side == 1024
    assert studio.render_options(space).max_side == 1024 and studio.render_options(SETTINGS).max_side is None
    tight = load_settings({"STORYBOARD_MAX_PANELS": "3", "STORYBOARD_MAX_CAST": "2"})
    with pytest.raises(StoryboardError, match="most this studio allows"):
        studio.add_panel(project_dir, "one more", tight)
    with pytest.raises(StoryboardError, match="cast is full"):
        studio.add_character(project_dir, "Third", photo, tight)
    with pytest.raises(SettingsError, match="STORYBOARD_MAX_PANELS"):
        load_settings({"STORYBOARD_MAX_PANELS": "lots"})
    with pytest.raises(SettingsError, match="out of range"):
        load_settings({"STORYBOARD_MAX_PANELS": "0"})


def test_engine_holder_says_what_runs_before_loading(tmp_path: Path) -> None:
    """Issue 7: the banner says which engine will run, and why draft mode, before anything loads."""
    from storyboard.engine_holder import EngineHolder

    assert "chosen with --engine draft" in EngineHolder("draft").status()
    auto = EngineHolder("auto", Path("/nonexistent/models"))
    assert auto.planned == "draft" and auto.status().startswith("Draft mode") and "/nonexistent/models" in auto.status()
    broken = EngineHolder("storymaker", tmp_path)  # an empty models folder: the missing parts are listed
    assert broken.planned == "storymaker" and not broken.loaded
    assert f"will not load from {tmp_path}" in broken.status() and "sdxl/" in broken.status(), broken.status()


def fake_loader(engines: list, error: str | None = None, delay_s: float = 0.0):
    """A loader standing in for StoryMaker: counts its calls, or fails like a folder with missing parts."""
    import time

    from storyboard.errors import EngineUnavailable

    def load(models_dir, download, require_gpu, **options):
        time.sleep(delay_s)
        engines.append((download, require_gpu))
        if error:
            raise EngineUnavailable(error)
        engine = DraftEngine()
        engine.name = "storymaker"
        engine.describe = lambda: "StoryMaker on a test double"
        return engine

    return load


def test_engine_holder_loads_once_on_first_use_even_from_two_threads(tmp_path: Path) -> None:
    import threading

    from storyboard.engine_holder import EngineHolder

    calls: list = []
    holder = EngineHolder("storymaker", tmp_path, loader=fake_loader(calls, delay_s=0.3))
    assert not calls and holder.current().name == "storymaker" and not holder.loaded
    threads = [threading.Thread(target=holder.get) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [(False, False)] and holder.loaded
    assert holder.status() == "StoryMaker on a test double."


def test_engine_holder_load_errors_fall_back_only_for_auto(tmp_path: Path) -> None:
    from storyboard.engine_holder import EngineHolder
    from storyboard.errors import EngineUnavailable

    calls: list = []
    chosen = EngineHolder("storymaker", tmp_path, loader=fake_loader(calls, "the storymaker/mask.bin adapter is missing"))
    with pytest.raises(EngineUnavailable, match="mask.bin"):
        chosen.get()
    assert not chosen.loaded and "could not load: the storymaker/mask.bin adapter is missing" in chosen.status()
    with pytest.raises(EngineUnavailable):
        chosen.get()  # tried again, not remembered as draft mode
    assert len(calls) == 2

    auto = EngineHolder("auto", tmp_path, loader=fake_loader(calls, "there is no GPU here"))
    auto._plan = ("storymaker", "")  # as if the models were found
    assert "load on the first render (draft mode if there is no GPU)" in auto.status()
    assert auto.get().name == "draft" and calls[-1] == (False, True)
    assert auto.status() == "Draft mode: storyboard thumbnails with stick figures. there is no GPU here."


def test_engine_holder_knows_storymakers_version_without_torch() -> None:
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    from storyboard.engine_holder import STORYMAKER_VERSION
    from storyboard.engines.storymaker.engine import StoryMakerEngine

    assert STORYMAKER_VERSION == StoryMakerEngine.version, "stale marks before loading would be wrong"


# ---------------------------------------------------------------- style overrides (issue 7, part 4)


def test_style_overrides_round_trip_and_reset(project_dir: Path) -> None:
    from storyboard.render import project_style

    project = studio.set_style_overrides(project_dir, {"steps": 30, "guidance": 6.5, "ip_adapter_scale": 0.9,
                                                       "lora_scale": 0.8})  # 0.8 is ink-comic's own: no override
    assert dict(project.style_overrides) == {"steps": 30, "guidance": 6.5, "ip_adapter_scale": 0.9}
    text = (project_dir / "story.yaml").read_text()
    assert "style_overrides:" in text and "steps: 30" in text and "lora_scale" not in text
    loaded = load_project(project_dir)
    assert loaded.style_overrides == project.style_overrides
    assert (project_style(loaded).sampler.steps, project_style(loaded).sampler.guidance) == (30, 6.5)
    project = studio.set_style_overrides(project_dir, {"steps": 25.0, "guidance": None, "pose_scale": 1.2000000000000002})
    assert dict(project.style_overrides) == {"ip_adapter_scale": 0.9, "pose_scale": 1.2}
    project = studio.reset_style_overrides(project_dir)
    assert project.style_overrides == () and "style_overrides" not in (project_dir / "story.yaml").read_text()


@pytest.mark.parametrize("overrides, message", [
    ({"steps": 0}, "steps 0 is out of range; use 1 to 150"),
    ({"ip_adapter_scale": 3.0}, "ip_adapter_scale 3.0 is out of range; use 0.0 to 2.0"),
    ({"steps": 2.5}, "steps.*must be denoising steps"),
    ({"seed": 3}, "'seed' cannot be set per project"),
    ({"pose_start": 0.9, "pose_end": 0.5}, "pose_start .* must come before pose_end"),
])
def test_bad_style_override_is_refused_and_changes_nothing(project_dir: Path, overrides: dict, message: str) -> None:
    studio.set_style_overrides(project_dir, {"steps": 30})
    before = snapshot(project_dir)
    with pytest.raises(StoryboardError, match=message):
        studio.set_style_overrides(project_dir, overrides)
    assert snapshot(project_dir) == before


def test_style_override_marks_rendered_panels_stale(project_dir: Path) -> None:
    engine = DraftEngine()
    list(studio.iter_render(project_dir, engine, SETTINGS))
    assert set(studio.panel_states(project_dir, load_project(project_dir), engine, SETTINGS).values()) == {"current"}
    studio.set_style_overrides(project_dir, {"guidance": 9.0})
    assert set(studio.panel_states(project_dir, load_project(project_dir), engine, SETTINGS).values()) == {"stale"}
    studio.reset_style_overrides(project_dir)
    assert set(studio.panel_states(project_dir, load_project(project_dir), engine, SETTINGS).values()) == {"current"}


# ---------------------------------------------------------------- painted masks (issue 7, part 2)


def painted_layer(size: tuple[int, int], box: tuple[int, int, int, int]) -> np.ndarray:
    """An RGBA layer as gr.ImageMask gives it (type='numpy'): transparent, with an orange stroke in `box`."""
    import numpy as np

    layer = np.zeros((size[1], size[0], 4), dtype=np.uint8)
    x0, y0, x1, y1 = box
    layer[y0:y1, x0:x1] = (249, 115, 22, 255)
    return layer


def test_painted_mask_becomes_a_white_on_black_png_of_the_photo_size(project_dir: Path, photo: Path) -> None:
    import numpy as np

    project, cid, _ = studio.add_character(project_dir, "Zoe", photo, SETTINGS)  # photo: 120 x 160
    half = painted_layer((60, 80), (10, 20, 30, 60))  # painted on a canvas half the photo's size
    project = studio.set_painted_mask(project_dir, cid, [None, half])
    rel = project.character(cid).mask
    assert rel.startswith(f"cast/{cid}_mask") and rel.endswith(".png")
    with Image.open(project_dir / rel) as mask:
        assert mask.mode == "L" and mask.size == (120, 160)
        pixels = np.asarray(mask)
    assert set(np.unique(pixels)) == {0, 255}
    assert pixels[40:120, 20:60].min() == 255 and pixels[:40].max() == 0 and pixels[:, 60:].max() == 0
    layer = studio.mask_layer(project_dir, cid)
    assert layer.mode == "RGBA" and layer.size == (120, 160) and layer.getchannel("A").getbbox() == (20, 40, 60, 120)
    # painting again replaces the mask file; a PIL layer works as well as numpy
    pil = Image.fromarray(painted_layer((120, 160), (0, 0, 10, 10)), "RGBA")
    again = studio.set_painted_mask(project_dir, cid, [pil]).character(cid).mask
    assert again != rel and (project_dir / again).is_file()


def test_empty_painting_is_refused_and_changes_nothing(project_dir: Path) -> None:
    before = snapshot(project_dir)
    for layers in ([], [painted_layer((120, 160), (0, 0, 0, 0))], [None]):
        with pytest.raises(studio.StudioError, match="Nothing is painted yet: brush over Mia"):
            studio.set_painted_mask(project_dir, "mia", layers)
    with pytest.raises(StoryboardError, match="no character 'nobody'"):
        studio.set_painted_mask(project_dir, "nobody", [painted_layer((10, 10), (0, 0, 5, 5))])
    assert snapshot(project_dir) == before


def test_clear_mask_removes_it(project_dir: Path) -> None:
    project = studio.set_painted_mask(project_dir, "leo", [painted_layer((4, 4), (0, 0, 2, 2))])
    project = studio.clear_mask(project_dir, "leo")
    assert project.character("leo").mask is None
    assert load_project(project_dir).character("leo").mask is None
    assert studio.mask_layer(project_dir, "leo") is None


def test_cancel_registry_is_per_session() -> None:
    registry = studio.CancelRegistry()
    a, b = registry.fresh("a"), registry.fresh("b")
    registry.cancel("a")
    assert a.is_set() and not b.is_set()
    assert not registry.fresh("a").is_set()


def test_storyboard_never_imports_gradio() -> None:
    import subprocess
    import sys

    code = "import sys, storyboard.studio, storyboard.settings; print('gradio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent).stdout.strip()
    assert out == "False"


def test_take_captions_show_scores_and_panel_labels_flag_drift() -> None:
    """Issue 8 in the UI: scores per take in the gallery, drifted panels flagged in the list."""
    from storyboard.model import Panel, Project, Take
    from ui.render_area import panel_label, take_caption

    good = Take(file="a.png", seed=1, engine="storymaker", scores=(("face_sim", 0.71), ("clip_i", 0.8), ("clip_t", 24.3)))
    drifted = Take(file="b.png", seed=2, engine="storymaker", scores=(("face_sim", 0.1), ("clip_i", 0.8), ("clip_t", 24.3)))
    assert take_caption(0, 0, good, ("mia",)) == "✓ take 1 · seed 1 · Face Sim 0.71 · CLIP-I 0.80 · CLIP-T 24.3"
    assert "DRIFT" in take_caption(1, 0, drifted, ("mia",))
    assert take_caption(0, None, Take(file="c.png", seed=3, engine="draft")) == "take 1 · seed 3"
    project = Project(title="t")
    ok = Panel(id="p1", prompt="x", characters=(), takes=(good,), selected=0)
    bad = Panel(id="p2", prompt="x", characters=(), takes=(good, drifted), selected=1)
    assert "drift" not in panel_label(1, ok, project, "current")
    assert "⚠ drift" in panel_label(2, bad, project, "current")


@pytest.mark.parametrize("panel_id", ["p1", "p2"])  # p2's seed is locked
def test_choosing_a_take_keeps_the_panel_current_and_the_next_render_keeps_it(project_dir: Path, panel_id: str) -> None:
    """Issue 12: choosing take 2 of 3 variations marked the panel 'inputs changed'; the next render switched it back."""
    engine = DraftEngine()
    list(studio.iter_render(project_dir, engine, SETTINGS))
    list(studio.iter_render(project_dir, engine, SETTINGS, "variations", panel_id, 3))
    before = load_project(project_dir).panel(panel_id)
    states = studio.panel_states(project_dir, load_project(project_dir), engine, SETTINGS)
    assert states[panel_id] == "current", "the last variation, just rendered, is current"
    for index in (2, 0, 1):
        panel = studio.select_take(project_dir, panel_id, index).panel(panel_id)
        chosen = before.takes[index]
        assert panel.selected_take == chosen
        assert panel.seed == (before.seed if before.seed_locked else chosen.seed), "the seed follows unless locked"
        states = studio.panel_states(project_dir, load_project(project_dir), engine, SETTINGS)
        assert states[panel_id] == "current", f"choosing take {index + 1} made the panel stale"
    updates = list(studio.iter_render(project_dir, engine, SETTINGS))
    assert [u.panel_id for u in updates] == [None], "nothing to render"
    after = load_project(project_dir).panel(panel_id)
    assert after.takes == before.takes and after.selected_take == before.takes[1]
    # A seed typed by hand on an unlocked panel still asks for a render.
    if not before.seed_locked:
        studio.update_panel(project_dir, panel_id, seed=5)
        assert studio.panel_states(project_dir, load_project(project_dir), engine, SETTINGS)[panel_id] == "stale"
