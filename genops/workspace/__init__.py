"""The workspace: genops.toml, specs/, adr/ and prompts/ loaded into validated models.

`load_workspace` either returns a complete, valid `Workspace` or raises one `ConfigError` naming
the file and line; nothing is written either way.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genops.workspace.adr import Adr, effective_status, load_adrs
from genops.workspace.config import GenopsConfig, ModelConfig, Price
from genops.workspace.prompts import load_templates, render
from genops.workspace.rules_schema import validate_adr_rules
from genops.workspace.specs import Requirement, load_specs
from genops.workspace.federation import (INTERFACE_NAME, SNAPSHOT_DIR, SNAPSHOT_FILE,
                                         load_snapshots)
from genops.workspace.toml_config import CONFIG_NAME, check_pins, load_config

__all__ = ["Workspace", "load_workspace", "find_root", "Adr", "Requirement", "GenopsConfig",
           "ModelConfig", "Price"]


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class Workspace:
    root: Path
    config: GenopsConfig
    requirements: list[Requirement]
    spec_texts: dict[str, str]
    adrs: list[Adr]
    templates: dict[str, str]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def output_dir(self) -> Path:
        return self.root / self.config.project.output

    @property
    def genops_dir(self) -> Path:
        return self.root / ".genops"

    @property
    def principles(self) -> str:
        return self.spec_texts.get("specs/principles.md", "")

    def active_adrs(self) -> list[Adr]:
        """Accepted ADRs that no accepted ADR supersedes: the ones whose rules apply."""
        status = effective_status(self.adrs)
        return [a for a in self.adrs if status[a.id] == "accepted"]

    def render(self, template: str, context: dict[str, Any]) -> str:
        return render(self.templates, template, context)

    def input_files(self) -> list[Path]:
        """Every input file hashed into a manifest, sorted."""
        paths = [self.root / CONFIG_NAME]
        for sub, patterns in (("specs", ("*.md",)), ("adr", ("*.yaml", "*.yml")), ("prompts", ("*.j2",))):
            for pattern in patterns:
                paths.extend((self.root / sub).glob(pattern))
        # a federation member's interface.toml and the consumed interfaces' snapshots
        paths.append(self.root / INTERFACE_NAME)
        paths.extend((self.root / SNAPSHOT_DIR).glob(f"*/{SNAPSHOT_FILE}"))
        return sorted(p for p in paths if p.is_file())

    def input_hashes(self) -> dict[str, str]:
        return {p.relative_to(self.root).as_posix(): sha256_file(p) for p in self.input_files()}


def find_root(start: Path) -> Path:
    """The nearest directory at or above `start` holding genops.toml (or `start` itself)."""
    start = start.resolve()
    for candidate in (start, *start.parents):
        if (candidate / CONFIG_NAME).is_file():
            return candidate
    return start


def load_workspace(root: Path, *, check_model_pins: bool = True) -> Workspace:
    """The validated workspace at `root`. `check_model_pins=False` only for rebuilding a past
    release, whose genops.toml was accepted when it was made."""
    root = root.resolve()
    config = load_config(root)
    if check_model_pins:
        check_pins(root, config)
    requirements, spec_texts = load_specs(root)
    adrs = load_adrs(root)
    validate_adr_rules(adrs, root)
    templates = load_templates(root)
    snapshots = load_snapshots(root)
    return Workspace(root=root, config=config, requirements=requirements, spec_texts=spec_texts,
                     adrs=adrs, templates=templates,
                     extra={"interfaces": snapshots} if snapshots else {})
