"""The studio app: handlers work without a server, and `python app.py` serves in draft mode."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO
from storyboard.engines.draft import DraftEngine


def test_handlers_open_render_and_list_takes(tmp_path: Path) -> None:
    from ui.studio import open_sample, panel_rows, selected_takes

    root = open_sample(tmp_path)
    engine = DraftEngine()
    rows = panel_rows(root, engine)
    assert len(rows) >= 6 and all(r[-1] == "none" for r in rows)
    from storyboard.render import render_project
    from storyboard.storyfile import load_project

    render_project(Path(root), load_project(root), engine)
    assert all(r[-1] == "current" for r in panel_rows(root, engine))
    assert len(selected_takes(root)) == len(rows)
    assert open_sample(tmp_path) == root, "opening the sample again keeps the user's copy"


def test_blocks_build_with_named_endpoints(tmp_path: Path) -> None:
    from ui.studio import build_studio

    demo = build_studio(DraftEngine(), tmp_path)
    names = {fn.api_name for fn in demo.fns.values() if fn.api_name}
    assert {"open_project", "open_sample", "render", "stop"} <= names


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_app_serves_in_draft_mode(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port), "--engine", "draft", "--workspace", str(tmp_path / "ws")],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = started + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"app.py exited: {proc.stdout.read()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    assert response.status == 200
                    assert "Storyboard Studio" in response.read().decode()
                    break
            except OSError:
                if time.perf_counter() > deadline:
                    pytest.fail("app.py did not serve within 60 s")
                time.sleep(0.3)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
