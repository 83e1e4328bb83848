"""Benchmark: how fast the command line and the studio start (issue 13), against baselines run alongside.

    python tests/benchmarks/bench_start.py [--runs 7] [--no-app]

- `python -m storyboard --help` against a bare `python -c pass` (target: within 2x);
- `python app.py --engine draft` until it answers HTTP, against a minimal Gradio Blocks app started the same way
  (target: within 1.1x), and whether torch was imported by then (it must not be).
Runs alternate between the two sides of each pair, and the medians are compared. Both run as a user's Python
does, with bytecode cached in __pycache__ (a PYTHONDONTWRITEBYTECODE set here is dropped for them: with it, every
start compiles each of our modules again, which no installed app does). Not collected by pytest.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

MINIMAL_APP = textwrap.dedent("""
    import sys
    import gradio as gr
    with gr.Blocks() as demo:
        gr.Markdown("hello")
        gr.Button("go")
    demo.launch(server_name="127.0.0.1", server_port=int(sys.argv[1]), prevent_thread_lock=True)
    demo.block_thread()
""")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_once(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=ENV)
    return time.perf_counter() - started


def serve_once(argv: list[str], port: int, timeout_s: float = 120) -> float:
    """Seconds from starting `argv` until http://127.0.0.1:PORT/ answers."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    try:
        while time.perf_counter() - started < timeout_s:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as answer:
                    if answer.status == 200:
                        return time.perf_counter() - started
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"{argv} did not serve within {timeout_s} s")
    finally:
        process.terminate()
        process.wait(10)


def pair(name: str, ours, baseline, runs: int, target: float) -> None:
    mine, base = [], []
    baseline(), ours()  # once unmeasured: bytecode written, files in the page cache
    for _ in range(runs):
        base.append(baseline())
        mine.append(ours())
    m, b = statistics.median(mine), statistics.median(base)
    verdict = "ok" if m / b <= target else "OVER TARGET"
    print(f"{name:<34} {m:7.3f} s against {b:7.3f} s: {m / b:5.2f}x (target <= {target}x) {verdict}")


def torch_imported_at_start() -> bool:
    code = textwrap.dedent("""
        import sys
        sys.argv = ["app.py", "--engine", "draft"]
        import app
        from ui.studio import build_studio
        from storyboard.engine_holder import EngineHolder
        import tempfile
        build_studio(EngineHolder("auto"), tempfile.mkdtemp())
        print("torch" in sys.modules)
    """)
    out = subprocess.run([PY, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return out.strip().endswith("True")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-app", action="store_true", help="only the command line")
    args = parser.parse_args()
    pair("python -m storyboard --help", lambda: run_once([PY, "-m", "storyboard", "--help"]),
         lambda: run_once([PY, "-c", "pass"]), args.runs, 2.0)
    if not args.no_app:
        with tempfile.TemporaryDirectory() as workspace:
            pair("python app.py (until it serves)",
                 lambda: serve_once([PY, "app.py", "--engine", "draft", "--workspace", workspace, "--port", str(p := free_port())], p),
                 lambda: serve_once([PY, "-c", MINIMAL_APP, str(p := free_port())], p), max(3, args.runs // 2), 1.1)
        print(f"torch imported by building the studio: {torch_imported_at_start()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
