"""Reliability catalogue, poses (issue 11): hostile pose files, read by validate, render, export and the studio.

Every row: a clear message that names the pose file and what to do, nothing blocks (a FIFO is never opened
for reading; each act runs under a time guard so a regression fails instead of hanging), and the project
is as it was. See tests/reliability.py for the harness.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from conftest import POSE_P2
from reliability import Act, Case, cli, run_case
from storyboard import studio
from storyboard.errors import PoseError
from storyboard.poses import MAX_POSE_BYTES
from storyboard.storyfile import load_project

GUARD_S = 20.0  # a row that blocks fails after this long


def guarded(act: Act) -> Act:
    """`act` in a daemon thread joined with a timeout: a pose read that blocks fails the row, never hangs."""

    def run(root: Path, made: Any) -> Any:
        outcome: list[tuple[bool, Any]] = []

        def target() -> None:
            try:
                outcome.append((True, act(root, made)))
            except BaseException as exc:  # re-raised in the test's thread below
                outcome.append((False, exc))

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        thread.join(GUARD_S)
        assert not thread.is_alive(), f"{act.__name__} still running after {GUARD_S} s: it blocked or took too long"
        ok, value = outcome[0]
        if not ok:
            raise value
        return value

    run.__name__ = act.__name__
    return run


def pose_text(text: str):
    def setup(root: Path) -> None:
        (root / "poses" / "p2.json").write_text(text, encoding="utf-8")

    setup.__name__ = "pose_text"
    return setup


def pose_data(**changes: Any):
    data = json.loads(json.dumps(POSE_P2))
    data.update(changes)
    return pose_text(json.dumps(data))


def fifo_pose(root: Path) -> None:
    (root / "poses" / "p2.json").unlink()
    os.mkfifo(root / "poses" / "p2.json")


def folder_pose(root: Path) -> None:
    (root / "poses" / "p2.json").unlink()
    (root / "poses" / "p2.json").mkdir()


def far_neck(root: Path) -> None:
    data = json.loads(json.dumps(POSE_P2))
    data["canvas_width"] = data["canvas_height"] = 2
    data["people"][0]["pose_keypoints_2d"][4] = 1e6  # the neck's y: drawing it took 40-220 s before issue 11
    (root / "poses" / "p2.json").write_text(json.dumps(data))


def studio_call(fn, *args: Any, **kwargs: Any) -> Act:
    def act(root: Path, _: Any) -> Any:
        return fn(root, *args, **kwargs)

    act.__name__ = fn.__name__
    return act


def set_pose_replaces(root: Path, _: Any) -> int:
    """The studio's set_pose neither reads the FIFO nor blocks: the new pose goes to a regular file of its own."""
    studio.set_pose(root, "p2", POSE_P2)
    assert (root / load_project(root).panel("p2").pose).is_file()
    assert studio.panel_pose(root, load_project(root).panel("p2")) is not None
    return 0


NAN_POSE = json.dumps(POSE_P2).replace("300", "NaN", 1)
OVERSIZE = json.dumps(POSE_P2) + " " * MAX_POSE_BYTES
NESTED = "[" * 100_000 + "]" * 100_000
MANY_PEOPLE = [POSE_P2["people"][0]] * 1000
FIX = "export the pose again|draw the pose again|drag them back"

fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")

CASES = [
    pytest.param(Case("pose is a FIFO (validate)", fifo_pose, guarded(cli("validate", "{root}")), 2,
                      says=("poses/p2.json", "named pipe (FIFO)"), advice=FIX), marks=fifo),
    pytest.param(Case("pose is a FIFO (render)", fifo_pose, guarded(cli("render", "{root}", "--engine", "draft",
                      "--panels", "p2")), 2, says=("p2", "named pipe (FIFO)"), advice=FIX), marks=fifo),
    pytest.param(Case("pose is a FIFO (studio: a new pose replaces it)", fifo_pose, guarded(set_pose_replaces), 0,
                      unchanged=False), marks=fifo),
    Case("pose is a folder", folder_pose, guarded(cli("validate", "{root}")), 2, says=("poses/p2.json", "is a folder"),
         advice=FIX),
    Case("pose over 2 MB", pose_text(OVERSIZE), guarded(cli("validate", "{root}")), 2, says=("poses/p2.json", "2 MB"),
         advice=FIX),
    Case("pose JSON nested 100000 deep", pose_text(NESTED), guarded(cli("validate", "{root}")), 2,
         says=("poses/p2.json", "nests too deeply"), advice=FIX),
    Case("pose canvas rounds to 0 px", pose_data(canvas_width=0.4), guarded(cli("render", "{root}", "--engine", "draft",
         "--panels", "p2")), 2, says=("poses/p2.json", "canvas_width", "1 to 16384"), advice="fix the canvas size"),
    Case("pose canvas a million px wide", pose_data(canvas_width=1_000_000), guarded(cli("validate", "{root}")), 2,
         says=("poses/p2.json", "canvas_width"), advice="fix the canvas size"),
    Case("pose with a NaN coordinate", pose_text(NAN_POSE), guarded(cli("validate", "{root}")), 2,
         says=("poses/p2.json", "NaN"), advice="0, 0, 0 for a missing point"),
    Case("pose with 1000 people", pose_data(people=MANY_PEOPLE), guarded(cli("validate", "{root}")), 2,
         says=("poses/p2.json", "1000 people"), advice="keep the skeletons the panel needs"),
    Case("studio: pose text with NaN", lambda root: None, guarded(studio_call(studio.set_pose, "p2", NAN_POSE)),
         PoseError, says=("panel 2", "NaN")),  # the studio names panels as its list does (issue 12)
    Case("studio: pose with a 0.4 px canvas", lambda root: None,
         guarded(studio_call(studio.set_pose, "p2", {**POSE_P2, "canvas_height": 0.4})), PoseError,
         says=("canvas_height",), advice="fix the canvas size"),
    Case("pose neck at y=1e6 (validate warns)", far_neck, guarded(cli("validate", "{root}")), 0,
         says=("poses/p2.json", "canvas"), advice=FIX),
    Case("pose neck at y=1e6 (render is quick)", far_neck, guarded(cli("render", "{root}", "--engine", "draft", "--force",
         "--panels", "p2")), 0, says=("poses/p2.json", "canvas"), advice=FIX, unchanged=False),
    Case("pose neck at y=1e6 (export is quick)", far_neck, guarded(cli("export", "{root}", "-o", "{root}/../out.pdf")), 0,
         says=("poses/p2.json",), advice=FIX, unchanged=False),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_pose_catalogue(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_case(case, tmp_path, capsys)
