"""Rendering on a Ray cluster: each Ray worker (an actor) holds one engine, loaded once; the driver alone writes.

    python -m storyboard render PROJECT --cluster ray            # a local cluster, started for this run
    python -m storyboard render PROJECT --cluster ray:ADDRESS    # an existing one (`ray start --head`, KubeRay)

The driver (this process) tells stale panels and builds each panel's request from the story as it is at that
panel's turn, as storyboard.render does. Workers get requests, and the cast photos they name through Ray's
object store (so they need not see the project folder), and send back PNG bytes; the driver records each take
with storyboard.render.record_take under the project's lock. A worker that dies loses nothing: its panel goes
to another worker (and Ray restarts the dead one). A cancel stops every worker at its next step, and nothing
finished after it is recorded. StoryMaker's cast encodings are made once per character by one worker and
handed to the others through the object store; the driver keeps them in `<project>/.cache/encodings/`.

Ray is imported only here, and only when a cluster render starts.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import logging
import os
import secrets
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storyboard import __version__
from storyboard.engine_holder import EngineHolder, PlannedEngine
from storyboard.engines import ENGINE_NAMES, Engine, RenderContext, RenderRequest, get_engine
from storyboard.errors import EngineError, EngineUnavailable, ProjectError, RenderCancelled, StoryboardError
from storyboard.model import Panel, Project, Take
from storyboard.render import (
    PanelEvent, RenderOptions, _stale, build_request, panel_size, planned_sizes, project_style, record_take,
    request_digest,
)
from storyboard.store import compact, update_project
from storyboard.storyfile import MAX_SEED, atomic_write, load_project

log = logging.getLogger(__name__)

INSTALL_HINT = 'pip install -e ".[cluster]"'
MAX_ATTEMPTS = 3  # a panel whose worker died this many times stops the run (something kills workers on purpose)
WORKER_RESTARTS = 2  # Ray restarts a dead worker this many times; then it leaves the pool
CANCEL_GRACE_S = 10.0  # how long a cancel waits for workers to stop at their next step before they are killed
POLL_S = 0.1
WAIT_NOTICE_S = 30.0  # say what the driver waits for when no worker has started after this long
# Ray on this machine only: with this off, every Ray process binds to 127.0.0.1 (read when Ray is imported)
LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def parse_cluster(value: str) -> str | None:
    """The Ray address in a --cluster value: 'ray' is a local cluster for the run (None), 'ray:ADDRESS' an existing one."""
    scheme, colon, address = value.partition(":")
    if scheme != "ray" or (colon and not address):
        raise StoryboardError(f"--cluster takes 'ray' (a local Ray cluster for this run) or 'ray:ADDRESS' (an existing "
                              f"cluster, e.g. ray:auto, ray:10.0.0.5:6379 or ray:ray://head:10001), not {value!r}.")
    return address or None


def import_ray(local: bool = False) -> Any:
    """The ray module; EngineUnavailable says how to install it. `local`: a cluster on this machine only (loopback)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # Ray reports usage over the network unless told not to
    if local:
        os.environ.setdefault(LOOPBACK_ENV, "0")
    try:
        import ray
    except ImportError:
        raise EngineUnavailable(f"Rendering on a cluster needs Ray, which is not installed here. Install it with "
                                f"{INSTALL_HINT} (or: pip install ray), then run the render again.") from None
    return ray


# ------------------------------------------------------------------------------------------------ the worker


def build_engine(name: str, models_dir: str | None) -> Engine:
    """The engine a worker holds, built on the worker (models come from its own folder or Hugging Face cache)."""
    return get_engine(name, Path(models_dir) if models_dir else None)


