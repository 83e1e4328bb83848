"""Rendering on a Ray cluster (issue 16): one local 2-CPU cluster for the module, loopback only.

The cluster renders the same images as a local render for the same seeds (draft, and StoryMaker on the tiny
random-weight models), a worker killed mid-panel loses nothing, a cancel stops every worker, the cast is
encoded once per character for all workers, and the CLI says how to install Ray when it is missing.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO, SAMPLE
from storyboard.engines import RenderContext, RenderRequest, RenderResult
from storyboard.engines.draft import DraftEngine
from storyboard.errors import RenderCancelled, StoryboardError
from storyboard.journal import JOURNAL_FILE
from storyboard.render import PanelEvent, RenderOptions, render_project
from storyboard.storyfile import load_project

HAS_RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(not HAS_RAY, reason='Ray is not installed (pip install -e ".[cluster]")')


# ------------------------------------------------------------------ engines the workers build (sent by value)


class DiesOnce:
    """The draft engine, but the worker that first renders `panel_id` dies there (kill -9), mid-render."""

    def __init__(self, panel_id: str, folder: str) -> None:
        self.inner = DraftEngine()
        self.name, self.version = self.inner.name, self.inner.version
        self.panel_id, self.folder = panel_id, Path(folder)

    def describe(self) -> str:
        return self.inner.describe()

    def render(self, request: RenderRequest, context: RenderContext) -> RenderResult:
        if request.panel_id == self.panel_id:
            try:
                fd = os.open(self.folder / f"killed-{request.panel_id}", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pass
            else:
                os.close(fd)
                os.kill(os.getpid(), signal.SIGKILL)
        return self.inner.render(request, context)


class CancelProbe:
    """The draft engine, but `first` waits until another panel has started, and every other panel takes 20 s in
    steps that look for a cancel; files in `folder` say which panels started and which saw the cancel."""

    def __init__(self, first: str, folder: str) -> None:
        self.inner = DraftEngine()
        self.name, self.version = self.inner.name, self.inner.version
        self.first, self.folder = first, Path(folder)

    def describe(self) -> str:
        return self.inner.describe()

    def render(self, request: RenderRequest, context: RenderContext) -> RenderResult:
        if request.panel_id == self.first:
            deadline = time.monotonic() + 30
            while not list(self.folder.glob("started-*")) and time.monotonic() < deadline:
                time.sleep(0.05)
        else:
            (self.folder / f"started-{request.panel_id}").touch()
            for _ in range(400):
                if context.cancelled():
                    (self.folder / f"cancelled-{request.panel_id}").touch()
                    context.check_cancelled()
                time.sleep(0.05)
        return self.inner.render(request, context)


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def ray_cluster():
    """One local Ray cluster for the module: 2 CPUs, loopback only, no dashboard, no usage reports."""
    if not HAS_RAY:
        pytest.skip("Ray is not installed")
    from storyboard.cluster import import_ray

    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the workers inherit it: nothing downloads
    ray = import_ray(local=True)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    yield ray
    ray.shutdown()


def copy_sample(dest: Path, copies: int = 1) -> Path:
    """The sample, or a longer story: its panels `copies` times, with new ids and seeds."""
    shutil.copytree(SAMPLE, dest)
    if copies > 1:
        story = yaml.safe_load((dest / "story.yaml").read_text())
        panels = story["panels"]
        story["panels"] = [dict(copy.deepcopy(p), id=f"{p['id']}-{k}", seed=p["seed"] + 1000 * k)  # no YAML aliases
                           for k in range(copies) for p in panels]
        (dest / "story.yaml").write_text(yaml.safe_dump(story, sort_keys=False))
    return dest


def images(root: Path) -> dict[str, tuple[str, bytes]]:
    """Each panel's selected take: its file name and bytes."""
    project = load_project(root)
    return {p.id: (p.selected_take.file, (root / p.selected_take.file).read_bytes())
            for p in project.panels if p.selected_take is not None}


def render_locally(root: Path, engine=None, **kwargs) -> dict[str, tuple[str, bytes]]:
    render_project(root, load_project(root), engine or DraftEngine(), **kwargs)
    return images(root)


def assert_story_valid(root: Path, panels: int) -> None:
    project = load_project(root)
    assert not (root / JOURNAL_FILE).exists(), "every take is folded into story.yaml"
    assert len(project.panels) == panels
    for panel in project.panels:
        assert len(panel.takes) == 1 and panel.selected == 0, panel.id
        assert (root / panel.takes[0].file).is_file()


# ------------------------------------------------------------------ tests


