"""The web app's own limits through a running app (issue 11 item 5): what gradio_client scripts and plain HTTP see.

Two `app.py` servers for the whole module: one whose workspace is outside its working folder and outside its
temp folder (before, app.py then served the workspace by path), one whose workspace is inside its working folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from conftest import REPO, free_port

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


@dataclass(frozen=True)
class Server:
    url: str
    workspace: Path
    label: str


def _start(tmp: Path, label: str, cwd: Path, workspace: Path, tmpdir: Path) -> tuple[subprocess.Popen, Server, Path]:
    port = free_port()
    for folder in (cwd, tmpdir):
        folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "TMPDIR": str(tmpdir)}
    env.pop("GRADIO_TEMP_DIR", None)
    log_file = tmp / f"{label}.log"
    proc = subprocess.Popen([sys.executable, str(REPO / "app.py"), "--port", str(port), "--engine", "draft",
                             "--workspace", str(workspace)],
                            cwd=cwd, env=env, stdout=log_file.open("w"), stderr=subprocess.STDOUT)
    return proc, Server(f"http://127.0.0.1:{port}/", workspace.resolve(), label), log_file


def _wait(proc: subprocess.Popen, server: Server, log_file: Path, limit_s: float = 60) -> None:
    started = time.perf_counter()
    while True:
        if proc.poll() is not None:
            pytest.fail(f"app.py ({server.label}) exited: {log_file.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(server.url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.perf_counter() - started > limit_s:
            pytest.fail(f"app.py ({server.label}) did not serve within {limit_s} s: {log_file.read_text()[-3000:]}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    tmp = tmp_path_factory.mktemp("limits")
    started = [
        # workspace beside, not inside, the server's working folder and its temp folder
        _start(tmp, "outside", tmp / "out-cwd", tmp / "out-workspace", tmp / "out-tmp"),
        # workspace inside the server's working folder (like the default, ./projects)
        _start(tmp, "inside", tmp / "in-cwd", tmp / "in-cwd" / "projects", tmp / "in-tmp"),
    ]
    try:
        for proc, server, log_file in started:
            _wait(proc, server, log_file)
        yield {server.label: server for _, server, _ in started}
    finally:
        for proc, _, _ in started:
            proc.terminate()
        for proc, _, _ in started:
            proc.wait(timeout=30)


def client(server: Server):
    from gradio_client import Client

    return Client(server.url, verbose=False)


def project_root(server: Server, folder: str) -> Path:
    (root,) = [p.parent for p in server.workspace.glob(f"sessions/*/{folder}/story.yaml")]
    return root


def get(server: Server, path: Path | str) -> int:
    """The HTTP status of GET /gradio_api/file=PATH."""
    url = f"{server.url}gradio_api/file={urllib.parse.quote(str(path))}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.parametrize("label", ["outside", "inside"])
def test_project_files_are_never_served_by_path_but_galleries_and_downloads_work(servers, label: str, tmp_path: Path) -> None:
    """Issue 11 item 5: with --workspace outside the working and temp folders, anyone could GET a story.yaml by path."""
    from pypdf import PdfReader

    server = servers[label]
    photo = tmp_path / "mia.png"
    Image.new("RGB", (200, 260), (200, 120, 90)).save(photo)
    from gradio_client import handle_file

    c = client(server)
    c.predict(f"Served {label}", api_name="/create_project")
    c.predict("Mia", "", "", handle_file(str(photo)), None, None, api_name="/add_character")
    c.predict("{mia} waits for the bus", api_name="/add_panel")
    gallery, status = c.predict(api_name="/render")
    assert len(gallery) == 1 and Path(gallery[0]["image"]).is_file(), gallery  # the gallery's image came through
    files, message, _ = c.predict("pdf", api_name="/export")
    assert "Exported 1 page" in message and len(PdfReader(files[0]).pages) == 1
    zipped = c.predict(api_name="/export_zip")
    assert Path(zipped["value"] if isinstance(zipped, dict) else zipped).stat().st_size > 0

    root = project_root(server, f"served-{label}")
    project_files = [root / "story.yaml", *root.glob("renders/*/*.png"), *root.glob("cast/*.png")]
    exports = list((root.parent / "_exports").rglob("*.*"))
    assert len(project_files) >= 3 and {p.suffix for p in exports} == {".pdf", ".zip"}
    for path in project_files + exports:
        assert get(server, path) in (403, 404), f"{path} was served by path"
    assert get(server, server.workspace / "sessions") in (403, 404)


def test_open_project_right_after_create_project_and_only_ones_own(servers) -> None:
    """A fresh script's Dropdown of projects has no choices yet; open_project takes the folder name anyway."""
    server = servers["outside"]
    c = client(server)
    c.predict("First Story", api_name="/create_project")
    c.predict("Second Story", api_name="/create_project")
    c.predict("first-story", api_name="/open_project")
    c.predict("the empty office", api_name="/add_panel")
    assert [p.id for p in _load(project_root(server, "first-story")).panels] == ["p1"]
    assert _load(project_root(server, "second-story")).panels == ()

    with pytest.raises(Exception, match="'nowhere' is not one of this session's projects"):
        c.predict("nowhere", api_name="/open_project")
    with pytest.raises(Exception, match="'_exports' is not one of this session's projects"):
        c.predict("_exports", api_name="/open_project")
    other = client(server)
    with pytest.raises(Exception, match="not one of this session's projects"):
        other.predict("first-story", api_name="/open_project")


def test_select_panel_right_after_open_sample(servers) -> None:
    """A fresh script's Radio of panels has no choices yet; select_panel takes the panel id anyway."""
    c = client(servers["inside"])
    c.predict(api_name="/open_sample")
    out = c.predict("p2", api_name="/select_panel")
    assert any(isinstance(v, str) and "`p2`" in v for v in out), out
    c.predict("{mia} runs, umbrella first", ["mia"], "wide", "Later.", None, 5, False, "", api_name="/update_panel")
    sample = project_root(servers["inside"], "sample-rainy-monday")
    panel = _load(sample).panel("p2")
    assert (panel.prompt, panel.caption, panel.seed) == ("{mia} runs, umbrella first", "Later.", 5)
    with pytest.raises(Exception, match="There is no panel 'p99'"):
        c.predict("p99", api_name="/select_panel")


def test_texts_over_their_limits_are_refused_through_the_api_and_nothing_is_saved(servers) -> None:
    server = servers["inside"]
    c = client(server)
    c.predict("Limits", api_name="/create_project")
    c.predict("the empty office", api_name="/add_panel")
    root = project_root(server, "limits")
    before = (root / "story.yaml").read_bytes()
    with pytest.raises(Exception, match=r"title is 5,000,000 characters long; the most is 120"):
        c.predict("x" * 5_000_000, api_name="/rename_project")
    with pytest.raises(Exception, match=r"prompt of panel p1 is 2,000,000 characters long; the most is 1,000"):
        c.predict("y" * 2_000_000, [], "medium", "", None, None, False, "", api_name="/update_panel")
    with pytest.raises(Exception, match=r"balloon text in panel p1 is 501 characters long; the most is 500"):
        c.predict("", "speech", "z" * 501, api_name="/add_balloon")
    with pytest.raises(Exception, match=r"between 50 and 1200 mm"):
        c.predict("5000x5000mm", "auto", "ltr", api_name="/set_page")
    assert (root / "story.yaml").read_bytes() == before
    c.predict("200x280mm", "auto", "ltr", api_name="/set_page")  # a size of one's own works through the API
    assert _load(root).page.size == "200x280mm"


def _load(root: Path):
    from storyboard.storyfile import load_project

    return load_project(root)
