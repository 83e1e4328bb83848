"""The studio app (issue 7): `python app.py` serves in draft mode fast, and a script drives it through gradio_client."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from conftest import REPO
from storyboard.engines.draft import DraftEngine

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
SCRIPT_ENDPOINTS = {"create_project", "open_sample", "open_project", "import_zip", "export_zip", "add_character",
                    "save_character", "remove_character", "face_check", "add_panel", "select_panel", "update_panel",
                    "duplicate_panel", "delete_panel", "move_panel_up", "move_panel_down", "add_balloon", "update_balloon",
                    "remove_balloon", "set_pose", "select_take", "set_style", "set_page", "render", "render_all",
                    "render_panel", "render_variations", "stop", "export"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_blocks_build_with_named_endpoints(tmp_path: Path) -> None:
    from ui.studio import build_studio

    demo = build_studio(DraftEngine(), tmp_path)
    names = {fn.api_name for fn in demo.fns.values() if fn.api_name}
    assert SCRIPT_ENDPOINTS <= names
    gpu = [fn for fn in demo.fns.values() if fn.api_name in {"render", "render_all", "render_panel", "render_variations", "export"}]
    assert all(fn.concurrency_id == "gpu" and fn.concurrency_limit == 1 for fn in gpu)


def test_app_serves_in_draft_mode_quickly_without_torch(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    log = (tmp_path / "app.log").open("w")  # a file, not a pipe: -X importtime writes a lot
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-X", "importtime", "app.py", "--port", str(port), "--engine", "draft", "--workspace", str(tmp_path / "ws")],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
    )
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"app.py exited: {(tmp_path / 'app.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    assert response.status == 200 and "Storyboard Studio" in response.read().decode()
                    break
            except OSError:
                if time.perf_counter() - started > 15:
                    pytest.fail("app.py did not serve within 15 s")
                time.sleep(0.2)
        from gradio_client import Client

        api = Client(f"http://127.0.0.1:{port}/", verbose=False).view_api(return_format="dict", print_info=False)
        assert len(api["named_endpoints"]) >= 5
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
    output = (tmp_path / "app.log").read_text()
    assert "Serving at" in output
    imported = {line.rsplit("|", 1)[-1].strip() for line in output.splitlines() if line.startswith("import time:")}
    assert not {"torch", "diffusers", "insightface", "open_clip"} & imported, "heavy ML libraries must load lazily"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    from ui.studio import build_studio, launch_options

    workspace = tmp_path_factory.mktemp("ws")
    demo = build_studio(DraftEngine(), workspace)
    port = free_port()
    demo.queue()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **launch_options(demo.studio_context))
    yield f"http://127.0.0.1:{port}/", workspace
    demo.close()


def test_a_script_makes_a_comic_through_the_api(server, tmp_path: Path) -> None:
    from gradio_client import Client, handle_file
    from pypdf import PdfReader

    url, workspace = server
    photo = tmp_path / "mia.png"
    Image.new("RGB", (200, 260), (200, 120, 90)).save(photo)
    client = Client(url, verbose=False)
    client.predict("API Comic", api_name="/create_project")
    for name in ("Mia", "Leo"):
        client.predict(name, "", "", handle_file(str(photo)), None, None, api_name="/add_character")
    client.predict("{mia} and {leo} wait for the bus", api_name="/add_panel")
    client.predict("{mia} waves", api_name="/add_panel")
    client.predict("p1", api_name="/select_panel")
    client.predict("{mia} and {leo} wait for the bus", ["mia", "leo"], "wide", "Monday.", None, 42, True, "",
                   api_name="/update_panel")
    client.predict("mia", "shout", "Wait!", api_name="/add_balloon")
    gallery, status = client.predict(api_name="/render")
    assert len(gallery) == 2 and "all up to date" in status
    files, message, _ = client.predict("pdf", api_name="/export")
    reader = PdfReader(files[0])
    text = " ".join(" ".join(page.extract_text().split()) for page in reader.pages)
    assert "Wait!" in text and "Monday." in text

    from storyboard.storyfile import load_project

    (root,) = [p.parent for p in workspace.glob("sessions/*/api-comic/story.yaml")]
    project = load_project(root)
    assert [c.id for c in project.cast] == ["mia", "leo"]
    p1 = project.panel("p1")
    assert (p1.characters, p1.shot, p1.seed, p1.seed_locked, p1.caption) == (("mia", "leo"), "wide", 42, True, "Monday.")

    # A second user (another client session) sees none of it, and project files cannot be fetched by path.
    other = Client(url, verbose=False)
    with pytest.raises(Exception, match="not one of this session.s projects|Pick one|not in the list of choices"):
        other.predict("api-comic", api_name="/open_project")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{url}gradio_api/file={root / 'story.yaml'}")
    assert refused.value.code == 403


@pytest.mark.parametrize("case", ["non-image upload", "third character", "empty prompt", "broken zip"])
def test_bad_input_through_the_api_gets_a_clear_message_and_changes_nothing(server, tmp_path: Path, case: str) -> None:
    from gradio_client import Client, handle_file

    url, workspace = server
    client = Client(url, verbose=False)
    client.predict(f"Bad {case}", api_name="/create_project")
    photo = tmp_path / "ok.png"
    Image.new("RGB", (100, 120), "white").save(photo)
    client.predict("Mia", "", "", handle_file(str(photo)), None, None, api_name="/add_character")
    client.predict("Leo", "", "", handle_file(str(photo)), None, None, api_name="/add_character")
    client.predict("Ana", "", "", handle_file(str(photo)), None, None, api_name="/add_character")
    client.predict("{mia} waits", api_name="/add_panel")
    client.predict("p1", api_name="/select_panel")
    slug = "bad-" + case.replace(" ", "-")
    (root,) = [p.parent for p in workspace.glob(f"sessions/*/{slug}/story.yaml")]
    before = (root / "story.yaml").read_text()
    text = tmp_path / "notes.jpg"
    text.write_text("not a picture")
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 not really")
    calls = {
        "non-image upload": (lambda: client.predict("Zoe", "", "", handle_file(str(text)), None, None,
                                                    api_name="/add_character"), "notes.jpg is not an image"),
        "third character": (lambda: client.predict("{mia} waits", ["mia", "leo", "ana"], "medium", "", None, None, False,
                                                   "", api_name="/update_panel"), "at most 2"),
        "empty prompt": (lambda: client.predict("", ["mia"], "medium", "", None, None, False, "",
                                                api_name="/update_panel"), "prompt is empty"),
        "broken zip": (lambda: client.predict(handle_file(str(broken)), api_name="/import_zip"), "not a readable .zip"),
    }
    call, message = calls[case]
    with pytest.raises(Exception, match=message):
        call()
    assert (root / "story.yaml").read_text() == before
    sessions = {p.name for p in root.parent.iterdir()}
    assert all(not name.startswith("broken") for name in sessions)
