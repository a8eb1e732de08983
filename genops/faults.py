"""Named crash points, so tests can prove a kill at any step of a promotion is recoverable.

`crashpoint("after-swap")` ends the process at once (exit 137, as after SIGKILL: no cleanup, no
`finally`) when the environment variable GENOPS_CRASH_AT names that point. It is a fault-injection
seam in the style of SQLite's test hooks: a string comparison on a path that runs once per step,
with no effect unless the variable is set. The points are listed in `CRASH_POINTS`.

`GENOPS_PAUSE_AT` names a point at which the process stops instead, until the file named by
GENOPS_PAUSE_UNTIL exists (at most 120 s), after writing its pid to `<that file>.paused`: tests
use it to hold a run at a known instant (holding the workspace lock, or with a call in flight),
then start a rival, or kill the process group.

`GIT_CRASH_POINTS` kill inside git instead: `git_fault_hooks("commit")` gives the git command
a reference-transaction hook that SIGKILLs its whole process group (git, genops, everything the
command started) while git holds its lock files, as a kill of the terminal's process group would.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

ENV = "GENOPS_CRASH_AT"
PAUSE_ENV = "GENOPS_PAUSE_AT"
PAUSE_UNTIL_ENV = "GENOPS_PAUSE_UNTIL"
PAUSE_MAX_S = 120.0
CRASH_POINTS = (
    # pipeline
    "after-run-created", "after-synthesis", "after-staging", "after-gates",
    # promotion
    "after-prepare", "after-journal", "after-trash", "after-swap", "after-release-dir",
    "after-diffs", "before-commit", "after-commit", "after-tag", "after-trash-removed",
)
# A paid call written to the ledger as in flight, its request not yet answered.
CALL_POINTS = ("call-in-flight",)


GIT_CRASH_POINTS = ("in-git-commit", "in-git-tag")
_KILL_GROUP_HOOK = """#!/bin/sh
# genops fault injection (GENOPS_CRASH_AT): die with the whole process group, locks held
if [ "$1" = prepared ]; then kill -KILL 0; fi
"""


def git_fault_hooks(step: str) -> str | None:
    """A hooks directory whose hook kills the process group inside git `step` ("commit", "tag"),
    or None unless GENOPS_CRASH_AT names that step."""
    if os.environ.get(ENV) != f"in-git-{step}":
        return None
    hooks = Path(tempfile.mkdtemp(prefix="genops-fault-"))
    hook = hooks / "reference-transaction"
    hook.write_text(_KILL_GROUP_HOOK, encoding="utf-8")
    hook.chmod(0o755)
    return str(hooks)


def crashpoint(name: str) -> None:
    """Exit immediately with 137 when GENOPS_CRASH_AT == name; pause when GENOPS_PAUSE_AT is."""
    if os.environ.get(ENV) == name:
        os._exit(137)
    if os.environ.get(PAUSE_ENV) == name and os.environ.get(PAUSE_UNTIL_ENV):
        _pause(Path(os.environ[PAUSE_UNTIL_ENV]))


def _pause(until: Path) -> None:
    Path(f"{until}.paused").write_text(str(os.getpid()), encoding="utf-8")
    deadline = time.monotonic() + PAUSE_MAX_S
    while not until.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