@needs_ray
def test_draft_on_two_workers_renders_the_local_images(ray_cluster, tmp_path: Path) -> None:
    from storyboard.cluster import render_on_cluster

    local = render_locally(copy_sample(tmp_path / "local"))
    root = copy_sample(tmp_path / "cluster")
    events: list[PanelEvent] = []
    render_on_cluster(root, load_project(root), "draft", workers=2, on_panel=events.append)
    assert images(root) == local
    assert sorted(e.index for e in events) == list(range(1, len(local) + 1))
    assert {e.status for e in events} == {"rendered"}
    assert_story_valid(root, len(local))
    # up to date: nothing is sent to the workers again
    again: list[PanelEvent] = []
    render_on_cluster(root, load_project(root), "draft", workers=2, on_panel=again.append)
    assert {e.message for e in again} == {"up to date"} and images(root) == local


@needs_ray
def test_variations_on_the_cluster_are_the_local_variations(ray_cluster, tmp_path: Path) -> None:
    from storyboard.cluster import render_on_cluster
    from storyboard.render import render_variations

    local_root = copy_sample(tmp_path / "local")
    for pid in ("p2", "p4"):
        render_variations(local_root, load_project(local_root), DraftEngine(), pid, 3)
    root = copy_sample(tmp_path / "cluster")
    render_on_cluster(root, load_project(root), "draft", panel_ids=["p2", "p4"], workers=2, variations=3)
    for pid in ("p2", "p4"):
        mine, theirs = load_project(root).panel(pid), load_project(local_root).panel(pid)
        assert sorted(t.file for t in mine.takes) == sorted(t.file for t in theirs.takes)
        assert mine.selected_take.file == theirs.selected_take.file and mine.seed == theirs.seed
        for take in mine.takes:
            assert (root / take.file).read_bytes() == (local_root / take.file).read_bytes()


@needs_ray
def test_a_killed_worker_loses_nothing_its_panel_is_rendered_again(ray_cluster, tmp_path: Path) -> None:
    from storyboard.cluster import render_on_cluster

    local = render_locally(copy_sample(tmp_path / "local"))
    root = copy_sample(tmp_path / "cluster")
    marks = tmp_path / "marks"
    marks.mkdir()
    events: list[PanelEvent] = []
    render_on_cluster(root, load_project(root), "draft", workers=2, on_panel=events.append,
                      engine_factory=functools.partial(DiesOnce, "p4", str(marks)))
    assert (marks / "killed-p4").exists(), "the worker rendering p4 was killed"
    assert [e.message for e in events if e.panel_id == "p4"] == ["rendered again after its worker died"]
    assert images(root) == local
    assert_story_valid(root, len(local))


@needs_ray
def test_forty_panels_with_a_worker_killed_mid_run(ray_cluster, tmp_path: Path) -> None:
    """The issue's check: a 40-panel copy of the sample, 2 workers, one killed mid-run: 40 takes, the local images."""
    from storyboard.cluster import render_on_cluster

    local = render_locally(copy_sample(tmp_path / "local", copies=5))
    assert len(local) == 40
    root = copy_sample(tmp_path / "cluster", copies=5)
    marks = tmp_path / "marks"
    marks.mkdir()
    events: list[PanelEvent] = []
    render_on_cluster(root, load_project(root), "draft", workers=2, on_panel=events.append,
                      engine_factory=functools.partial(DiesOnce, "p4-2", str(marks)))
    assert (marks / "killed-p4-2").exists()
    assert sum(e.status == "rendered" for e in events) == 40
    assert images(root) == local
    assert_story_valid(root, 40)


@needs_ray
def test_cancel_stops_every_worker_and_records_nothing_after_it(ray_cluster, tmp_path: Path) -> None:
    from storyboard.cluster import render_on_cluster

    root = copy_sample(tmp_path / "cluster")
    marks = tmp_path / "marks"
    marks.mkdir()
    cancel = threading.Event()
    events: list[PanelEvent] = []

    def on_panel(event: PanelEvent) -> None:
        events.append(event)
        cancel.set()  # after the first panel

    started = time.monotonic()
    with pytest.raises(RenderCancelled):
        render_on_cluster(root, load_project(root), "draft", workers=2, on_panel=on_panel,
                          context=RenderContext(cancel_event=cancel),
                          engine_factory=functools.partial(CancelProbe, "p1", str(marks)))
    assert time.monotonic() - started < 18, "the slow panel (20 s) was stopped, not waited for"
    assert [e.panel_id for e in events] == ["p1"]
    running = [p.name.removeprefix("started-") for p in marks.glob("started-*")]
    assert running and all((marks / f"cancelled-{pid}").exists() for pid in running), "the busy worker saw the cancel"
    project = load_project(root)  # story.yaml is valid, with the one take finished before the cancel
    assert not (root / JOURNAL_FILE).exists()
    assert [p.id for p in project.panels if p.takes] == ["p1"]
    assert sorted(p.relative_to(root).as_posix() for p in (root / "renders").rglob("*.png")) == [project.panel("p1").takes[0].file]


