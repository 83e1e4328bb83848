"""Joining Ray for a run: the --cluster value, importing Ray (or saying how to install it), starting or joining a
cluster, and how many workers of which engine it holds."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from storyboard.errors import EngineUnavailable, StoryboardError

log = logging.getLogger(__name__)

INSTALL_HINT = 'pip install -e ".[cluster]"'
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



def on_loopback(address: str) -> bool:
    """True for a cluster on this machine's loopback (127.0.0.1:PORT, localhost:PORT): Ray must stay on it."""
    host = address.removeprefix("ray://").rsplit(":", 1)[0]
    return host in ("127.0.0.1", "localhost", "[::1]")


@contextmanager
def connected(ray: Any, address: str | None, workers: int | None) -> Iterator[None]:
    """Ray, joined for the run: a cluster this process joined already, a new local one, or the one at `address`."""
    if ray.is_initialized():
        yield
        return
    join(ray, address, workers)
    try:
        yield
    finally:
        ray.shutdown()


def join(ray: Any, address: str | None, workers: int | None) -> None:
    """Start a local Ray cluster (`address` None) or join the one at `address`, for as long as this process runs
    (the studio joins once; a CLI run joins through `connected`). Nothing when this process has joined already."""
    if ray.is_initialized():
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
            f"Could not start or join {where}: {short(exc)}. Start one with `ray start --head` and pass its address "
            "(--cluster ray:HOST:6379), or use --cluster ray for a local one. A cluster with token authentication (Ray's "
            "default) needs RAY_AUTH_MODE=token and its token here (RAY_AUTH_TOKEN, or ~/.ray/auth_token; `ray "
            "get-auth-token` on the head prints it).") from None


def ray_installed() -> bool:
    """Whether Ray can be imported here, without importing it."""
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def plan_workers(ray: Any, engine_name: str, workers: int | None) -> tuple[str, int, dict[str, float]]:
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


def short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
