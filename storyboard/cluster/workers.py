"""The Ray side: a worker (an actor) holding one engine, loaded once, and the pool of them the driver hands work to."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import logging
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from storyboard import __version__
from storyboard.cluster.connect import short
from storyboard.engines import Engine, RenderContext, RenderRequest, get_engine
from storyboard.errors import EngineUnavailable, StoryboardError

log = logging.getLogger(__name__)

WORKER_RESTARTS = 2  # Ray restarts a dead worker this many times; then it leaves the pool
POLL_S = 0.1
WAIT_NOTICE_S = 30.0  # say what the driver waits for when no worker has started after this long


def build_engine(name: str, models_dir: str | None, options: Mapping[str, Any] | None = None) -> Engine:
    """The engine a worker holds, built on the worker (models come from its own folder or Hugging Face cache);
    `options`: StoryMaker's speed and memory options (get_engine's keywords)."""
    return get_engine(name, Path(models_dir) if models_dir else None, **dict(options or {}))


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
                self._lost(actor, f"a worker could not start: {short(exc)}")
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
        self._lost(actor, short(exc))

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
