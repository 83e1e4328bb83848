"""Exchange from the studio (issue 14 item 5): a Fountain screenplay or Storyboarder boards in, CBZ and Storyboarder out.

Driven through gradio_client as a script would (api names import_script, import_storyboarder and the export
choices of /export); refusals name the user's file and change nothing. One app server (draft engine) for the module.
"""

from __future__ import annotations

import json
import os
import textwrap
import zipfile
from pathlib import Path

import pytest
from conftest import snapshot
from storyboard.engines.draft import DraftEngine
from storyboard.storyfile import load_project

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

# An independent script (not the shipped sample): two scenes, a new speaker, a whisper, a voice-over, an off-panel line.
SCRIPT = textwrap.dedent(
    """\
    Title: The Night Ferry
    Author: A Tester

    EXT. HARBOUR - NIGHT

    Wide shot: a small ferry waits at the quay in the fog.

    MARTA
    We missed the last one.

    JONAS
    (whispering)
    Not yet. Look.

    INT. FERRY CABIN - NIGHT

    CLOSE ON Marta's ticket, soaked by the rain.

    CAPTAIN (V.O.)
    All aboard for the island.

    JONAS (O.S.)
    Marta, hurry!
    """
)


@pytest.fixture(scope="module")
def server(app: tuple[str, Path]) -> tuple[str, Path]:
    """The studio served for this module (conftest's app)."""
    return app


def client_for(url: str):
    from gradio_client import Client

    return Client(url, verbose=False)


def project_of(workspace: Path, folder: str) -> Path:
    (root,) = [p.parent for p in workspace.glob(f"sessions/*/{folder}/story.yaml")]
    return root


def test_the_studio_names_every_exchange_endpoint(tmp_path: Path) -> None:
    from ui.studio import build_studio

    demo = build_studio(DraftEngine(), tmp_path)
    names = {fn.api_name for fn in demo.fns.values() if fn.api_name}
    assert {"import_script", "import_storyboarder", "export"} <= names


def test_a_screenplay_becomes_a_new_project_and_says_what_it_made(server, tmp_path: Path) -> None:
    from gradio_client import handle_file

    url, workspace = server
    script = tmp_path / "night-ferry.fountain"
    script.write_text(SCRIPT)
    client = client_for(url)
    _, report = client.predict(handle_file(str(script)), "new", api_name="/import_script")
    root = project_of(workspace, "the-night-ferry")
    project = load_project(root)
    assert project.title == "The Night Ferry"
    assert "Created “The Night Ferry”" in report and "from night-ferry.fountain" in report, report
    assert f"{len(project.panels)} panels as panels 1–{len(project.panels)}, in 2 scenes" in report, report
    names = {c.name for c in project.cast}
    assert {"Marta", "Jonas"} <= names and all(c.reference is None for c in project.cast)
    assert "New cast without a photo" in report and "**Marta**" in report and "**Jonas**" in report
    said = {b.text: b for p in project.panels for b in p.balloons}
    assert said["Not yet. Look."].kind == "whisper"
    assert said["We missed the last one."].speaker == project.cast[[c.name for c in project.cast].index("Marta")].id
    assert any("All aboard for the island." in p.caption for p in project.panels), "V.O. is a caption"
    assert [p.shot for p in project.panels][:1] == ["wide"] and any(p.shot == "close-up" for p in project.panels)
    # The next steps work on it: render in draft mode and export a PDF that holds the dialogue.
    files, message, _ = client.predict("pdf", api_name="/export")
    from pypdf import PdfReader

    text = " ".join(" ".join(page.extract_text().split()) for page in PdfReader(files[0]).pages)
    assert "We missed the last one." in text and "Not yet. Look." in text, text
    assert message.startswith("✓ **Exported") and "rendered first" in message


def test_a_screenplay_appends_to_the_open_project(server, tmp_path: Path) -> None:
    from gradio_client import handle_file

    url, workspace = server
    client = client_for(url)
    client.predict("Ferry Book", api_name="/create_project")
    client.predict("opening shot of the sea", api_name="/add_panel")
    script = tmp_path / "ferry.fountain"
    script.write_text(SCRIPT)
    _, report = client.predict(handle_file(str(script)), "open", api_name="/import_script")
    project = load_project(project_of(workspace, "ferry-book"))
    assert project.title == "Ferry Book" and project.panels[0].prompt == "opening shot of the sea"
    assert len(project.panels) > 2 and report.startswith("**Appended to “Ferry Book”** from ferry.fountain")
    assert f"as panels 2–{len(project.panels)}" in report, report


@pytest.mark.parametrize("case", ["unclosed parenthetical", "not UTF-8", "not a script"])
def test_a_bad_script_is_refused_with_its_name_and_line_and_changes_nothing(server, tmp_path: Path, case: str) -> None:
    from gradio_client import handle_file

    url, workspace = server
    client = client_for(url)
    client.predict(f"Keep {case}", api_name="/create_project")
    root = project_of(workspace, "keep-" + case.replace(" ", "-").lower())
    before = snapshot(root)
    sessions = {p.name for p in root.parent.iterdir()}
    name, content, message = {
        "unclosed parenthetical": ("broken.fountain", SCRIPT.replace("(whispering)", "(whispering"),
                                   r"broken.fountain, line 1[0-9]: the parenthetical"),
        "not UTF-8": ("latin.fountain", "EXT. CAF\xc9 - DAY\n\nA waiter.\n".encode("latin-1"),
                      "latin.fountain, line 1: this is not UTF-8"),
        "not a script": ("empty.txt", "Title: Nothing\n\n", "empty.txt has no action or dialogue"),
    }[case]
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    for into in ("new", "open"):
        with pytest.raises(Exception, match=message):
            client.predict(handle_file(str(path)), into, api_name="/import_script")
    assert snapshot(root) == before
    assert {p.name for p in root.parent.iterdir()} == sessions, "no half-made project is left"


