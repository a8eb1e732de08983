"""A plain `pip install genops` has everything genops imports (issue 24): every module genops/
imports from outside the standard library comes from a distribution declared in [project]
dependencies; `jsonschema` too (CycloneDX's SBOM validator imports it for `verify` and `check`).
`mypy --strict` gets its stubs from the `dev` extra that .ci/run installs."""

from __future__ import annotations

import ast
import sys
import tomllib
from collections.abc import Mapping
from importlib.metadata import distribution, packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
OPTIONAL = {"uv"}  # `genops lock` only: imported late, a missing uv says `pip install uv`


def _project() -> dict[str, object]:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _names(lines: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(line).name) for line in lines}


def _imported_modules() -> dict[str, str]:
    """Every absolute import of genops/ outside the stdlib and genops (`from a import b` as
    `a.b`): dotted name -> first file."""
    found: dict[str, str] = {}
    for path in sorted((REPO / "genops").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [f"{node.module}.{a.name}" for a in node.names]
                     if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                     else [])
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "genops":
                    found.setdefault(name, path.relative_to(REPO).as_posix())
    return found


def _distribution(name: str, tops: Mapping[str, list[str]]) -> str:
    """The installed distribution a dotted name comes from; a namespace shared by several
    (`google`) is told apart by the distribution's files under its first two parts."""
    parts = name.split(".")
    candidates = sorted(set(tops.get(parts[0], [])))
    if len(candidates) > 1:
        prefix = "/".join(parts[:2])
        candidates = [c for c in candidates
                      if any(str(f).startswith((prefix + "/", prefix + ".")) for f in
                             distribution(c).files or ())]
    return canonicalize_name(candidates[0]) if len(candidates) == 1 else f"<{name}: {candidates}>"


def test_every_import_of_genops_is_a_declared_dependency() -> None:
    declared = _names(_project()["dependencies"])  # type: ignore[arg-type]
    tops = packages_distributions()
    missing = {}
    for name, where in _imported_modules().items():
        dist = _distribution(name, tops)
        if dist not in declared and dist not in OPTIONAL:
            missing[name] = (dist, where)
    assert not missing, missing
    assert {"jsonschema", "referencing", "packaging"} <= declared


def test_lint_and_strict_typing_have_their_tools_and_stubs_declared() -> None:
    extras = _project()["optional-dependencies"]
    dev = _names(extras["dev"])  # type: ignore[index]
    assert {"ruff", "mypy", "types-pyyaml"} <= dev
    run = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "'.[test,dev]'" in run and "\nruff check genops tests\n" in run and "\nmypy\n" in run
    assert "\n.ci/smoke.sh\n" in run