@needs_ray
def test_storymaker_on_the_cluster_renders_the_local_images_encoding_each_character_once_fast_previews_too(
        ray_cluster, tmp_path_factory: pytest.TempPathFactory, caplog: pytest.LogCaptureFixture) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    pytest.importorskip("insightface")
    pytest.importorskip("open_clip")
    from storyboard.cluster import render_on_cluster
    from storyboard.engines import get_engine
    from tiny_models.folder import build_tiny_models_dir, mark_faces

    tmp = tmp_path_factory.mktemp("storymaker")
    models = build_tiny_models_dir(tmp / "models")
    options = RenderOptions(steps=2, max_side=64)
    panels = ["p1", "p3", "p4", "p5"]  # no cast, Mia, Mia and Leo posed, Leo and Mia
    roots = []
    for name in ("local", "cluster"):
        roots.append(copy_sample(tmp / name))
        mark_faces(roots[-1])
    local_root, root = roots
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each 1-CPU worker runs: float sums then come out bit for bit the same
    try:
        engine = get_engine("storymaker", models)
        local = render_locally(local_root, engine, panel_ids=panels, options=options)
    finally:
        torch.set_num_threads(threads)
    assert engine.encoder.calls == 2
    caplog.set_level(logging.INFO, logger="storyboard.cluster")
    render_on_cluster(root, load_project(root), "storymaker", models, panel_ids=panels, options=options, workers=2)
    assert images(root) == local
    made = [r.cast_encodings for r in caplog.records if hasattr(r, "cast_encodings")]
    assert made == [2], "Mia and Leo encoded once for both workers"
    kept = sorted(p.name for p in (root / ".cache" / "encodings").glob("*.safetensors"))
    assert kept == sorted(p.name for p in (local_root / ".cache" / "encodings").glob("*.safetensors")) and len(kept) == 2

    # A fast preview (the tiny step-distillation LoRA in the models folder's fast/) with an engine option: the worker
    # builds its engine with the option and reads the preset from the request, as a local render does
    from storyboard.presets import load_fast

    fast = RenderOptions(max_side=64, fast=load_fast().id)
    torch.set_num_threads(1)
    try:
        local_fast = render_locally(local_root, get_engine("storymaker", models, channels_last=True), panel_ids=["p4"],
                                    options=fast)
    finally:
        torch.set_num_threads(threads)
    caplog.clear()
    render_on_cluster(root, load_project(root), "storymaker", models, panel_ids=["p4"], options=fast, workers=1,
                      engine_options={"channels_last": True})
    assert any("Ray workers:" in r.getMessage() and "channels-last" in r.getMessage() for r in caplog.records)
    assert images(root) == local_fast and local_fast != local
    assert len(load_project(root).panel("p4").takes) == 2, "the preview is a take of its own"


