"""adr/*.yaml: machine-readable architecture decision records.

The schema is strict (unknown keys rejected). `rules` are kept as validated-shape dicts here; the
governance engine (genops.gates.adr_rules) gives each rule kind its meaning. Errors name the file
and the YAML line of the offending key.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from genops.errors import ConfigError
from genops.workspace.inputs import check_inside
from genops.workspace.yamlpos import line_of, load_yaml_with_nodes

ADR_ID = re.compile(r"^ADR-\d{4}$")


class Waiver(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    adr: str
    rule: str
    path: str


class Adr(BaseModel):
    """One decision. `file` and `rule_lines` are filled in by the loader, not the YAML."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    title: str
    status: Literal["proposed", "accepted", "superseded"]
    date: str | None = None
    supersedes: list[str] = Field(default_factory=list)
    superseded_by: str | None = None
    context: str = ""
    decision: str
    consequences: str = ""
    requirements: list[str] = Field(default_factory=list)
    rules: list[dict[str, Any]] = Field(default_factory=list)
    waives: list[Waiver] = Field(default_factory=list)
    allows_breaking: list[str] = Field(default_factory=list)  # dotted paths this ADR accepts breaking
    file: str = ""
    rule_lines: list[int] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not ADR_ID.match(value):
            raise ValueError(f"id {value!r} must look like ADR-0001")
        return value

    @field_validator("rules")
    @classmethod
    def _rules_have_kind(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for index, rule in enumerate(value):
            if not isinstance(rule, dict) or not isinstance(rule.get("kind"), str):
                raise ValueError(f"rule {index + 1} needs a `kind` (e.g. forbid_import, layers)")
        return value


def load_adr(path: Path, rel: str) -> Adr:
    """Parse and validate one ADR file; any problem is a ConfigError naming file and line."""
    data, node = load_yaml_with_nodes(path, rel)
    if not isinstance(data, dict):
        raise ConfigError(rel, "an ADR must be a YAML mapping (id, title, status, decision, ...)",
                          line=1)
    for reserved in ("file", "rule_lines"):
        if reserved in data:
            raise ConfigError(rel, f"unknown key {reserved!r}", line=line_of(node, (reserved,)))
    try:
        adr = Adr.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        what = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        field = ".".join(str(p) for p in loc)
        raise ConfigError(rel, f"{field}: {what}", line=line_of(node, loc),
                          hint="`genops help config` shows the ADR schema") from None
    rule_lines = [line_of(node, ("rules", i)) or 0 for i in range(len(adr.rules))]
    return adr.model_copy(update={"file": rel, "rule_lines": rule_lines})


def load_adrs(root: Path) -> list[Adr]:
    """Every adr/*.yaml, sorted by id; duplicate ids and dangling `supersedes` are errors."""
    adr_dir = root / "adr"
    adrs: list[Adr] = []
    by_id: dict[str, Adr] = {}
    paths = sorted([*adr_dir.glob("*.yaml"), *adr_dir.glob("*.yml")]) if adr_dir.is_dir() else []
    for path in paths:
        rel = check_inside(root, path)
        adr = load_adr(path, rel)
        if adr.id in by_id:
            raise ConfigError(rel, f"duplicate ADR id {adr.id} (also in {by_id[adr.id].file})",
                              line=1, hint="give this ADR the next free number")
        by_id[adr.id] = adr
        adrs.append(adr)
    for adr in adrs:
        for target in adr.supersedes:
            if target not in by_id:
                raise ConfigError(adr.file, f"supersedes {target}, which does not exist",
                                  line=1)
    return sorted(adrs, key=lambda a: a.id)


def effective_status(adrs: list[Adr]) -> dict[str, str]:
    """Status after supersession: an ADR superseded by an accepted one no longer applies."""
    status: dict[str, str] = {a.id: a.status for a in adrs}
    for adr in adrs:
        if adr.status == "accepted":
            for target in adr.supersedes:
                status[target] = "superseded"
    return status


def dump_adr(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
