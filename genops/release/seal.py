"""The seal: the tree promoted is byte for byte the tree the gates judged.

The staged tree is listed (every entry on disk, ignored names too: `tree.seal_files`) before the
first gate, listed again after the last gate and once more right before the swap into the output
directory (`genops.release.promote`). Any difference fails the run with `SealBroken` (exit 1)
naming the changed paths; `generated/` is left untouched and nothing is committed.
"""

from __future__ import annotations

from pathlib import Path

from genops.errors import GateFailed
from genops.store.tree import changed_paths, seal_files

SHOWN = 10


class SealBroken(GateFailed):
    """The staged tree changed after it was sealed; `paths` are the changed entries."""

    def __init__(self, message: str, *, paths: list[str], hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.paths = paths


def seal(staged: Path) -> dict[str, str]:
    """The listing the gates are about to judge (pass it to `verify_seal` later)."""
    return seal_files(staged)


def verify_seal(staged: Path, sealed: dict[str, str], *, when: str) -> None:
    """Raise SealBroken when `staged` no longer matches `sealed`; `when` names the moment."""
    changed = changed_paths(sealed, seal_files(staged))
    if not changed:
        return
    shown = ", ".join(changed[:SHOWN]) + (f" and {len(changed) - SHOWN} more"
                                          if len(changed) > SHOWN else "")
    raise SealBroken(f"the staged tree changed {when} (sealed before the first gate): {shown}",
                     paths=changed,
                     hint="something wrote into the staged tree while it was judged; nothing "
                          "was promoted. Find what wrote it (a gate, a test, another process), "
                          "then run again")