@needs_ray
def test_cli_renders_on_a_running_cluster_by_its_address(ray_cluster, tmp_path: Path) -> None:
    local = render_locally(copy_sample(tmp_path / "local"))
    root = copy_sample(tmp_path / "cluster")
    address = ray_cluster.get_runtime_context().gcs_address
    result = subprocess.run([sys.executable, "-m", "storyboard", "render", str(root), "--engine", "draft", "--cluster",
                             f"ray:{address}", "--workers", "2"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "on a Ray cluster: 8 rendered" in result.stdout
    assert images(root) == local


def test_cli_without_ray_says_how_to_install_it(tmp_path: Path) -> None:
    root = copy_sample(tmp_path / "p")
    code = ("import sys; sys.modules['ray'] = None\n"  # as if Ray were not installed
            "from storyboard.cli import main\n"
            f"sys.exit(main(['render', r'{root}', '--engine', 'draft', '--cluster', 'ray']))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert 'pip install -e ".[cluster]"' in result.stderr and "Traceback" not in result.stderr
    assert not load_project(root).panels[0].takes


@pytest.mark.parametrize("args, message", [
    (["--cluster", "spark"], "--cluster takes 'ray'"),
    (["--cluster", "ray:"], "--cluster takes 'ray'"),
    (["--workers", "2"], "--workers is for --cluster"),
    (["--cluster", "ray", "--variations", "2", "--keep-best"], "--keep-best needs scores"),
])
def test_cli_refuses_bad_cluster_options_before_anything_starts(tmp_path: Path, capsys, args: list[str],
                                                                message: str) -> None:
    from storyboard.cli import main

    root = copy_sample(tmp_path / "p")
    assert main(["render", str(root), "--engine", "draft", *args]) == 2
    assert message in capsys.readouterr().err
    assert not any(p.takes for p in load_project(root).panels)


@pytest.mark.parametrize("value, address", [
    ("ray", None), ("ray:auto", "auto"), ("ray:10.0.0.5:6379", "10.0.0.5:6379"), ("ray:ray://head:10001", "ray://head:10001"),
])
def test_parse_cluster(value: str, address: str | None) -> None:
    from storyboard.cluster import parse_cluster

    assert parse_cluster(value) == address
    with pytest.raises(StoryboardError):
        parse_cluster("dask")


# ------------------------------------------------------------------ the studio's setting (app.py --cluster)


@needs_ray
def test_the_studio_render_button_renders_on_the_cluster_as_locally(ray_cluster, tmp_path: Path) -> None:
    """The Render tab with "On the Ray cluster" ticked (the app started with --cluster ray --workers 2): the
    sample's panels come back from the workers, the same images as a local render; unticked, it renders here.
    The Panels tab's variations go to the workers as well."""
    from gradio_client import Client

    from conftest import free_port
    from storyboard.studio import ClusterRender
    from ui.studio import build_studio

    local = render_locally(copy_sample(tmp_path / "local"))
    demo = build_studio(DraftEngine(), tmp_path / "ws", cluster=ClusterRender("ray", "draft", None, workers=2))
    for elem_id in ("render-cluster", "panel-cluster"):
        checkbox = next(c for c in demo.config["components"] if c["props"].get("elem_id") == elem_id)
        assert checkbox["props"]["visible"] is True and checkbox["props"]["value"] is True
    port = free_port()
    demo.queue()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        client.predict(api_name="/open_sample")
        (root,) = (tmp_path / "ws").glob("sessions/*/*/story.yaml")
        root = root.parent
        job = client.submit(False, True, api_name="/render")  # fast preview off, on the cluster
        job.result(timeout=300)
        statuses = [status for _, status in job.outputs()]
        assert "Starting the workers on a local Ray cluster (2 workers)" in statuses[0], statuses
        assert "8 of 8" in statuses[-1] and "all up to date" in statuses[-1], statuses[-1]
        assert images(root) == local
        gallery, status = client.predict(False, False, api_name="/render_all")  # unticked: this machine's engine
        assert "8 of 8" in status, status
        assert all(len(p.takes) == 1 for p in load_project(root).panels), "the same seeds: the same takes again"
        # The Panels tab's variations on the cluster too: 2 new takes of p3 (the next seeds), the last one chosen
        client.predict("p3", api_name="/select_panel")
        client.predict(2, False, True, api_name="/render_variations")
        panel = load_project(root).panel("p3")
        seeds = [t.seed for t in panel.takes]  # two workers: the variations may come back in either order
        assert len(set(seeds)) == 3 and panel.selected_take.seed == max(seeds), (seeds, panel.selected)
    finally:
        demo.close()


def test_the_studio_without_a_cluster_shows_no_cluster_switch(tmp_path: Path) -> None:
    from ui.studio import build_studio

    demo = build_studio(DraftEngine(), tmp_path / "ws")
    for elem_id in ("render-cluster", "panel-cluster"):
        checkbox = next(c for c in demo.config["components"] if c["props"].get("elem_id") == elem_id)
        assert checkbox["props"]["visible"] is False and checkbox["props"]["value"] is False


@pytest.mark.parametrize("argv, message", [
    (["--workers", "2"], "--workers is for --cluster"),
    (["--cluster", "spark"], "--cluster takes 'ray'"),
    (["--cluster", "ray", "--workers", "0"], "--workers must be 1 or more"),
])
def test_app_refuses_bad_cluster_options_at_start(argv: list[str], message: str) -> None:
    import app

    with pytest.raises(StoryboardError, match=message):
        app.cluster_setting(app.parse_args(argv), None)


def test_app_with_cluster_but_without_ray_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import app
    from storyboard.cluster import connect

    monkeypatch.setattr(connect, "ray_installed", lambda: False)
    with pytest.raises(StoryboardError, match=r'pip install -e "\.\[cluster\]"'):
        app.cluster_setting(app.parse_args(["--cluster", "ray"]), None)
    assert app.cluster_setting(app.parse_args([]), None) is None
