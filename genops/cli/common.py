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

import typer

F = TypeVar("F", bound=Callable[..., Any])

WORKSPACE_HELP = "The workspace (default: the one holding the current directory)."


def workspace_root(path: Path | None, *, required: bool = False) -> Path:
    """The workspace root at or above `path` (default: the current directory); `required`: a
    directory with no genops.toml at or above it is a usage error (exit 2)."""
    from genops.workspace import find_root
    from genops.workspace.toml_config import CONFIG_NAME, not_in_workspace

    start = path or Path.cwd()
    root = find_root(start)
    if required and not (root / CONFIG_NAME).is_file():
        raise not_in_workspace(start)
    return root


def open_workspace(path: Path | None) -> Any:
    """Load and validate the workspace at or above `path`; a bad file raises ConfigError."""
    from genops.workspace import load_workspace

    return load_workspace(workspace_root(path, required=True))


JSON_HELP = "Print the result as one JSON document on stdout."
JSONL_HELP = ("Stream events as JSON Lines on stdout, one object per line; the last line is the "
              "result (\"event\": \"result\").")


def output_mode(json_out: bool, jsonl: bool = False) -> bool:
    """Set how this command prints its result (README "Output and exit codes"); True: as data."""
    from genops.render.console import set_output_mode

    set_output_mode(json_out=json_out, jsonl=jsonl)
    return json_out or jsonl


def progress_display(jsonl: bool) -> AbstractContextManager[Any]:
    """Events on stdout for `--jsonl`; otherwise live progress on stderr (plain when piped)."""
    from genops.render.progress import JsonProgress, LiveProgress

    return JsonProgress() if jsonl else LiveProgress()


def exit_for(outcome: Any) -> None:
    """A run that stopped to wait for manual answers exits AWAITING (5), not success."""
    from genops.errors import ExitCode

    if getattr(outcome, "status", None) == "awaiting":
        raise typer.Exit(int(ExitCode.AWAITING))


def run_with_progress(json_out: bool, jsonl: bool, call: Callable[[Any], Any]) -> None:
    """Run `call(progress)` and print its outcome; a failed gate is rendered, then re-raised."""
    from genops.errors import GateFailed
    from genops.render import release as render

    as_data = output_mode(json_out, jsonl)
    with progress_display(jsonl) as progress:
        try:
            outcome = call(progress)
        except GateFailed as exc:
            progress.__exit__(None, None, None)
            render.print_gate_failure(exc, as_json=as_data)
            raise
    render.print_run_outcome(outcome, as_json=as_data)
    exit_for(outcome)


def mutates(command: str, *, unless: Callable[[dict[str, Any]], bool] | None = None
            ) -> Callable[[F], F]:
    """Run the command under the workspace lock (exit 2 at once when another genops holds it).

    `unless(kwargs)` true lets one invocation skip the lock (e.g. `regenerate --dry-run`, which
    spends and writes nothing). The command's `--workspace` option, if any, names the workspace.
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            # --json / --jsonl: a refusal below (the lock is held) is a JSON document too
            output_mode(bool(kwargs.get("json_out")), bool(kwargs.get("jsonl")))
            if unless is not None and unless(kwargs):
                return func(*args, **kwargs)
            from genops.release.lock import workspace_lock
            from genops.release.recovery import startup_recovery
            from genops.render.release import print_startup_recovery

            root = workspace_root(kwargs.get("workspace"), required=True)  # no lock elsewhere
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
