"""What several commands share: finding the workspace, the workspace lock, live progress.

A command that spends, stages or promotes declares it with `@mutates("name")` (under
`@app.command()`): it then runs holding the workspace lock, after startup recovery. Read-only
commands declare nothing and never wait on the lock.
"""

from __future__ import annotations

import functools
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

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


def mutates(command: str, *, unless: Callable[[dict[str, Any]], bool] | None = None
            ) -> Callable[[F], F]:
    """Run the command under the workspace lock (exit 2 at once when another genops holds it).

    `unless(kwargs)` true lets one invocation skip the lock (e.g. `regenerate --dry-run`, which
    spends and writes nothing). The command's `--workspace` option, if any, names the workspace.
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if unless is not None and unless(kwargs):
                return func(*args, **kwargs)
            from genops.release.lock import workspace_lock
            from genops.release.recovery import startup_recovery
            from genops.render.release import print_startup_recovery

            root = workspace_root(kwargs.get("workspace"))
            with workspace_lock(root, command):
                print_startup_recovery(startup_recovery(root))
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def recover_if_free(root: Path) -> None:
    """Finish what a killed genops left, if anything, when no other genops holds the lock.

    Run before every command; it takes the lock only when there is something to recover and only
    if it is free at once, so a read-only command never waits.
    """
    from genops.release.lock import try_acquire
    from genops.release.recovery import needs_recovery, startup_recovery
    from genops.render.release import print_startup_recovery
    from genops.workspace.toml_config import CONFIG_NAME

    if not (root / CONFIG_NAME).is_file() or not needs_recovery(root):
        return
    lock = try_acquire(root, "recovery")
    if lock is None:  # the holder is alive and recovers (or is promoting) itself
        return
    try:
        print_startup_recovery(startup_recovery(root))
    finally:
        lock.release()
