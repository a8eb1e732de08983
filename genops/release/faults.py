"""Named crash points, so tests can prove a kill at any step of a promotion is recoverable.

`crashpoint("after-swap")` ends the process at once (exit 137, as after SIGKILL: no cleanup, no
`finally`) when the environment variable GENOPS_CRASH_AT names that point. It is a fault-injection
seam in the style of SQLite's test hooks: a string comparison on a path that runs once per step,
with no effect unless the variable is set. The points are listed in `CRASH_POINTS`.
"""

from __future__ import annotations

import os

ENV = "GENOPS_CRASH_AT"
CRASH_POINTS = (
    # pipeline
    "after-run-created", "after-synthesis", "after-staging", "after-gates",
    # promotion
    "after-prepare", "after-journal", "after-trash", "after-swap", "after-release-dir",
    "after-diffs", "before-commit", "after-commit", "after-tag", "after-trash-removed",
)


def crashpoint(name: str) -> None:
    """Exit immediately with 137 when GENOPS_CRASH_AT == name."""
    if os.environ.get(ENV) == name:
        os._exit(137)
