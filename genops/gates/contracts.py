"""The contracts gate (federation members that provide an interface): consumers' tests first.

Before a provider's release is promoted, every consumer's contract tests (the folder its
interface.toml names in `[consumes.<provider>] contracts`) run against the provider's STAGED tree,
the way the test gate runs the tree's own suite (`genops.gates.tests`): in a scratch copy, under
bubblewrap, with the allowlisted environment, the resource limits and genops's reporter. The copy
holds the staged tree (on the import path) plus the consumer's contract folder as
`_contracts/<consumer>/`; nothing of the consumer's own tree is there. A failing contract blocks
the release, naming the consumer and the test id.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from genops.gates import tests as tests_gate
from genops.gates.base import Finding, GateContext, GateResult
from genops.gates.interface import membership
from genops.store.tree import copy_tree
from genops.workspace import Workspace
from genops.workspace.federation import Federation, Member

FOLDER = "_contracts"


def _where(consumer: Member, folder: Path, file: str | None) -> str | None:
    """A finding's file as the consumer keeps it (`members/orders/contracts/identity/test_x.py`),
    not where the run copied it (`_contracts/orders/test_x.py` in a scratch tree)."""
    if not file:
        return None
    copied = f"{FOLDER}/{consumer.name}/"
    if file.startswith(copied):
        kept = folder.resolve().relative_to(Path(consumer.path).resolve()).as_posix()
        return f"{consumer.rel}/{kept}/{file[len(copied):]}"
    return f"{consumer.rel}/{file}"


def _contract_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()
                  and "__pycache__" not in p.parts)


class ContractsGate:
    name = "contracts"
    needs = ("paths", "parse", "dependencies")

    def __init__(self, federation: Federation, member: Member,
                 suite: tests_gate.TestsGate) -> None:
        self.federation = federation
        self.member = member
        self.suite = suite

    def consumers(self) -> list[tuple[Member, Path]]:
        found = []
        for consumer in self.federation.consumers_of(self.member.name):
            entry = consumer.consumes[self.member.name]
            if entry.contracts:
                found.append((consumer, consumer.path / entry.contracts))
        return found

    def check(self, ctx: GateContext) -> GateResult:
        consumers = self.consumers()
        if not consumers:
            return GateResult(self.name, "skip", f"no consumer of {self.member.name} keeps "
                              "contract tests")
        findings: list[Finding] = []
        evidence: list[str] = []
        ran: dict[str, Any] = {}
        failed: list[str] = []
        for consumer, folder in consumers:
            result = self._run_one(ctx, consumer, folder)
            ran[consumer.name] = {"verdict": result.verdict, "summary": result.summary}
            evidence.extend(result.evidence)
            if not result.passed:
                failed.append(consumer.name)
                findings.extend(Finding(f"consumer {consumer.name}: {f.message}",
                                        _where(consumer, folder, f.file), f.line,
                                        rule="contract") for f in result.findings)
                if not result.findings:
                    findings.append(Finding(f"consumer {consumer.name}: {result.summary}",
                                            rule="contract"))
        facts = {"consumers": {name: entry["verdict"] for name, entry in ran.items()}}
        if failed:
            first = findings[0].message if findings else failed[0]
            return GateResult(self.name, "fail", f"contract tests of {len(failed)} consumer(s) "
                              f"failed against the staged tree of {self.member.name} (first: "
                              f"{first})", findings=tuple(findings), evidence=tuple(evidence),
                              data={"consumers": ran}, facts=facts)
        return GateResult(self.name, "pass", "; ".join(f"{name}: {entry['summary']}"
                                                       for name, entry in ran.items()),
                          evidence=tuple(evidence), data={"consumers": ran}, facts=facts)

    def _run_one(self, ctx: GateContext, consumer: Member, folder: Path) -> GateResult:
        with tempfile.TemporaryDirectory(prefix="genops-contracts-") as tmp:
            combined = Path(tmp) / "tree"
            copy_tree(ctx.staged, combined)
            target = combined / FOLDER / consumer.name
            target.mkdir(parents=True, exist_ok=True)
            for path in _contract_files(folder):
                dest = target / path.relative_to(folder)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, dest, follow_symlinks=False)
            gate = replace_command(self.suite, f"python -m pytest -q -p no:cacheprovider "
                                   f"--rootdir=. {FOLDER}/{consumer.name}")
            sub = replace(ctx, staged=combined,
                          evidence_dir=ctx.evidence_dir / "contracts" / consumer.name)
            sub.evidence_dir.mkdir(parents=True, exist_ok=True)
            return gate.check(sub)


def replace_command(suite: tests_gate.TestsGate, command: str) -> tests_gate.TestsGate:
    gate = tests_gate.TestsGate(command, suite.timeout_s, suite.use_venv, True,
                                sandbox=suite.sandbox, env=suite.env, bwrap=suite.bwrap,
                                environ=suite.environ, limits=suite.limits,
                                output_kb=suite.output_kb)
    return gate


def make_gate(ws: Workspace) -> ContractsGate | None:
    found = membership(ws.root)
    if found is None or found[1].provides is None:
        return None
    federation, member = found
    gate = ContractsGate(federation, member, tests_gate.make_gate(ws))
    return gate if gate.consumers() else None
