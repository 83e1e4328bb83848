"""What every UI area shares: the app context, sessions, and turning StoryboardErrors into messages."""

from __future__ import annotations

import functools
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from storyboard.engine_holder import EngineHolder
from storyboard.engines import Engine
from storyboard.errors import ProjectError, StoryboardError
from storyboard.settings import Settings
from storyboard.studio import CancelRegistry, ClusterRender, check_inside
from ui.browser_files import BrowserFiles

log = logging.getLogger(__name__)

TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


@dataclass
class AppContext:
    """The single engine (loaded on first use), limits, workspace and per-session cancel flags, shared by every area."""

    engines: EngineHolder
    settings: Settings
    workspace: Path
    startup_project: Path | None = None
    cancels: CancelRegistry = field(default_factory=CancelRegistry)
    files: BrowserFiles = field(default_factory=BrowserFiles)  # what handlers show or offer: copies, never by path
    banner: Any = None  # the engine banner (a gr.Markdown), refreshed after anything that may load the engine
    cluster: ClusterRender | None = None  # Ray workers for the Render tab, when the app was started with --cluster

    @property
    def engine_status(self) -> str:
        return self.engines.status("web")

    def banner_text(self) -> str:
        """The banner: what runs, worded for someone in the browser (app.py's log keeps the command-line wording)."""
        return f"**Engine:** {self.engines.status('web')}"

    def engine(self, progress: gr.Progress | None = None) -> Engine:
        """The engine, loading it first if needed (downloads and loading bars show through `progress`)."""
        if not self.engines.loaded and progress is not None:
            progress(0, desc=f"Loading {self.engines.planned} (first render; this can take minutes) ...")
        was_loaded = self.engines.loaded
        engine = self.engines.get()
        if not was_loaded and self.engines.fallback_reason:
            advice = self.engines.web_advice(self.engines.fallback_reason)
            gr.Warning(f"StoryMaker did not load, so this renders in draft mode. {advice}")
        return engine

    def refresh_banner_after(self, event: Any) -> None:
        """Update the banner once `event` (a render or export that may load the engine) has run."""
        if self.banner is not None:
            event.then(self.banner_text, None, self.banner, api_name=False, queue=False)

    def session_dir(self, session: str, request: gr.Request | None = None) -> Path:
        """The session's folder: from the browser's token, else (API clients) from Gradio's session hash."""
        if session:
            return Path(session)
        key = getattr(request, "session_hash", None) or "anonymous"
        key = re.sub(r"[^A-Za-z0-9_-]", "", key)[:64] or "anonymous"
        return self.workspace / "sessions" / key

    def project_root(self, root: str, session: str, request: gr.Request | None = None) -> Path:
        """The open project folder, checked to belong to this session (or be the one opened at start)."""
        if not root:
            raise ProjectError("No project is open. Create one, or open the sample, in the Project tab.")
        if self.startup_project is not None and Path(root) == self.startup_project:
            return self.startup_project
        return check_inside(self.session_dir(session, request), root)

    def gpu(self, fn: Callable) -> Callable:
        """`spaces.GPU` around GPU work when the `spaces` package is there (ZeroGPU Spaces), else `fn` itself."""
        try:
            import spaces  # type: ignore[import-not-found]
        except ImportError:
            return fn
        return spaces.GPU(duration=self.settings.gpu_seconds)(fn)


def new_token() -> str:
    return secrets.token_urlsafe(24)


def valid_token(token: Any) -> bool:
    return isinstance(token, str) and bool(TOKEN.match(token))


def from_browser(*values: Any) -> bool:
    """Whether the gr.Request among `values` comes from the studio's own page (not gradio_client or a script).

    Gradio's page sends `x-gradio-user: app` with every event; its clients send `api`."""
    for value in values:
        if isinstance(value, gr.Request):
            headers = getattr(value, "headers", None) or {}
            return headers.get("x-gradio-user") == "app"
    return False


def current_request() -> gr.Request | None:
    """The request of the event being handled (Gradio keeps it for the handler's thread); None outside one."""
    from gradio.context import LocalContext

    return LocalContext.request.get(None)


def refuse(fn_name: str, exc: StoryboardError, args: tuple, kwargs: dict) -> dict:
    """What a handler answers when it cannot do what was asked.

    In the browser: the message once, as a toast, and no change to any output (gr.skip()); a gr.Error would
    mark every output of the event with a red "Error" badge and hide the form. Scripts get the gr.Error."""
    log.info("%s: %s", fn_name, exc)
    if from_browser(*args, *kwargs.values()):
        gr.Warning(str(exc), title="Cannot do that")
        return gr.skip()
    raise gr.Error(str(exc), title="Cannot do that", print_exception=False) from None


def user_errors(fn: Callable) -> Callable:
    """Run a handler; a StoryboardError is refused with its message (see `refuse`), no traceback for the user.

    The handler must take a `gr.Request` to tell its page from scripts (without one, it raises gr.Error)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except StoryboardError as exc:
            return refuse(fn.__name__, exc, args, kwargs)

    return wrapper


def user_errors_gen(fn: Callable) -> Callable:
    """`user_errors` for generator handlers (Gradio must still see a generator function)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            yield from fn(*args, **kwargs)
        except StoryboardError as exc:
            yield refuse(fn.__name__, exc, args, kwargs)

    return wrapper


@dataclass
class Area:
    """What an area gives the composer: how to refresh it from the open project, and what that updates."""

    outputs: list[Any]
    refresh: Callable[..., list[Any]]  # (root, session, request) -> one value per output
    # Components (e.g. a gr.State a handler sets to a new value) whose change refreshes every area: the open project
    # changed while its folder stayed the same (an import appended to it)
    changes_project: list[Any] = field(default_factory=list)


def file_path(value: Any) -> str | None:
    """The local path of an uploaded file, whatever form Gradio gives it in."""
    if value is None or value == "":
        return None
    if isinstance(value, (str, Path)):
        return str(value)
    if isinstance(value, dict):
        return value.get("path") or value.get("name")
    return getattr(value, "path", None) or getattr(value, "name", None)