class Worker:
    """One engine on one Ray worker: renders requests into PNG bytes; never touches the project folder.

    Cast files and encodings arrive as shipments: object refs (inside a list, so Ray leaves them unresolved)
    of ("files", {driver path: bytes}) or ("encodings", {key: CharacterEncoding}), each taken in once."""

    def __init__(self, build: Callable[[], Engine]) -> None:
        self.error: str | None = None
        self.engine: Engine | None = None
        try:
            self.engine = build()
        except Exception as exc:  # e.g. models or torch missing on this node: the driver says so, goes on without it
            self.error = str(exc) if isinstance(exc, StoryboardError) else f"{type(exc).__name__}: {exc}"
        self._runs: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._folder = Path(tempfile.mkdtemp(prefix="storyboard-worker-"))
        self._files: dict[str, Path] = {}  # driver path -> local copy
        self._taken: set[str] = set()  # shipments taken in

    def identity(self) -> dict[str, Any]:
        """Which engine this worker holds, where, and whether it shares cast encodings."""
        base = {"pid": os.getpid(), "node": socket.gethostname(), "storyboard": __version__, "error": self.error}
        if self.engine is None:
            return base
        return base | {"name": self.engine.name, "version": self.engine.version, "describe": self.engine.describe(),
                       "shares_encodings": hasattr(self.engine, "encode_cast")}

    def render(self, run: str, request: RenderRequest, shipments: Sequence[Any]) -> tuple[bytes, dict[str, Any]]:
        """Render one request; (PNG bytes, {'seconds', 'warnings'})."""
        context = RenderContext(cancel_event=self._event(run))
        context.check_cancelled()
        self._take_in(shipments)
        started = time.perf_counter()
        result = self._engine().render(self._local(request), context)
        buffer = io.BytesIO()
        result.image.save(buffer, format="PNG")
        seconds = result.metadata.get("seconds", round(time.perf_counter() - started, 3))
        return buffer.getvalue(), {"seconds": seconds, "warnings": list(result.metadata.get("warnings", []))}

    def cast_keys(self, requests: Sequence[RenderRequest], shipments: Sequence[Any]) -> list[str]:
        """The encoding cache key of every character the requests draw."""
        self._take_in(shipments)
        return self._engine().cast_keys([self._local(r) for r in requests])  # type: ignore[attr-defined]

    def encode_cast(self, requests: Sequence[RenderRequest], shipments: Sequence[Any],
                    cached: Mapping[str, bytes]) -> tuple[tuple[str, dict], dict[str, bytes]]:
        """Encode every character of the requests once: (the encodings as a shipment, new cache files by key)."""
        self._take_in(shipments)
        encodings, new = self._engine().encode_cast([self._local(r) for r in requests], cached)  # type: ignore[attr-defined]
        return ("encodings", encodings), new

    def cancel(self, run: str) -> None:
        """Stop the run's render at its next step, and any render of it that starts later."""
        self._event(run).set()

    def stats(self) -> dict[str, int]:
        """What this worker did that the driver may check: real cast encodings made."""
        encoder = getattr(self.engine, "encoder", None)
        return {"encoded": int(getattr(encoder, "calls", 0))}

    def close(self) -> None:
        """Remove this worker's copies of the cast files (before the driver ends it)."""
        shutil.rmtree(self._folder, ignore_errors=True)

    def _engine(self) -> Engine:
        if self.engine is None:
            raise EngineUnavailable(f"This Ray worker has no engine: {self.error}")
        return self.engine

    def _event(self, run: str) -> threading.Event:
        with self._lock:
            return self._runs.setdefault(run, threading.Event())

    def _take_in(self, shipments: Sequence[Any]) -> None:
        import ray

        for ref in shipments:
            if ref.hex() in self._taken:
                continue
            kind, payload = ray.get(ref)
            if kind == "files":
                for path, data in payload.items():
                    local = self._folder / hashlib.sha256(data).hexdigest()[:20] / Path(path).name
                    if not local.is_file():
                        local.parent.mkdir(parents=True, exist_ok=True)
                        local.write_bytes(data)
                    self._files[path] = local
            elif kind == "encodings":
                self._engine().use_encodings(payload)  # type: ignore[attr-defined]
            self._taken.add(ref.hex())

    def _local(self, request: RenderRequest) -> RenderRequest:
        """The request with this worker's copies of the cast files, and no cache in the project folder."""
        def local(path: Path | None) -> Path | None:
            return self._files.get(str(path), path) if path is not None else None

        characters = tuple(dataclasses.replace(c, reference=local(c.reference), mask=local(c.mask), outfit=local(c.outfit))
                           for c in request.characters)
        return dataclasses.replace(request, characters=characters, cache_dir=None)


