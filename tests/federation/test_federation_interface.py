"""The published interface: its surface, its classification, and the version bump it needs."""

from __future__ import annotations

import json
from pathlib import Path

import fedhelpers
from genops.semdiff.interface import (bump_ok, classify_python, classify_schemas,
                                      python_surface, required_version)


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


def test_python_classification(tmp_path: Path) -> None:
    old = _tree(tmp_path / "old", fedhelpers.identity_files())
    added = _tree(tmp_path / "added", fedhelpers.identity_files(
        more="\n\ndef list_users() -> list[str]:\n    return sorted(_USERS)\n"))
    broken = _tree(tmp_path / "broken", fedhelpers.identity_files(extra_param=", email: str"))
    body = _tree(tmp_path / "body", {**fedhelpers.identity_files(), "identity/api.py":
                                     fedhelpers.identity_files()["identity/api.py"].replace(
                                         "_USERS.get(user_id)", "_USERS.get(user_id) or None")})
    modules = ("identity.api",)
    assert classify_python(old, added, modules).level == "addition"
    result = classify_python(old, broken, modules)
    assert result.level == "breaking"
    assert "identity.api.create_user" in result.first().where  # type: ignore[union-attr]
    assert classify_python(old, body, modules).level == "none"
    assert "def list_users() -> list[str]" in python_surface(added, modules)
    assert "def _" not in python_surface(added, modules)


def test_schema_classification() -> None:
    base = {"type": "object", "properties": {"id": {"type": "string"},
                                             "note": {"type": ["string", "null"]}},
            "required": ["id"]}

    def level(new: dict[str, object]) -> str:
        return classify_schemas({"s/user.json": json.dumps(base)},
                                {"s/user.json": json.dumps(new)}).level

    assert level({**base, "properties": {**base["properties"], "age": {"type": "integer"}}}) \
        == "addition"
    assert level({**base, "properties": {"id": {"type": "string"}}}) == "breaking"
    assert level({**base, "required": ["id", "note"]}) == "breaking"
    assert level({**base, "properties": {**base["properties"], "note": {"type": "string"}}}) \
        == "breaking"  # narrowed
    assert level(base) == "none"
    assert classify_schemas({}, {"s/new.json": "{}"}).level == "addition"
    assert classify_schemas({"s/old.json": "{}"}, {}).level == "breaking"


def test_version_bumps() -> None:
    assert required_version("1.2.3", "breaking") == "2.0.0"
    assert required_version("1.2.3", "addition") == "1.3.0"
    assert not bump_ok("1.2.3", "1.3.0", "breaking") and bump_ok("1.2.3", "2.0.0", "breaking")
    assert not bump_ok("1.2.3", "1.2.4", "addition") and bump_ok("1.2.3", "1.3.0", "addition")
    assert bump_ok("1.2.3", "1.2.3", "none") and not bump_ok("1.2.3", "1.2.2", "none")
