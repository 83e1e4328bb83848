"""The reliability catalogue's harness: one table row per hostile or careless input (issue 11).

A row builds its input in a fresh copy of the test project, does one thing with it (a CLI command run in
this process, or a call to the studio's handlers) and states what must happen: the exit code or the error
type, words the message must contain (the thing it names, and what to do), and that story.yaml and every
file of the project are as they were. `run_case` checks all of it; test files parametrize over their rows:

    CASES = [Case("alias bomb", setup=write_alias_bomb, act=cli("validate"), expect=2,
                  says=("alias",), advice="write the value out"), ...]

    @pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
    def test_catalogue(case, tmp_path, capsys):
        run_case(case, tmp_path, capsys)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conftest import snapshot, write_project

Setup = Callable[[Path], Any]  # (project folder) -> anything the act needs
Act = Callable[[Path, Any], Any]  # (project folder, what setup returned) -> an exit code, or raises


@dataclass(frozen=True)
class Case:
    """One row of the catalogue."""

    id: str
    setup: Setup
    act: Act
    expect: int | type[BaseException]  # a CLI exit code, or the error type the act must raise
    says: tuple[str, ...] = ()  # the message must contain each of these (case-insensitive): the thing it names
    advice: str = ""  # a regex the message must match (case-insensitive): what to do
    unchanged: bool = True  # the project's files are exactly as after setup
    issue: int = 11


def cli(*argv: str) -> Act:
    """An act that runs `python -m storyboard ARGV...` in this process; '{root}' in an argument is the project."""

    def act(root: Path, _: Any) -> int:
        from storyboard.cli import main

        return main([a.replace("{root}", str(root)) for a in argv])

    act.__name__ = "cli " + " ".join(argv)
    return act


def run_case(case: Case, tmp_path: Path, capsys: Any) -> str:
    """Run one row and check everything it states; returns the message (conftest puts the root logger back)."""
    root = write_project(tmp_path / "proj")
    made = case.setup(root)
    before = snapshot(root)
    capsys.readouterr()
    if isinstance(case.expect, int):
        code = case.act(root, made)
        out = capsys.readouterr()
        message = out.err + out.out
        assert code == case.expect, f"{case.id}: exit code {code}, expected {case.expect}; said: {message[-600:]}"
        assert "Traceback" not in message, f"{case.id}: a traceback reached the user:\n{message[-1500:]}"
    else:
        try:
            case.act(root, made)
        except case.expect as exc:
            message = str(exc)
        except BaseException as exc:  # the wrong error is a failure of this row, shown with its type
            raise AssertionError(f"{case.id}: raised {type(exc).__name__}: {exc}; expected {case.expect.__name__}") from exc
        else:
            raise AssertionError(f"{case.id}: nothing was raised; expected {case.expect.__name__}")
    for word in case.says:
        assert word.lower() in message.lower(), f"{case.id}: the message does not name {word!r}: {message}"
    if case.advice:
        assert re.search(case.advice, message, re.IGNORECASE), f"{case.id}: the message does not say what to do " \
                                                               f"({case.advice!r}): {message}"
    if case.unchanged:
        after = snapshot(root)
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        assert not changed, f"{case.id}: the project changed: {changed}"
    return message