def test_an_upload_larger_than_the_settings_allow_is_refused(tmp_path: Path) -> None:
    from storyboard import studio
    from storyboard.settings import load_settings

    tight = load_settings({"STORYBOARD_MAX_UPLOAD_MB": "1"})
    big = tmp_path / "epic.fountain"
    big.write_text(("EXT. FIELD - DAY\n\nGrass.\n\n" * 60_000)[:1_200_000])
    with pytest.raises(studio.StudioError, match=r"epic.fountain is 1.2 MB; this studio takes uploads of up to 1 MB"):
        studio.import_script_upload(tmp_path / "session", big, tight)
    assert not (tmp_path / "session").exists() or not any((tmp_path / "session").iterdir())


def test_cbz_and_storyboarder_exports_and_the_storyboarder_round_trip(server, tmp_path: Path) -> None:
    from gradio_client import handle_file

    url, workspace = server
    client = client_for(url)
    client.predict("Boards Out", api_name="/create_project")
    client.predict("Mia", "#e4572e", "red hair", None, None, None, api_name="/add_character")
    client.predict("{mia} runs for the bus", api_name="/add_panel")
    client.predict("{mia} waves", api_name="/add_panel")
    client.predict("p1", api_name="/select_panel")
    client.predict("mia", "shout", "Wait for me!", api_name="/add_balloon")

    files, message, _ = client.predict("cbz", api_name="/export")
    assert len(files) == 1 and files[0].endswith("boards-out.cbz"), files
    assert "✓ **Exported 1 page**, panels 1–2 rendered first" in message and "ComicInfo.xml" in message, message
    with zipfile.ZipFile(files[0]) as cbz:
        assert cbz.namelist()[0] == "ComicInfo.xml" and "001.png" in cbz.namelist()

    files, message, _ = client.predict("storyboarder", api_name="/export")
    assert len(files) == 1 and files[0].endswith("boards-out-storyboarder.zip"), files
    assert "✓ **Exported 2 boards**" in message and "Storyboarder" in message, message
    with zipfile.ZipFile(files[0]) as bundle:
        names = bundle.namelist()
        board = json.loads(bundle.read("boards-out/boards-out.storyboarder"))
    assert len(board["boards"]) == 2 and sum(n.startswith("boards-out/images/") for n in names) == 6, names

    # The .zip comes back as a new project: panels with their pictures as takes, the cast and balloons whole.
    _, report = client.predict([handle_file(files[0])], "new", api_name="/import_storyboarder")
    assert "Created “Boards Out”" in report and "2 boards as panels 1–2" in report, report
    (root,) = [p.parent for p in workspace.glob("sessions/*/boards-out-2/story.yaml")]
    project = load_project(root)
    assert [p.prompt for p in project.panels] == ["{mia} runs for the bus", "{mia} waves"]
    assert all(p.selected_take is not None and (root / p.selected_take.file).is_file() for p in project.panels)
    assert project.panels[0].balloons[0].text == "Wait for me!" and project.panels[0].balloons[0].kind == "shout"

    # The .storyboarder file and its images uploaded as separate files work the same; appended to the open project.
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(files[0]) as bundle:
        bundle.extractall(unpacked)
    parts = [unpacked / "boards-out" / "boards-out.storyboarder", *sorted((unpacked / "boards-out" / "images").iterdir())]
    _, report = client.predict([handle_file(str(p)) for p in parts], "open", api_name="/import_storyboarder")
    assert report.startswith("**Appended to “Boards Out”** from boards-out.storyboarder: 2 boards as panels 3–4")
    assert len(load_project(root).panels) == 4


def test_a_broken_storyboarder_file_is_refused_by_its_name(server, tmp_path: Path) -> None:
    from gradio_client import handle_file

    url, workspace = server
    client = client_for(url)
    client.predict("Keep Boards", api_name="/create_project")
    root = project_of(workspace, "keep-boards")
    before = snapshot(root)
    folders = {p.name for p in root.parent.iterdir()}
    broken = tmp_path / "scene-12.storyboarder"
    broken.write_text('{"boards": [}')
    for into in ("new", "open"):
        with pytest.raises(Exception, match=r"scene-12.storyboarder, line 1: this is not valid JSON") as refused:
            client.predict([handle_file(str(broken))], into, api_name="/import_storyboarder")
        assert "/tmp" not in str(refused.value) and "storyboard-boards-" not in str(refused.value)
    other = tmp_path / "other.storyboarder"
    other.write_text('{"boards": []}')
    with pytest.raises(Exception, match="Upload one .storyboarder file"):
        client.predict([handle_file(str(broken)), handle_file(str(other))], "new", api_name="/import_storyboarder")
    assert snapshot(root) == before
    assert {p.name for p in root.parent.iterdir()} == folders, "no half-made project is left"