@functools.lru_cache(maxsize=1)
def _worker_actor(ray: Any) -> Any:
    """Worker as a Ray actor class: renders one at a time; cancel runs beside a render (its own thread)."""

    @ray.remote(max_restarts=WORKER_RESTARTS, max_task_retries=0, concurrency_groups={"control": 1})
    class RenderWorker(Worker):
        @ray.method(concurrency_group="control")
        def cancel(self, run: str) -> None:
            super().cancel(run)

    return RenderWorker


# ------------------------------------------------------------------------------------------------ the pool


class WorkerPool:
    """Ray actors, each holding one engine; they join as they start, and leave when Ray gives up restarting them."""

    def __init__(self, ray: Any, build: Callable[[], Engine], count: int, resources: Mapping[str, float]) -> None:
        self.ray = ray
        actor_class = _worker_actor(ray)
        self.actors = [actor_class.options(**resources).remote(build) for _ in range(count)]
        self.starting = {actor.identity.remote(): actor for actor in self.actors}
        self.idle: list[Any] = []
        self.identity: dict[str, Any] | None = None
        self.deaths: dict[Any, int] = {}
        self.problems: list[str] = []
        self._resources = dict(resources)

    @property
    def alive(self) -> int:
        return len(self.actors)

    def poll(self, ready: Iterable[Any]) -> None:
        """Take in the workers whose identity call among `ready` came back."""
        for ref in ready:
            actor = self.starting.pop(ref, None)
            if actor is None:
                continue
            try:
                identity = self.ray.get(ref)
            except self.ray.exceptions.RayActorError as exc:
                self._lost(actor, f"a worker could not start: {_short(exc)}")
                continue
            if identity.get("error"):
                self._drop(actor, f"the worker on {identity['node']} (pid {identity['pid']}) has no engine: {identity['error']}")
                continue
            if self.identity is None:
                self.identity = identity
                log.info("Ray workers: %s", identity["describe"])
            elif (identity["name"], identity["version"]) != (self.identity["name"], self.identity["version"]):
                self._drop(actor, f"the worker on {identity['node']} has the {identity['name']} engine, the others "
                                  f"{self.identity['name']} (are the models missing there?); it is left out")
                continue
            if identity["storyboard"] != __version__:
                log.warning("The Ray worker on %s runs storyboard %s, this driver %s; install the same version on every "
                            "node.", identity["node"], identity["storyboard"], __version__)
            self.idle.append(actor)

    def failed(self, actor: Any, exc: Exception) -> None:
        """A task of `actor` ended with its worker dead: Ray restarts it (it rejoins when ready) or it leaves."""
        self._lost(actor, _short(exc))

    def wait_first(self, context: RenderContext) -> dict[str, Any]:
        """The identity of the first worker ready; EngineUnavailable when none can start."""
        started = time.monotonic()
        noticed = False
        while self.identity is None:
            context.check_cancelled()
            if not self.starting:
                raise EngineUnavailable("No Ray worker could start an engine: " + "; ".join(self.problems or ["none started"]))
            ready, _ = self.ray.wait(list(self.starting), num_returns=1, timeout=POLL_S * 5)
            self.poll(ready)
            if not noticed and time.monotonic() - started > WAIT_NOTICE_S:
                noticed = True
                log.warning("Waiting for Ray workers (each needs %s; the cluster has %s).", self._resources,
                            self.ray.cluster_resources())
        return self.identity

    def next_idle(self, context: RenderContext) -> Any:
        """An idle worker (left in the pool), waiting for one to start; EngineUnavailable when none is left."""
        while not self.idle:
            context.check_cancelled()
            if not self.starting:
                raise EngineUnavailable("No Ray worker is left: " + "; ".join(self.problems or ["none started"]))
            ready, _ = self.ray.wait(list(self.starting), num_returns=1, timeout=POLL_S * 5)
            self.poll(ready)
        return self.idle[0]

    def close(self) -> None:
        """End every worker (their temporary files removed first, when they answer within a few seconds)."""
        if self.actors:
            self.ray.wait([actor.close.remote() for actor in self.actors], num_returns=len(self.actors), timeout=3.0)
        for actor in self.actors:
            try:
                self.ray.kill(actor)
            except Exception as exc:  # already gone: nothing to stop
                log.debug("ray.kill: %s", exc)
        self.actors, self.idle, self.starting = [], [], {}

    def _lost(self, actor: Any, why: str) -> None:
        self.deaths[actor] = self.deaths.get(actor, 0) + 1
        if actor in self.idle:
            self.idle.remove(actor)
        if self.deaths[actor] > WORKER_RESTARTS:
            self._drop(actor, f"a worker died {self.deaths[actor]} times ({why})")
        else:  # Ray restarts it; it rejoins once its engine is loaded again
            self.starting[actor.identity.remote()] = actor

    def _drop(self, actor: Any, why: str) -> None:
        log.warning("Ray: %s.", why)
        self.problems.append(why)
        if actor in self.actors:
            self.actors.remove(actor)
        if actor in self.idle:
            self.idle.remove(actor)
        try:
            self.ray.kill(actor)
        except Exception as exc:  # already gone
            log.debug("ray.kill: %s", exc)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


