"""Where releases live: ids (r0001, r0002, ...), their directories and manifests.

The current release is the highest id with a manifest: a rollback is a new, higher release, so
history only grows and "current" never needs a pointer file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from genops.errors import UsageError

RELEASE_ID = re.compile(r"^r(\d{4,})$")
MANIFEST = "manifest.json"


def releases_dir(root: Path) -> Path:
    return root / ".genops" / "releases"


def release_dir(root: Path, release: str) -> Path:
    return releases_dir(root) / release


def diffs_dir(root: Path) -> Path:
    return root / "diffs"


def release_number(release: str) -> int:
    match = RELEASE_ID.match(release)
    if not match:
        raise UsageError(f"{release!r} is not a release id", hint="release ids look like r0001")
    return int(match.group(1))


def format_release(number: int) -> str:
    return f"r{number:04d}"


def release_ids(root: Path) -> list[str]:
    """Every release with a manifest, oldest first."""
    folder = releases_dir(root)
    if not folder.is_dir():
        return []
    ids = [p.name for p in folder.iterdir() if RELEASE_ID.match(p.name) and (p / MANIFEST).is_file()]
    return sorted(ids, key=release_number)


def current_release(root: Path) -> str | None:
    ids = release_ids(root)
    return ids[-1] if ids else None


def next_release(root: Path, taken: Iterable[str] = ()) -> str:
    """The id after every release directory and every id in `taken` (e.g. existing git tags)."""
    folder = releases_dir(root)
    numbers = [release_number(p.name) for p in folder.iterdir()
               if RELEASE_ID.match(p.name)] if folder.is_dir() else []
    numbers += [release_number(t) for t in taken if RELEASE_ID.match(t)]
    return format_release(max(numbers, default=0) + 1)


def load_manifest(root: Path, release: str) -> dict[str, Any]:
    path = release_dir(root, release) / MANIFEST
    if not path.is_file():
        raise UsageError(f"no release {release} in {releases_dir(root)}",
                         hint="`genops log` lists the releases of this workspace")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def resolve_release(root: Path, ref: str | None) -> str:
    """A release id from `r3`, `r0003`, `genops/r0003`, `current` or None (the current release)."""
    if ref is None or ref in ("current", "latest", "HEAD"):
        current = current_release(root)
        if current is None:
            raise UsageError("this workspace has no release yet",
                             hint="`genops regenerate` makes the first one")
        return current
    ref = ref.removeprefix("genops/")
    if re.fullmatch(r"r?\d+", ref):
        return format_release(int(ref.lstrip("r")))
    raise UsageError(f"{ref!r} is not a release id", hint="release ids look like r0001")


# Calls a run pays beside its synthesis, each counted in its own block of the manifest's totals.
SIDE_SPEND = (("review_panel", "review panel"), ("narrative", "narrative"))


def side_spend(totals: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(what, block) for each kind of call a release's run paid beside the synthesis."""
    return [(label, totals[key]) for key, label in SIDE_SPEND if totals.get(key)]


def run_cost_usd(totals: dict[str, Any]) -> float:
    """All a release's run paid: the synthesis and the calls beside it (panel, narrative)."""
    return round(float(totals.get("cost_usd", 0.0))
                 + sum(float(block["cost_usd"]) for _, block in side_spend(totals)), 6)


def release_cost_usd(manifest: dict[str, Any]) -> float:
    """All a release cost: its run (`run_cost_usd`) and the runs that led to it on the same
    parent (`earlier_runs`, genops.release.attribution)."""
    earlier = float((manifest.get("earlier_runs") or {}).get("cost_usd", 0.0))
    return round(run_cost_usd(manifest.get("totals", {})) + earlier, 6)
