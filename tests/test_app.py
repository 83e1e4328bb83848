"""The studio app (issue 7): `python app.py` serves in draft mode fast, and a script drives it through gradio_client."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from conftest import REPO, free_port
from storyboard.engines.draft import DraftEngine

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
SCRIPT_ENDPOINTS = {"create_project", "open_sample", "open_project", "import_zip", "export_zip", "add_character",
                    "save_character", "remove_character", "face_check", "add_panel", "select_panel", "update_panel",
                    "duplicate_panel", "delete_panel", "move_panel_up", "move_panel_down", "add_balloon", "update_balloon",
                    "remove_balloon", "set_pose", "select_take", "set_style", "set_page", "render", "render_all",
                    "render_panel", "render_variations", "stop", "export", "retouch"}


def test_blocks_build_with_named_endpoints(tmp_path: Path) -> None:
    from ui.studio import build_studio

    demo = build_studio(DraftEngine(), tmp_path)
    names = {fn.api_name for fn in demo.fns.values() if fn.api_name}
    assert SCRIPT_ENDPOINTS <= names
    gpu = [fn for fn in demo.fns.values()
           if fn.api_name in {"render", "render_all", "render_panel", "render_variations", "export", "retouch"}]
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
def server(app: tuple[str, Path]) -> tuple[str, Path]:
    """The studio served for this module (conftest's app)."""
    return app


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


@pytest.mark.parametrize("case", ["non-image upload", "fifth character", "empty prompt", "broken zip"])
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
    for name in ("Bo", "Cy") if case == "fifth character" else ():  # a panel holds up to 4 (issue 15 item 5)
        client.predict(name, "", "", handle_file(str(photo)), None, None, api_name="/add_character")
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
        "fifth character": (lambda: client.predict("{mia} waits", ["mia", "leo", "ana", "bo", "cy"], "medium", "", None,
                                                   None, False, "", api_name="/update_panel"), "at most 4"),
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


def _wait_until_serving(proc: subprocess.Popen, port: int, log_file: Path, limit_s: float) -> float:
    started = time.perf_counter()
    while True:
        if proc.poll() is not None:
            pytest.fail(f"app.py exited: {log_file.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                assert response.status == 200
                return time.perf_counter() - started
        except OSError:
            if time.perf_counter() - started > limit_s:
                pytest.fail(f"app.py did not serve within {limit_s} s")
            time.sleep(0.2)


def _imported(log_text: str) -> set[str]:
    return {line.rsplit("|", 1)[-1].strip() for line in log_text.splitlines() if line.startswith("import time:")}


def test_storymaker_app_serves_before_loading_and_the_first_render_loads_it(tmp_path_factory, tmp_path: Path) -> None:
    """Issue 7: `--engine storymaker --models DIR` serves at once; the first render through the API loads the models."""
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    pytest.importorskip("insightface")
    pytest.importorskip("open_clip")
    from gradio_client import Client, handle_file

    from storyboard.presets import load_style
    from storyboard.storyfile import load_project
    from tiny_models.face import MARKER_RGB
    from tiny_models.folder import build_tiny_models_dir

    models = build_tiny_models_dir(tmp_path_factory.mktemp("models"))
    photo = tmp_path / "mia.png"
    image = Image.new("RGB", (768, 640), (200, 170, 150))
    image.paste(MARKER_RGB, (284, 170, 484, 370))  # the tiny face detector's "face"
    image.save(photo)
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "STORYBOARD_MAX_RENDER_SIDE": "64"}
    log_file = tmp_path / "app.log"
    log = log_file.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-X", "importtime", "app.py", "--port", str(port), "--engine", "storymaker", "--models", str(models),
         "--workspace", str(tmp_path / "ws")],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
    )
    try:
        seconds = _wait_until_serving(proc, port, log_file, 15)
        deadline = time.perf_counter() + 5
        while "Serving at" not in log_file.read_text() and time.perf_counter() < deadline:
            time.sleep(0.1)  # the log line follows the first answer
        at_start = log_file.read_text()
        assert not {"torch", "diffusers", "insightface"} & _imported(at_start), f"models loaded before serving ({seconds:.1f} s)"
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        banner = client.predict(api_name="/engine_status")
        assert "StoryMaker" in banner and "load on the first render" in banner, banner

        client.predict("Lazy Comic", api_name="/create_project")
        client.predict("Mia", "", "", handle_file(str(photo)), None, None, api_name="/add_character")
        client.predict("{mia} waves at the bus", api_name="/add_panel")
        client.predict("p1", api_name="/select_panel")
        client.predict("{mia} waves at the bus", ["mia"], "medium", "", None, 7, False, "", api_name="/update_panel")
        sampler = load_style("ink-comic").sampler
        client.predict(2, sampler.guidance, sampler.ip_adapter_scale, sampler.lora_scale, sampler.pose_scale,
                       api_name="/set_style_overrides")
        assert not {"torch", "diffusers"} & _imported(log_file.read_text()), "editing the project must not load models"

        job = client.submit(api_name="/render")
        gallery, status = job.result(timeout=240)
        assert len(gallery) == 1 and "all up to date" in status, status
        (root,) = [p.parent for p in (tmp_path / "ws").glob("sessions/*/lazy-comic/story.yaml")]
        project = load_project(root)
        take = project.panel("p1").selected_take
        assert take is not None and take.engine == "storymaker"
        with Image.open(root / take.file) as rendered:
            assert max(rendered.size) == 64
        assert dict(project.style_overrides) == {"steps": 2}
        banner = client.predict(api_name="/engine_status")
        assert banner.startswith("**Engine:** StoryMaker on CPU"), banner
        assert "torch" in _imported(log_file.read_text())
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_style_tuning_and_painted_mask_through_the_api(server, tmp_path: Path) -> None:
    """Issue 7: per-project style overrides (Style tab) and a painted mask (Cast tab), driven as a script would."""
    import numpy as np
    from gradio_client import Client, handle_file

    from storyboard.storyfile import load_project

    url, workspace = server
    client = Client(url, verbose=False)
    client.predict("Tuned Comic", api_name="/create_project")
    (root,) = [p.parent for p in workspace.glob("sessions/*/tuned-comic/story.yaml")]

    out = client.predict(30, 6.5, 0.9, 0.8, 0.8, api_name="/set_style_overrides")
    assert "30 steps, guidance 6.5" in out[1] and "this project's own" in out[1]
    assert dict(load_project(root).style_overrides) == {"steps": 30, "guidance": 6.5, "ip_adapter_scale": 0.9}
    before = (root / "story.yaml").read_text()
    with pytest.raises(Exception, match="out of range|less than|greater than|minimum|maximum"):
        client.predict(30, 6.5, 5.0, 0.8, 0.8, api_name="/set_style_overrides")
    assert (root / "story.yaml").read_text() == before
    out = client.predict(api_name="/reset_style_overrides")
    assert load_project(root).style_overrides == () and out[2]["value"] == 25 and "default 25" in out[2]["info"]

    photo = tmp_path / "zoe.png"
    Image.new("RGB", (90, 120), (120, 160, 200)).save(photo)
    client.predict("Zoe", "", "", handle_file(str(photo)), None, None, api_name="/add_character")
    empty, stroke = tmp_path / "empty.png", tmp_path / "stroke.png"
    Image.new("RGBA", (90, 120), (0, 0, 0, 0)).save(empty)
    layer = np.zeros((120, 90, 4), dtype=np.uint8)
    layer[30:90, 20:70] = (249, 115, 22, 255)
    Image.fromarray(layer, "RGBA").save(stroke)

    def painting(path: Path) -> dict:
        return {"background": handle_file(str(photo)), "layers": [handle_file(str(path))],
                "composite": handle_file(str(photo)), "id": None}

    with pytest.raises(Exception, match="Nothing is painted yet"):
        client.predict(painting(empty), api_name="/save_painted_mask")
    assert load_project(root).character("zoe").mask is None
    client.predict(painting(stroke), api_name="/save_painted_mask")
    mask_rel = load_project(root).character("zoe").mask
    with Image.open(root / mask_rel) as mask:
        assert mask.mode == "L" and mask.size == (90, 120) and mask.getbbox() == (20, 30, 70, 90)
    client.predict(api_name="/remove_mask")
    assert load_project(root).character("zoe").mask is None and (root / mask_rel).exists()  # kept for undo