# ------------------------------------------------------------------------------------------------ the driver


@dataclass
class _Job:
    """One take to render: a panel at its turn (or one of its variations, with its own seed)."""

    panel_id: str
    index: int
    total: int
    seed: int | None = None  # a variation's seed; None: the panel's own (or a new one) at its turn
    variation: bool = False
    request: RenderRequest | None = None  # built when first sent; a retry sends the same
    digest: str = ""
    attempts: int = 0


def render_on_cluster(
    root: Path,
    project: Project,
    engine_name: str = "auto",
    models_dir: Path | None = None,
    panel_ids: Iterable[str] | None = None,
    force: bool = False,
    options: RenderOptions | None = None,
    address: str | None = None,
    workers: int | None = None,
    on_panel: Callable[[PanelEvent], None] | None = None,
    context: RenderContext | None = None,
    variations: int | None = None,
    engine_factory: Callable[[], Engine] | None = None,
) -> Project:
    """storyboard.render.render_project on a Ray cluster; returns the story as it is after the last panel.

    `address` None starts a local cluster for the run (or uses the one this process joined already); else it
    is a Ray address ('auto', 'HOST:6379', 'ray://HOST:10001'). `workers` defaults to one per GPU for
    StoryMaker and one per CPU for the draft engine. `variations` renders that many new takes of each panel
    (next seeds) instead, as render_variations does. `engine_factory` (picklable) builds each worker's engine
    instead of `engine_name` (tests)."""
    for event in iter_render_on_cluster(root, project, engine_name, models_dir, panel_ids, force, options, address,
                                        workers, context, variations, engine_factory):
        if on_panel is not None:
            on_panel(event)
    return load_project(root)


def iter_render_on_cluster(
    root: Path,
    project: Project,
    engine_name: str = "auto",
    models_dir: Path | None = None,
    panel_ids: Iterable[str] | None = None,
    force: bool = False,
    options: RenderOptions | None = None,
    address: str | None = None,
    workers: int | None = None,
    context: RenderContext | None = None,
    variations: int | None = None,
    engine_factory: Callable[[], Engine] | None = None,
) -> Iterator[PanelEvent]:
    """render_on_cluster one panel at a time: yields each panel's event as it finishes (in the order they finish).

    However it ends (done, cancelled, an error), the takes recorded so far are written into story.yaml."""
    # 1. Check inputs before anything starts
    root = Path(root)
    context = context or RenderContext()
    options = options or RenderOptions()
    if engine_name not in ENGINE_NAMES:
        raise EngineUnavailable(f"Unknown engine {engine_name!r}; use one of: {', '.join(ENGINE_NAMES)}.")
    if workers is not None and workers < 1:
        raise StoryboardError(f"--workers must be 1 or more, got {workers}.")
    if variations is not None and not 1 <= variations <= 16:
        raise StoryboardError(f"Ask for 1 to 16 variations, not {variations}.")
    if getattr(options, "fast", None) is not None:
        raise StoryboardError("Fast previews are not rendered on a cluster yet: leave out --fast, or --cluster.")
    wanted = list(panel_ids) if panel_ids is not None else [p.id for p in project.panels]
    known = {p.id for p in project.panels}
    if unknown := [pid for pid in wanted if pid not in known]:
        raise ProjectError(f"No panel with id {', '.join(map(repr, unknown))} in {root}; panels are: "
                           f"{', '.join(known) or 'none'}.")
    jobs = _variation_jobs(project, wanted, variations) if variations else [
        _Job(pid, index, len(wanted)) for index, pid in enumerate(wanted, start=1)]
    if not jobs:
        return
    # 2. Join (or start) the cluster and its workers (no more than there are takes to render)
    ray = import_ray(local=address is None or _on_loopback(address))
    try:
        with _connected(ray, address, workers):
            name, count, resources = _plan_workers(ray, engine_name, workers)
            count = min(count, len(jobs))
            build = engine_factory or functools.partial(build_engine, name, str(models_dir) if models_dir else None)
            pool = WorkerPool(ray, build, count, resources)
            try:
                yield from _ClusterRun(ray, pool, root, options, force, context).events(project, jobs)
            finally:
                pool.close()
    finally:
        compact(root)
    if variations:
        _select_last_variations(root, jobs)


