"""Releases: staging, gates, atomic promotion with a journal, manifests, replay, log and rollback.

    staging.py    a synthesis result -> .genops/runs/<run>/staged/
    publish.py    release id, manifest, diffs -> a journaled promotion plan
    promote.py    the plan carried out atomically; recovery after a crash
    pipeline.py   regenerate / resume: synthesize -> stage -> gates -> promote
    replay.py     rebuild a release from its commit and the archive, compare byte for byte
    history.py    log and rollback
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

JOURNAL = Path(".genops") / "promote.journal"


def recover_interrupted(root: Path) -> Any:
    """Finish a promotion that a killed genops left half done; None when there was none.

    Cheap when there is nothing to do (one stat), so every command can call it first.
    """
    if not (Path(root) / JOURNAL).is_file():
        return None
    from genops.release.promote import recover_interrupted as recover

    return recover(Path(root))


__all__ = ["recover_interrupted"]
