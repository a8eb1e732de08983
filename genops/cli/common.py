"""What several commands share: finding the workspace, and running a job behind live progress."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Callable

WORKSPACE_HELP = "The workspace (default: the one holding the current directory)."


def workspace_root(path: Path | None) -> Path:
    """The workspace root at or above `path` (default: the current directory)."""
    from genops.workspace import find_root

    return find_root(path or Path.cwd())


def open_workspace(path: Path | None) -> Any:
    """Load and validate the workspace at or above `path`; a bad file raises ConfigError."""
    from genops.workspace import load_workspace

    return load_workspace(workspace_root(path))


def progress_display(as_json: bool) -> AbstractContextManager[Any]:
    from genops.render.progress import JsonProgress, LiveProgress

    return JsonProgress() if as_json else LiveProgress()


def run_with_progress(as_json: bool, call: Callable[[Any], Any]) -> None:
    """Run `call(progress)` and print its outcome; a failed gate is rendered, then re-raised."""
    from genops.errors import GateFailed
    from genops.render import release as render

    with progress_display(as_json) as progress:
        try:
            outcome = call(progress)
        except GateFailed as exc:
            progress.__exit__(None, None, None)
            render.print_gate_failure(exc, as_json=as_json)
            raise
    render.print_run_outcome(outcome, as_json=as_json)