def _on_loopback(address: str) -> bool:
    """True for a cluster on this machine's loopback (127.0.0.1:PORT, localhost:PORT): Ray must stay on it."""
    host = address.removeprefix("ray://").rsplit(":", 1)[0]
    return host in ("127.0.0.1", "localhost", "[::1]")


@contextmanager
def _connected(ray: Any, address: str | None, workers: int | None) -> Iterator[None]:
    """Ray, joined for the run: a cluster this process joined already, a new local one, or the one at `address`."""
    if ray.is_initialized():
        yield
        return
    try:
        if address is None:
            ray.init(address="local", num_cpus=max(os.cpu_count() or 1, workers or 0), include_dashboard=False,
                     log_to_driver=False, logging_level=logging.ERROR)
        else:
            ray.init(address=address, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
        where = "a local Ray cluster" if address is None else f"the Ray cluster at {address}"
        raise EngineUnavailable(
            f"Could not start or join {where}: {_short(exc)}. Start one with `ray start --head` and pass its address "
            "(--cluster ray:HOST:6379), or use --cluster ray for a local one. A cluster with token authentication (Ray's "
            "default) needs RAY_AUTH_MODE=token and its token here (RAY_AUTH_TOKEN, or ~/.ray/auth_token; `ray "
            "get-auth-token` on the head prints it).") from None
    try:
        yield
    finally:
        ray.shutdown()


def _plan_workers(ray: Any, engine_name: str, workers: int | None) -> tuple[str, int, dict[str, float]]:
    """(engine name, worker count, each worker's resources): one per GPU for StoryMaker, one per CPU for draft."""
    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)), max(1, int(resources.get("CPU", 1)))
    name = engine_name
    if name == "auto":
        name = "auto" if gpus else "draft"  # a worker falls back to draft by itself where StoryMaker cannot load
    if name == "draft":
        return name, workers or cpus, {"num_cpus": 1}
    if gpus:
        return name, workers or gpus, {"num_cpus": 1, "num_gpus": 1}
    log.warning("The Ray cluster has no GPU: StoryMaker runs on CPUs (minutes per panel), %d worker(s).", workers or 1)
    return name, workers or 1, {"num_cpus": 1}


def _variation_jobs(project: Project, wanted: list[str], count: int) -> list[_Job]:
    """`count` new seeds per panel after its own, as render_variations picks them."""
    seeds: list[tuple[str, int]] = []
    for pid in wanted:
        panel = project.panel(pid)
        candidate = panel.seed if panel.seed is not None else secrets.randbelow(MAX_SEED + 1)
        used = {t.seed for t in panel.takes}
        mine: list[int] = []
        while len(mine) < count:
            candidate = (candidate + 1) % (MAX_SEED + 1)
            if candidate not in used:
                mine.append(candidate)
        seeds += [(pid, seed) for seed in mine]
    return [_Job(pid, index, len(seeds), seed=seed, variation=True) for index, (pid, seed) in enumerate(seeds, start=1)]


