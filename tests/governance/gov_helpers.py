"""Helpers for governance tests: small trees, workspaces with chosen ADRs, real releases."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import tomli_w
import yaml

from genops.workspace import Workspace, load_workspace
from genops.workspace.scaffold import init_workspace

# The base tree every rule case starts from: MADs that talk only through the bus.
BASE_TREE: dict[str, str] = {
    "mad/__init__.py": "",
    "mad/bus.py": "import json\n\n\nclass Bus:\n    def publish(self, topic, timeout=5.0):\n"
                  "        return json.dumps(topic)\n",
    "mad/util.py": "import os\n",
    "mad/helpers.py": "X = 1\n",
    "mad/mads/__init__.py": "",
    "mad/mads/rogers.py": "from mad import bus\n",
    "mad/mads/fiedler.py": "from mad import bus\n",
    "mad/sandbox.py": "import subprocess\n\n\ndef run(cmd):\n    return subprocess.run(cmd)\n",
    "tests/test_bus.py": "from mad.bus import Bus\n\n\ndef test_publish():\n"
                         "    assert Bus().publish('t')  # REQ-GREET-1\n",
}


def write_tree(root: Path, files: dict[str, str | None]) -> Path:
    """Write files (None deletes one) under root; returns root."""
    for rel, text in files.items():
        path = root / rel
        if text is None:
            if path.exists():
                path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def make_tree(root: Path, changes: dict[str, str | None] | None = None) -> Path:
    """The base tree with some files replaced, added or deleted."""
    write_tree(root, dict(BASE_TREE))
    return write_tree(root, changes or {})


def adr_yaml(adr_id: str, *, rules: list[dict[str, Any]] | None = None,
             status: str = "accepted", **extra: Any) -> str:
    """The YAML text of an ADR with the given rules and extra keys (waives, supersedes...)."""
    data: dict[str, Any] = {"id": adr_id, "title": f"decision {adr_id}", "status": status,
                            "decision": "as the rules say"}
    data.update(extra)
    if rules is not None:
        data["rules"] = rules
    return yaml.safe_dump(data, sort_keys=False)


def make_workspace(root: Path, adrs: dict[str, str], *, git: bool = False,
                   gates: dict[str, dict[str, Any]] | None = None) -> Path:
    """A scaffolded workspace whose adr/ holds exactly `adrs` (file name -> YAML text), with
    some [gates.*] settings overridden."""
    ws = init_workspace(root, git=git).root
    for old in (ws / "adr").glob("*.yaml"):
        old.unlink()
    for name, text in adrs.items():
        (ws / "adr" / name).write_text(text, encoding="utf-8")
    if gates:
        toml = ws / "genops.toml"
        data = tomllib.loads(toml.read_text(encoding="utf-8"))
        for table, values in gates.items():
            data.setdefault("gates", {}).setdefault(table, {}).update(values)
        toml.write_text(tomli_w.dumps(data), encoding="utf-8")
    return ws


def load(root: Path) -> Workspace:
    return load_workspace(root)


def publish_release(root: Path, files: dict[str, str], *, run: str,
                    flags: dict[str, Any] | None = None) -> str:
    """Promote `files` as the next release with genops.release's own publish (manifest, diffs,
    commit, tag), as a run that passed its gates would; returns the release id."""
    from genops.release.manifest import ReleaseFacts
    from genops.release.publish import publish

    ws = load_workspace(root)
    run_dir = ws.root / ".genops" / "runs" / run
    staged = write_tree(run_dir / "staged", dict(files))
    facts = ReleaseFacts(kind="manual", reason=f"test release {run}", run_id=run,
                         extra={"flags": flags} if flags else {})
    return publish(ws, facts, run_dir=run_dir, staged=staged, gates=[]).release
