"""Benchmark: panels per second on a local Ray cluster with 1 and 2 workers, and the local render (issue 16).

    python tests/benchmarks/bench_cluster.py [--panels 80] [--max-side PX] [--extra-ms MS]

Draft engine, a fresh N-panel story for each run (so every panel renders), full slot sizes unless --max-side.
One local Ray cluster (2 CPUs, loopback only) serves both cluster runs. For each it prints:
- `total`: panels / seconds of the whole render_on_cluster call (the workers start inside it);
- `steady`: panels after the first / seconds from the first take recorded to the last (the workers warm).
`--extra-ms` adds that much sleep to every panel on the workers and locally, as a stand-in for an engine
that costs more per panel than the draft one (the GPU-bound case the cluster is for).
Not collected by pytest. Figures go to stdout via logging.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "benchmarks"))

from bench_export import write_story  # noqa: E402
from storyboard.engines.draft import DraftEngine  # noqa: E402

log = logging.getLogger("bench_cluster")


class SlowerDraft:
    """The draft engine plus a fixed cost per panel (sleep), standing in for a heavier engine."""

    def __init__(self, extra_ms: float) -> None:
        self.inner = DraftEngine()
        self.name, self.version, self.extra_s = self.inner.name, self.inner.version, extra_ms / 1000

    def describe(self) -> str:
        return f"{self.inner.describe()} + {self.extra_s * 1000:.0f} ms a panel"

    def render(self, request, context):
        time.sleep(self.extra_s)
        return self.inner.render(request, context)


def local_run(root: Path, options, extra_ms: float) -> tuple[float, float]:
    from storyboard.render import render_project
    from storyboard.storyfile import load_project

    stamps: list[float] = []
    started = time.perf_counter()
    render_project(root, load_project(root), SlowerDraft(extra_ms), options=options,
                   on_panel=lambda event: stamps.append(time.perf_counter()))
    return time.perf_counter() - started, stamps[-1] - stamps[0]


def cluster_run(root: Path, options, extra_ms: float, workers: int) -> tuple[float, float]:
    from storyboard.cluster import render_on_cluster
    from storyboard.storyfile import load_project

    stamps: list[float] = []
    started = time.perf_counter()
    render_on_cluster(root, load_project(root), "draft", workers=workers, options=options,
                      on_panel=lambda event: stamps.append(time.perf_counter()),
                      engine_factory=functools.partial(SlowerDraft, extra_ms))
    return time.perf_counter() - started, stamps[-1] - stamps[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--panels", type=int, default=80)
    parser.add_argument("--max-side", type=int, default=None, help="render smaller (default: the page slot sizes)")
    parser.add_argument("--extra-ms", type=float, default=0.0, help="sleep this long per panel (a heavier engine)")
    args = parser.parse_args()
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    from storyboard.cluster import import_ray
    from storyboard.render import RenderOptions

    options = RenderOptions(max_side=args.max_side)
    n = args.panels
    ray = import_ray(local=True)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # SlowerDraft goes to the workers by value
    log.info("%d draft panels%s%s, %d CPUs here", n, f", max side {args.max_side}" if args.max_side else "",
             f", +{args.extra_ms:.0f} ms a panel" if args.extra_ms else "", os.cpu_count() or 1)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            rows = []
            root = Path(tmp) / "local"
            write_story(root, n)
            rows.append(("local (no cluster)", *local_run(root, options, args.extra_ms)))
            for workers in (1, 2):
                root = Path(tmp) / f"cluster-{workers}"
                write_story(root, n)
                rows.append((f"Ray, {workers} worker{'s' if workers > 1 else ''}",
                             *cluster_run(root, options, args.extra_ms, workers)))
            for label, total, steady in rows:
                log.info("%-20s total %6.2f s = %6.1f panels/s | steady %6.1f panels/s", label, total, n / total,
                         (n - 1) / steady if steady > 0 else float("inf"))
    finally:
        ray.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