def _select_last_variations(root: Path, jobs: list[_Job]) -> None:
    """Each panel's last variation selected, as a render one after another leaves it (workers finish in any order)."""
    last = {job.panel_id: job for job in jobs if job.request is not None}

    def choose(project: Project) -> Project:
        for pid, job in last.items():
            try:
                panel = project.panel(pid)
            except KeyError:
                continue
            file = _take_file(pid, job.request.seed, job.digest)  # type: ignore[union-attr]
            index = next((i for i, t in enumerate(panel.takes) if t.file == file), None)
            if index is None or index == panel.selected:
                continue
            keep_seed = panel.seed_locked and panel.seed is not None
            project = project.replace_panel(dataclasses.replace(
                panel, selected=index, seed=panel.seed if keep_seed else panel.takes[index].seed))
        return project

    update_project(root, choose)


def _take_file(panel_id: str, seed: int, digest: str) -> str:
    return f"renders/{panel_id}/{seed}-{digest[:8]}.png"


class _ClusterRun:
    """One render run on a pool: hands out jobs, records what comes back, retries what a dead worker lost."""

    def __init__(self, ray: Any, pool: WorkerPool, root: Path, options: RenderOptions, force: bool,
                 context: RenderContext) -> None:
        self.ray = ray
        self.pool = pool
        self.root = root
        self.options = options
        self.force = force
        self.context = context
        self.run = uuid.uuid4().hex
        self.engine: PlannedEngine | None = None  # the workers' engine name and version: what digests are made of
        self.planned: dict[str, tuple[int, int]] = {}
        self.shipped: set[str] = set()  # cast files the workers have
        self.shipments: list[Any] = []
        self.lost = (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                     ray.exceptions.ObjectLostError)

    def events(self, project: Project, jobs: list[_Job]) -> Iterator[PanelEvent]:
        # 1. The workers' engine decides what is stale; what is up to date is said at once
        identity = self.pool.wait_first(self.context)
        self.engine = PlannedEngine(identity["name"], identity["version"])
        self.planned = planned_sizes(project, self.options)
        queue: deque[_Job] = deque()
        for job in jobs:
            prepared = self._prepare(job)
            if isinstance(prepared, PanelEvent):
                yield prepared
            else:
                queue.append(job)
        # 2. Cast files and encodings go to the object store once, for every worker
        requests = [job.request for job in queue if job.request is not None]
        self._ship_files(requests)
        if identity.get("shares_encodings") and any(r.characters for r in requests):
            self._share_encodings(requests)
        # 3. Hand out jobs as workers come free; record each take as it comes back
        busy: dict[Any, tuple[Any, _Job]] = {}
        while queue or busy:
            if self.context.cancelled():
                self._stop(busy)
            while queue and self.pool.idle and not self.context.cancelled():
                job = queue.popleft()
                if not job.attempts:  # its turn: built again from the story as it is now (a retry keeps its request)
                    prepared = self._prepare(job)
                    if isinstance(prepared, PanelEvent):
                        yield prepared
                        continue
                    self._ship_files([job.request])  # type: ignore[list-item]
                actor = self.pool.idle.pop(0)
                busy[actor.render.remote(self.run, job.request, list(self.shipments))] = (actor, job)
            if not busy and not self.pool.starting and queue:
                raise EngineError("Every Ray worker is gone: " + "; ".join(self.pool.problems) + ". The panels rendered so "
                                  "far are kept; render again to finish.")
            ready, _ = self.ray.wait(list(busy) + list(self.pool.starting), num_returns=1, timeout=POLL_S)
            self.pool.poll(ready)
            for ref in ready:
                if ref not in busy:
                    continue
                actor, job = busy.pop(ref)
                event = self._finish(ref, actor, job, queue)
                if event is not None:
                    yield event
        self._report()

    def _report(self) -> None:
        """Log what the workers did: how many cast encodings they made in all (one per character, or none)."""
        refs = [actor.stats.remote() for actor in self.pool.idle]
        ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=5.0) if refs else ([], [])
        made = sum(stats["encoded"] for stats in self.ray.get(ready))
        shares = self.pool.identity is not None and self.pool.identity.get("shares_encodings")
        log.info("Ray: %d worker(s) at the end%s.", len(refs), f"; {made} cast encoding(s) made on them" if shares else "",
                 extra={"cast_encodings": made})

    def _prepare(self, job: _Job) -> PanelEvent | None:
        """Build the job's request from the story as it is now; an event instead when there is nothing to render."""
        current = load_project(self.root)  # an unchanged story costs one read and one hash
        try:
            panel = current.panel(job.panel_id)
        except KeyError:
            return PanelEvent(job.panel_id, job.index, job.total, "skipped", message="deleted while rendering")
        style = project_style(current)
        size = self.planned.get(panel.id) or panel_size(panel)
        if not job.variation and not self.force and not _stale(self.root, current, panel, self.engine, style, size,
                                                               self.options.steps, self.options.prompt_strip):
            return PanelEvent(job.panel_id, job.index, job.total, "skipped", message="up to date")
        seed = job.seed if job.seed is not None else _panel_seed(panel)
        job.request = build_request(self.root, current, panel, style, seed, size, self.options.steps, self.options.prompt_strip)
        job.digest = request_digest(job.request, self.engine)  # type: ignore[arg-type]
        return None

    def _finish(self, ref: Any, actor: Any, job: _Job, queue: deque[_Job]) -> PanelEvent | None:
        """Record a finished job's take (the driver alone writes), or send it again when its worker died."""
        try:
            png, meta = self.ray.get(ref)
        except self.lost as exc:
            self.pool.failed(actor, exc)
            if self.context.cancelled():
                return None
            job.attempts += 1
            if job.attempts >= MAX_ATTEMPTS:
                raise EngineError(f"Panel {job.panel_id!r}: its Ray worker died {job.attempts} times ({_short(exc)}). "
                                  "The panels rendered so far are kept; check the workers' memory and logs, then render "
                                  "again.") from None
            log.warning("Panel %s: its Ray worker died (%s); rendering it again on another worker.", job.panel_id, _short(exc))
            queue.appendleft(job)
            return None
        except self.ray.exceptions.RayTaskError as exc:
            cause = exc.cause
            if isinstance(cause, RenderCancelled) and self.context.cancelled():
                self.pool.idle.append(actor)
                return None
            if isinstance(cause, StoryboardError):
                raise cause from None
            raise EngineError(f"Panel {job.panel_id!r} failed on a Ray worker: {type(cause).__name__}: {cause}") from None
        self.pool.idle.append(actor)
        if self.context.cancelled():  # finished as the cancel came: not recorded, as a local render would not
            return None
        request = job.request
        assert request is not None
        take = Take(file=_take_file(job.panel_id, request.seed, job.digest), seed=request.seed,
                    engine=self.engine.name, inputs=job.digest)  # type: ignore[union-attr]
        for warning in meta.get("warnings", []):
            log.warning("Panel %s: %s", job.panel_id, warning)
        if not record_take(self.root, job.panel_id, take, png, variation=job.variation):
            return PanelEvent(job.panel_id, job.index, job.total, "skipped", message="deleted while rendering")
        return PanelEvent(job.panel_id, job.index, job.total, "rendered", take=take.file, seconds=meta.get("seconds"),
                          message="rendered again after its worker died" if job.attempts else "")

    def _stop(self, busy: dict[Any, tuple[Any, _Job]]) -> None:
        """Cancel: every busy worker stops at its next step; nothing that finishes now is recorded."""
        for actor in {actor for actor, _ in busy.values()}:
            actor.cancel.remote(self.run)
        if busy:
            self.ray.wait(list(busy), num_returns=len(busy), timeout=CANCEL_GRACE_S)
        raise RenderCancelled("Render cancelled; the panels finished before are saved in story.yaml.")

    def _ship_files(self, requests: Iterable[RenderRequest]) -> None:
        """Put the cast files the requests name, and the workers have not got yet, into the object store."""
        files: dict[str, bytes] = {}
        for request in requests:
            for character in request.characters:
                for path in (character.reference, character.mask, character.outfit):
                    if path is not None and str(path) not in self.shipped and path.is_file():
                        files[str(path)] = path.read_bytes()
        if files:
            self.shipped.update(files)
            self.shipments.append(self.ray.put(("files", files)))

    def _share_encodings(self, requests: list[RenderRequest]) -> None:
        """One worker encodes each character once; the others get the encodings through the object store.

        Encodings kept from earlier runs in <project>/.cache/encodings are sent instead of encoding again, and
        new ones are kept there (by the driver: workers never write into the project)."""
        cache = self.root / ".cache" / "encodings"
        for _ in range(MAX_ATTEMPTS):
            actor = self.pool.next_idle(self.context)
            try:
                keys = self.ray.get(actor.cast_keys.remote(requests, list(self.shipments)))
                cached = {key: (cache / f"{key}.safetensors").read_bytes() for key in keys
                          if (cache / f"{key}.safetensors").is_file()}
                shipment, new_ref = actor.encode_cast.options(num_returns=2).remote(requests, list(self.shipments), cached)
                new = self.ray.get(new_ref)
            except self.lost as exc:
                self.pool.failed(actor, exc)
                continue
            except self.ray.exceptions.RayTaskError as exc:
                if isinstance(exc.cause, StoryboardError):
                    raise exc.cause from None
                raise EngineError(f"Encoding the cast failed on a Ray worker: {type(exc.cause).__name__}: {exc.cause}") from None
            for key, data in new.items():
                try:
                    atomic_write(cache / f"{key}.safetensors", data)
                except OSError as exc:  # a read-only project still renders, only slower next time
                    log.warning("Could not keep the encoding cache in %s: %s", cache, exc)
            self.shipments.append(shipment)
            log.info("Cast encodings: %d character(s), %d encoded now, shared with every worker.", len(set(keys)), len(new))
            return
        raise EngineError("The cast could not be encoded: its Ray workers died " + "; ".join(self.pool.problems))