def test_retouch_a_region_of_the_chosen_take_through_the_api(server, tmp_path: Path) -> None:
    """Issue 15 item 3: paint a region over the chosen take (Panels tab) and press Retouch, as a script would."""
    import numpy as np
    from gradio_client import Client, handle_file

    from storyboard.storyfile import load_project

    url, workspace = server
    client = Client(url, verbose=False)
    client.predict("Retouch Comic", api_name="/create_project")
    photo = tmp_path / "mia.png"
    Image.new("RGB", (200, 260), (200, 120, 90)).save(photo)
    client.predict("Mia", "", "", handle_file(str(photo)), None, None, api_name="/add_character")
    client.predict("{mia} waits in the rain", api_name="/add_panel")
    client.predict("p1", api_name="/select_panel")
    client.predict("{mia} waits in the rain", ["mia"], "full", "", None, 7, False, "", api_name="/update_panel")
    client.predict(api_name="/render")
    (root,) = [p.parent for p in workspace.glob("sessions/*/retouch-comic/story.yaml")]
    take = load_project(root).panel("p1").selected_take
    old = np.asarray(Image.open(root / take.file).convert("RGB"))
    height, width = old.shape[:2]
    # the draft engine redraws the panel from its inputs now: Mia leaves the panel, and the painted part shows it
    client.predict("{mia} waits in the rain", [], "full", "", None, take.seed, False, "", api_name="/update_panel")
    empty, stroke = tmp_path / "empty.png", tmp_path / "stroke.png"
    Image.new("RGBA", (width, height), (0, 0, 0, 0)).save(empty)
    layer = np.zeros((height, width, 4), dtype=np.uint8)
    layer[:, : width * 3 // 5] = (249, 115, 22, 255)
    Image.fromarray(layer, "RGBA").save(stroke)

    def painting(path: Path) -> dict:
        return {"background": handle_file(str(root / take.file)), "layers": [handle_file(str(path))],
                "composite": handle_file(str(root / take.file)), "id": None}

    with pytest.raises(Exception, match="Nothing is painted"):
        client.predict(painting(empty), "", api_name="/retouch")
    assert len(load_project(root).panel("p1").takes) == 1
    client.predict(painting(stroke), "", api_name="/retouch")
    panel = load_project(root).panel("p1")
    assert len(panel.takes) == 2 and panel.selected == 1
    new = np.asarray(Image.open(root / panel.selected_take.file).convert("RGB"))
    assert np.array_equal(new[:, width * 3 // 4:], old[:, width * 3 // 4:]), "far from the painted region: the old take"
    assert not np.array_equal(new, old)


@pytest.mark.parametrize("caller", ["browser", "script", "no request"])
@pytest.mark.parametrize("generator", [False, True])
def test_a_refusal_is_a_toast_in_the_browser_and_an_error_for_scripts(caller: str, generator: bool) -> None:
    """Issue 12: a gr.Error put a red "Error" badge on every output of the event (23 on the Panels tab)."""
    import gradio as gr

    from storyboard.errors import StoryboardError
    from ui.common import user_errors, user_errors_gen

    def handler(value: str, request: gr.Request | None = None):
        raise StoryboardError(f"{value} is refused; do this instead.")

    def gen_handler(value: str, request: gr.Request | None = None):
        yield from ()
        raise StoryboardError(f"{value} is refused; do this instead.")

    request = {"browser": gr.Request(headers={"x-gradio-user": "app"}),
               "script": gr.Request(headers={"x-gradio-user": "api"}), "no request": None}[caller]
    wrapped = user_errors_gen(gen_handler) if generator else user_errors(handler)
    call = (lambda: list(wrapped("That", request=request))) if generator else (lambda: wrapped("That", request))
    if caller == "browser":
        with pytest.warns(UserWarning, match="That is refused"):  # gr.Warning, outside a running event
            answer = call()
        assert answer == ([gr.skip()] if generator else gr.skip()), "no output changes"
    else:
        with pytest.raises(gr.Error, match="That is refused; do this instead."):
            call()


def test_every_refusing_handler_takes_the_request_that_tells_the_browser_from_scripts() -> None:
    import ast

    missing = []
    for path in sorted((REPO / "ui").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and any(getattr(d, "id", None) in ("user_errors", "user_errors_gen")
                                                         for d in node.decorator_list):
                if "request" not in [a.arg for a in node.args.args + node.args.kwonlyargs]:
                    missing.append(f"{path.name}: {node.name}")
    assert not missing, f"these handlers cannot tell the browser from scripts: {missing}"


def test_a_character_without_a_photo_through_the_api(server, tmp_path: Path) -> None:
    """Issue 12 item 4: draft mode adds a character with just a name; the gallery shows a tile in their colour."""
    import numpy as np
    from gradio_client import Client

    from storyboard.storyfile import load_project

    url, workspace = server
    client = Client(url, verbose=False)
    client.predict("Photoless", api_name="/create_project")
    out = client.predict("Zoe", "#76b041", "tall", None, None, None, api_name="/add_character")
    (root,) = [p.parent for p in workspace.glob("sessions/*/photoless/story.yaml")]
    zoe = load_project(root).character("zoe")
    assert zoe.reference is None and zoe.color == "#76b041"
    gallery = out[0]["value"]
    assert len(gallery) == 1 and gallery[0]["caption"] == "Zoe" and "No photo of Zoe yet" in " ".join(map(str, out))
    with Image.open(gallery[0]["image"]) as tile:
        pixels = np.asarray(tile.convert("RGB")).astype(int)
    assert (np.abs(pixels - (0x76, 0xB0, 0x41)).max(axis=2) < 8).sum() > 500, "a placeholder in Zoe's colour"
    client.predict("{zoe} waves", api_name="/add_panel")
    client.predict("p1", api_name="/select_panel")
    client.predict("{zoe} waves", ["zoe"], "full", "", None, None, False, "", api_name="/update_panel")
    gallery, status = client.predict(api_name="/render")
    assert len(gallery) == 1 and "all up to date" in status
