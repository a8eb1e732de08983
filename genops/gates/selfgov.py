"""genops governs its own code: its ADRs (docs/adr) checked on its own package with its rule engine.

The package is copied alone into a scratch tree so module names are `genops.*` and files are
repository paths (`genops/gates/drift.py`), exactly as a finding should name them.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from genops.gates.adr_rules import RulesReport, check_rules
from genops.workspace.adr import Adr, effective_status, load_adrs
from genops.workspace.rules_schema import validate_adr_rules

ADR_HOME = "docs"  # the tool's ADRs live in docs/adr, apart from a workspace's adr/


def self_adrs(repo: Path) -> list[Adr]:
    """The active ADRs of genops itself, validated, their files named from the repository root."""
    adrs = load_adrs(repo / ADR_HOME)
    adrs = [a.model_copy(update={"file": f"{ADR_HOME}/{a.file}"}) for a in adrs]
    validate_adr_rules(adrs, repo)
    status = effective_status(adrs)
    return [a for a in adrs if status[a.id] == "accepted"]


def check_package(repo: Path, package: str = "genops") -> RulesReport:
    """Check `repo/package` against the ADRs in `repo/docs/adr`; the report names repo paths."""
    adrs = self_adrs(repo)
    with tempfile.TemporaryDirectory(prefix="genops-selfgov-") as tmp:
        shutil.copytree(repo / package, Path(tmp) / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        return check_rules(adrs, Path(tmp))
