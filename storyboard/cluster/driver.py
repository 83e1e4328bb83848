"""The driver: the only process that writes. It tells stale panels, builds each request from the story as it is at
that panel's turn, hands requests to idle workers, records each take under the project's lock, and sends a dead
worker's panel to another."""

from __future__ import annotations

import dataclasses
import functools
import logging
import secrets
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storyboard.cluster.connect import connected, import_ray, on_loopback, plan_workers, short
from storyboard.cluster.workers import POLL_S, WorkerPool, build_engine
from storyboard.engine_holder import PlannedEngine
from storyboard.engines import ENGINE_NAMES, Engine, RenderContext, RenderRequest
from storyboard.errors import EngineError, EngineUnavailable, ProjectError, RenderCancelled, StoryboardError
from storyboard.model import Panel, Project, Take
from storyboard.presets import FastPreset
from storyboard.render import (
    PanelEvent, RenderOptions, _fast, _stale, build_request, panel_size, planned_sizes, project_style, record_take,
    request_digest)
from storyboard.store import compact, update_project
from storyboard.storyfile import MAX_SEED, atomic_write, load_project

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3  # a panel whose worker died this many times stops the run (something kills workers on purpose)
CANCEL_GRACE_S = 10.0  # how long a cancel waits for workers to stop at their next step before they are killed


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
    engine_options: Mapping[str, Any] | None = None,
) -> Project:
    """storyboard.render.render_project on a Ray cluster; returns the story as it is after the last panel.

    `address` None starts a local cluster for the run (or uses the one this process joined already); else it
    is a Ray address ('auto', 'HOST:6379', 'ray://HOST:10001'). `workers` defaults to one per GPU for
    StoryMaker and one per CPU for the draft engine. `variations` renders that many new takes of each panel
    (next seeds) instead, as render_variations does. `engine_factory` (picklable) builds each worker's engine
    instead of `engine_name` (tests). `engine_options` are StoryMaker's speed and memory options (get_engine's
    keywords), for every worker's engine. A fast preview (`options.fast`) needs its LoRA in each worker's models
    folder or Hugging Face cache; draft workers render as usual."""
    for event in iter_render_on_cluster(root, project, engine_name, models_dir, panel_ids, force, options, address,
                                        workers, context, variations, engine_factory, engine_options):
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
    engine_options: Mapping[str, Any] | None = None,
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
    ray = import_ray(local=address is None or on_loopback(address))
    try:
        with connected(ray, address, workers):
            name, count, resources = plan_workers(ray, engine_name, workers)
            count = min(count, len(jobs))
            build = engine_factory or functools.partial(build_engine, name, str(models_dir) if models_dir else None,
                                                        dict(engine_options or {}))
            pool = WorkerPool(ray, build, count, resources)
            try:
                yield from _ClusterRun(ray, pool, root, options, force, context).events(project, jobs)
            finally:
                pool.close()
    finally:
        compact(root)
    if variations:
        _select_last_variations(root, jobs)



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
        self.fast: FastPreset | None = None  # the fast preview's preset, when the workers' engine takes one
        self.planned: dict[str, tuple[int, int]] = {}
        self.shipped: set[str] = set()  # cast files the workers have
        self.shipments: list[Any] = []
        self.lost = (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                     ray.exceptions.ObjectLostError)

    def events(self, project: Project, jobs: list[_Job]) -> Iterator[PanelEvent]:
        # 1. The workers' engine decides what is stale; what is up to date is said at once
        identity = self.pool.wait_first(self.context)
        self.engine = PlannedEngine(identity["name"], identity["version"])
        self.fast = _fast(self.options) if identity["name"] != "draft" else None  # draft thumbnails render as usual
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
                                                               self.options.steps, self.options.prompt_strip, self.fast):
            return PanelEvent(job.panel_id, job.index, job.total, "skipped", message="up to date")
        seed = job.seed if job.seed is not None else _panel_seed(panel)
        job.request = build_request(self.root, current, panel, style, seed, size, self.options.steps,
                                    self.options.prompt_strip, self.fast)
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
                raise EngineError(f"Panel {job.panel_id!r}: its Ray worker died {job.attempts} times ({short(exc)}). "
                                  "The panels rendered so far are kept; check the workers' memory and logs, then render "
                                  "again.") from None
            log.warning("Panel %s: its Ray worker died (%s); rendering it again on another worker.", job.panel_id, short(exc))
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