def _panel_seed(panel: Panel) -> int:
    return panel.seed if panel.seed is not None else secrets.randbelow(MAX_SEED + 1)


# ------------------------------------------------------------------------------------------------ the CLI


def run_render_command(args: Any, root: Path, project: Project, panel_ids: list[str] | None,
                       options: RenderOptions) -> int:
    """`python -m storyboard render PROJECT --cluster ray[:ADDRESS] [--workers N]`: logs each panel; the exit code."""
    from storyboard.cli_common import models_dir
    from storyboard.render import stale_panels

    if not args.cluster:
        raise StoryboardError("--workers is for --cluster: add --cluster ray (or ray:ADDRESS), or leave --workers out.")
    address = parse_cluster(args.cluster)
    if args.keep_best:
        raise StoryboardError("--keep-best needs scores, and a cluster render does not score its takes: render the "
                              "variations with --cluster, then score them (python -m storyboard score) and choose, or "
                              "leave --cluster out.")
    if args.scores:
        log.warning("Scores: not computed on a cluster; measure the new takes afterwards with: python -m storyboard score %s",
                    root)
    models = models_dir(args)
    if not args.variations and not args.force and args.engine != "auto":
        # what is stale is known from the files and the engine's name and version: start no cluster for nothing
        stale = stale_panels(root, project, EngineHolder(args.engine, models).current(), options)
        if not any(pid in stale for pid in panel_ids or [p.id for p in project.panels]):
            log.info("Nothing to render: %d panel(s) up to date (use --force to render them again).",
                     len(panel_ids or project.panels))
            return 0
    counts = {"rendered": 0, "skipped": 0}

    def on_panel(event: PanelEvent) -> None:
        counts[event.status] = counts.get(event.status, 0) + 1
        if event.status == "rendered":
            log.info("[%d/%d] %s: rendered in %.2f s -> %s%s", event.index, event.total, event.panel_id, event.seconds or 0,
                     event.take, f" ({event.message})" if event.message else "")
        else:
            log.info("[%d/%d] %s: %s", event.index, event.total, event.panel_id, event.message)

    started = time.perf_counter()
    try:
        render_on_cluster(root, project, args.engine, models, panel_ids, force=args.force, options=options, address=address,
                          workers=args.workers, on_panel=on_panel, variations=args.variations)
    except KeyboardInterrupt:  # the workers were stopped as the run closed
        raise RenderCancelled("Render interrupted; panels finished so far are saved in story.yaml.") from None
    log.info("Done in %.1f s on a Ray cluster: %d rendered, %d up to date%s.", time.perf_counter() - started,
             counts["rendered"], counts["skipped"],
             " (use --force to render them again)" if counts["skipped"] and not args.force else "")
    return 0
