"""The migrations gate: the previous release's data survives the new release, up and back down.

For each store `[gates.migrations]` declares, in the tests gate's sandbox and venv:

1. with the previous release's tree: `seed` a new database, read its `version`; copy it with the
   backup API to a folder the trees never see and snapshot it (structural schema, a checksum of
   every table's rows);
2. with the new tree: `up` a copy of it, read its `version`; `up` a fresh database; the migrated
   database's `schema` must equal the fresh one's; a changed schema under an unchanged version is
   a schema change with no migration; the tree's data-contract tests (`contract`, e.g. pytest
   `-m data_contract`) run against a copy of the migrated database (`$GENOPS_MIGRATED_DB`);
3. `down` the migrated database to the previous version: schema and every row equal the snapshot;
4. restore the backup (backup API again) and compare it with the snapshot; the previous tree reads
   its version.

A failure names the store, the table, the versions and the first differing row. A first release
and a workspace that declares no store skip with the reason. When the previous release predates
the contract, the `bootstrap` paths of the new tree (its migration tool) are lent to the previous
tree's copy, never replacing a file it has, so its data is still seeded by its own code.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genops.gates.base import Finding, GateContext, GateResult, Verdict
from genops.gates.dbsnapshot import Snapshot, copy_db, first_difference, snapshot
from genops.gates.sandbox import Limits, Probe, allowlist_env, bwrap_argv, interpreter_roots
from genops.gates.tests import TestsGate, is_pytest, junit_findings, resolve_argv, run_in_group
from genops.gates.tests import make_gate as make_tests_gate
from genops.gates.venvs import VenvBuildError
from genops.junit import outcome_phrase
from genops.store.tree import copy_tree
from genops.workspace import Workspace
from genops.workspace.config import MigrationGateConfig, StoreConfig

OUTPUT_TAIL = 1500
STDOUT_MAX = 1024 * 1024
MIGRATION_FILE = re.compile(r"^(\d+)[_-][^/]*?(?:\.(up|down))?\.(sql|py)$")
DB_ENV, STORE_ENV, VERSION_ENV = "GENOPS_MIGRATED_DB", "GENOPS_STORE", "GENOPS_MIGRATED_VERSION"


class StoreFailure(Exception):
    """One store failed the contract; the message names table, versions and row."""

    def __init__(self, message: str, table: str | None = None, version: str | None = None) -> None:
        super().__init__(message)
        self.table = table
        self.version = version


@dataclass
class Step:
    code: int | None  # None: killed at the timeout
    stdout: str
    seconds: float


@dataclass
class Runner:
    """Runs a contract verb with one tree's code, in the sandbox, with the allowlisted env."""

    python: Path | str
    probe: Probe | None
    scratch: Path  # the one folder the tree's process may write
    capture: Path  # where its stdout goes: outside the scratch folder, so never a planted link
    environ: Mapping[str, str]
    env_names: tuple[str, ...]
    log: Path
    timeout_s: float
    limits: Limits | None = None  # the tests gate's resource limits, on every verb's process
    steps: list[dict[str, Any]] = field(default_factory=list)

    def run(self, tree: Path, label: str, command: str, values: dict[str, str],
            extra_env: dict[str, str] | None = None, junit: Path | None = None) -> Step:
        argv = resolve_argv([_fill(arg, values) for arg in shlex.split(command)], self.python)
        if junit is not None and is_pytest(argv):
            argv += [f"--junitxml={junit}", "-o", "junit_family=xunit1"]
        env = allowlist_env(self.environ, self.env_names, home=self.scratch / "home",
                            tmpdir=self.scratch / "tmp", python=self.python)
        env["PYTHONPATH"] = os.pathsep.join(str(p) for p in (tree / "src", tree) if p.is_dir())
        env.update(extra_env or {})
        if self.probe is not None and self.probe.executable:
            argv = bwrap_argv(self.probe.executable, argv, scratch=self.scratch, cwd=tree,
                              readonly=interpreter_roots(self.python), env=env)
        step = _execute(argv, tree, env, self.capture, self.log, self.timeout_s,
                        header=f"# {label}: {command}", limits=self.limits)
        self.steps.append({"step": label, "exit_code": step.code,
                           "seconds": round(step.seconds, 3)})
        return step


def _fill(arg: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), arg)


def _execute(argv: list[str], cwd: Path, env: dict[str, str], stdout: Path, log: Path,
             timeout: float, *, header: str, limits: Limits | None = None) -> Step:
    """Run argv in its own process group (killed whole at the timeout); stderr goes to `log`."""
    started = time.monotonic()
    with open(log, "a", encoding="utf-8") as err:
        err.write(header + "\n")
    with open(stdout, "wb") as out, open(log, "ab") as err:
        code = run_in_group(argv, cwd, env, stdout=out, stderr=err, timeout=timeout,
                            limits=limits)
    with open(stdout, "rb") as fh:
        text = fh.read(STDOUT_MAX).decode("utf-8", errors="replace")
    with open(log, "a", encoding="utf-8") as err:
        err.write(text + ("" if text.endswith("\n") or not text else "\n")
                  + f"# exit {code if code is not None else 'killed at the timeout'}\n")
    return Step(code, text, time.monotonic() - started)


def missing_downs(tree: Path, folder: str) -> list[str]:
    """Migrations in `folder` with an up and no down: `NNNN_x.up.sql` alone, or a `.py` without
    both `up` and `down` functions."""
    root = tree / folder
    if not root.is_dir():
        return []
    names = {p.name for p in root.iterdir() if p.is_file()}
    problems = []
    for name in sorted(names):
        match = MIGRATION_FILE.match(name)
        if not match or match.group(2) == "down":
            continue
        if match.group(2) == "up":
            down = name.replace(".up.", ".down.", 1)
            if down not in names:
                problems.append(f"migration {match.group(1)} ({folder}/{name}) has no down "
                                f"({down} is missing)")
        elif match.group(3) == "py" and not _defines_up_and_down(root / name):
            problems.append(f"migration {match.group(1)} ({folder}/{name}) does not define both "
                            "up() and down()")
    return problems


def changed_migrations(previous: Path, new: Path, folder: str) -> list[str]:
    """Released migrations are immutable: one the previous tree has must be byte-identical."""
    old = previous / folder
    if not old.is_dir():
        return []
    problems = []
    for path in sorted(p for p in old.iterdir() if p.is_file() and MIGRATION_FILE.match(p.name)):
        now = new / folder / path.name
        if not now.is_file():
            problems.append(f"released migration {folder}/{path.name} was removed")
        elif now.read_bytes() != path.read_bytes():
            problems.append(f"released migration {folder}/{path.name} was changed; write a new "
                            "migration instead")
    return problems


def _defines_up_and_down(path: Path) -> bool:
    try:
        module = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError):
        return False
    names = {n.name for n in module.body if isinstance(n, ast.FunctionDef)}
    return {"up", "down"} <= names


def _version(step: Step, label: str) -> str:
    if step.code != 0:
        raise StoreFailure(f"`version` failed ({label}): {_why(step)}")
    lines = [line.strip() for line in step.stdout.splitlines() if line.strip()]
    if not lines:
        raise StoreFailure(f"`version` printed nothing ({label})")
    return lines[-1]


def _why(step: Step) -> str:
    return "killed at the timeout" if step.code is None else f"exit code {step.code}"


def _first_line_difference(old: str, new: str) -> str:
    a, b = old.splitlines(), new.splitlines()
    for index in range(max(len(a), len(b))):
        left = a[index] if index < len(a) else None
        right = b[index] if index < len(b) else None
        if left != right:
            return f"line {index + 1}: migrated has {left!r}, fresh has {right!r}"
    return "they differ in whitespace only"


@dataclass
class StoreRun:
    """One store's rehearsal: the dbs, the runner and the two trees."""

    store: StoreConfig
    cfg: MigrationGateConfig
    runner: Runner
    previous: Path
    new: Path
    data: Path  # inside the scratch folder: the trees' databases
    private: Path  # outside it: the snapshot copy no tree process can reach
    evidence: Path
    facts: dict[str, Any] = field(default_factory=dict)

    def db(self, phase: str) -> Path:
        return self.data / phase / self.store.path

    def plain(self, db: Path, what: str) -> Path:
        """`db` when it is a plain file inside the scratch folder (a tree could plant a link)."""
        real = db.resolve()
        if db.is_symlink() or not real.is_file() or not real.is_relative_to(self.data.resolve()):
            raise StoreFailure(f"{what} left no plain database file at {self.store.path} "
                               "(missing, a link, or outside the data folder)")
        return db

    def verb(self, tree: Path, verb: str, db: Path, target: str | None = None) -> Step:
        values = {"db": str(db), "store": self.store.name, "data": str(db.parent)}
        if target is not None:
            values["target"] = target
        which = "previous" if tree == self.previous else "new"
        db.parent.mkdir(parents=True, exist_ok=True)
        return self.runner.run(tree, f"{self.store.name} {verb} ({which} tree)",
                               self.cfg.command(verb), values)

    def write(self, name: str, data: Any) -> None:
        text = data if isinstance(data, str) else json.dumps(data, indent=2, sort_keys=True) + "\n"
        (self.evidence / name).write_text(text, encoding="utf-8")

    def rehearse(self) -> dict[str, Any]:
        """Seed, snapshot, migrate up, check, contract-test, migrate down, restore."""
        baseline, before, old = self._seed()
        migrated, new = self._up(baseline, old, before)
        self._contract(migrated, new)
        self._down(migrated, baseline, old, new)
        self._restore(baseline, before, old)
        return self.facts

    def _seed(self) -> tuple[Path, Snapshot, str]:
        seeded = self.db("previous")
        step = self.verb(self.previous, "seed", seeded)
        if step.code != 0:
            raise StoreFailure(f"seeding with the previous release's tree failed ({_why(step)}; "
                               "see evidence/migrations/output.txt; a previous release that "
                               "predates the contract needs [gates.migrations] bootstrap)")
        self.plain(seeded, "`seed`")
        old = _version(self.verb(self.previous, "version", seeded), "previous tree")
        baseline = self.private / f"{self.store.name}.db"
        copy_db(seeded, baseline)  # the backup every later step is judged against
        before = snapshot(baseline)
        self.write("snapshot.json", {"store": self.store.name, "version": old, **before.to_dict()})
        self.facts.update({"from": old, "tables": len(before.tables), "rows": before.rows})
        return baseline, before, old

    def _up(self, baseline: Path, old: str, before: Snapshot) -> tuple[Path, str]:
        migrated, fresh = self.db("migrated"), self.db("fresh")
        copy_db(baseline, migrated)
        step = self.verb(self.new, "up", migrated)
        if step.code != 0:
            raise StoreFailure(f"`up` from version {old} failed: {_why(step)}", version=old)
        self.plain(migrated, "`up`")
        new = _version(self.verb(self.new, "version", migrated), "new tree, migrated")
        step = self.verb(self.new, "up", fresh)
        if step.code != 0:
            raise StoreFailure(f"`up` on a fresh database failed: {_why(step)}")
        fresh_snapshot = snapshot(self.plain(fresh, "`up` on a fresh database"))
        if new == old and fresh_snapshot.schema != before.schema:
            change = next(line for line in (*fresh_snapshot.schema, *before.schema)
                          if (line in fresh_snapshot.schema) != (line in before.schema))
            table = re.match(r"(?:table|index \S+ on) (\S+)", change)
            raise StoreFailure(f"the schema changed ({change!r} is only in "
                               f"{'the new' if change in fresh_snapshot.schema else 'the old'} "
                               f"schema) but the version stayed {old}: a schema change needs a "
                               "new migration", table.group(1) if table else None, old)
        texts = [self.verb(self.new, "schema", db) for db in (migrated, fresh)]
        if any(t.code != 0 for t in texts):
            raise StoreFailure(f"`schema` failed: {_why(next(t for t in texts if t.code != 0))}")
        self.write("schema.txt", texts[1].stdout)
        if texts[0].stdout.strip() != texts[1].stdout.strip():
            raise StoreFailure(f"migrating from {old} to {new} gives a schema that differs from a "
                               f"fresh `up`: {_first_line_difference(texts[0].stdout, texts[1].stdout)}",
                               version=new)
        migrated_snapshot = snapshot(migrated)
        self.write("migrated.json", {"store": self.store.name, "version": new,
                                     **migrated_snapshot.to_dict()})
        self.facts.update({"to": new, "schema": texts[1].stdout.strip()})
        return migrated, new

    def _contract(self, migrated: Path, new: str) -> None:
        copy = self.db("contract")
        copy_db(migrated, copy)
        produced = self.runner.scratch / f"contract-{self.store.name}.xml"
        step = self.runner.run(self.new, f"{self.store.name} contract tests", self.cfg.contract,
                               {}, {DB_ENV: str(copy), STORE_ENV: self.store.name,
                                    VERSION_ENV: new}, junit=produced)
        counts: dict[str, int] = {}
        if is_pytest(shlex.split(self.cfg.contract)):
            kept = self.evidence / "contract-junit.xml"
            if produced.is_file() and not produced.is_symlink():
                shutil.copyfile(produced, kept)
            counts, findings = junit_findings(kept)
            self.facts["contract"] = outcome_phrase(counts) if counts.get("tests") else "no tests"
            if step.code == 5 or (step.code == 0 and not counts.get("passed")):
                raise StoreFailure(f"no data-contract test passed for store {self.store.name} at "
                                   f"version {new} ({self.facts['contract']})", version=new)
            if step.code != 0 and findings:
                raise StoreFailure(f"the data-contract tests fail on the database migrated to "
                                   f"version {new}: {findings[0].message}", version=new)
        if step.code != 0:
            raise StoreFailure(f"the data-contract tests fail on the database migrated to version "
                               f"{new}: {_why(step)}", version=new)

    def _down(self, migrated: Path, baseline: Path, old: str, new: str) -> None:
        step = self.verb(self.new, "down", migrated, target=old)
        if step.code != 0:
            raise StoreFailure(f"`down` from version {new} to {old} failed: {_why(step)}",
                               version=new)
        back = _version(self.verb(self.new, "version", migrated), "new tree, after down")
        if back != old:
            raise StoreFailure(f"`down` to {old} left the database at version {back}", version=new)
        diff = first_difference(baseline, self.plain(migrated, "`down`"))
        if diff is not None:
            raise StoreFailure(f"up to {new} and down to {old} lost data: table "
                               f"{diff.table or '(schema)'}: {diff.message}", diff.table, new)
        self.facts["down"] = f"{new} -> {old}: every row back"

    def _restore(self, baseline: Path, before: Snapshot, old: str) -> None:
        restored = self.db("restored")
        copy_db(baseline, restored)
        if snapshot(restored) != before:
            diff = first_difference(baseline, restored)
            raise StoreFailure(f"the restored backup differs from the snapshot: "
                               f"{diff.message if diff else 'checksums differ'}",
                               diff.table if diff else None, old)
        version = _version(self.verb(self.previous, "version", restored), "restored backup")
        if version != old:
            raise StoreFailure(f"the restored backup reads as version {version}, not {old}")
        self.facts["restore"] = "backup restored, identical"


class MigrationsGate:
    name = "migrations"
    needs = ("paths", "parse", "dependencies", "tests")

    def __init__(self, cfg: MigrationGateConfig, tests: TestsGate) -> None:
        self.cfg = cfg
        self.tests = tests  # its sandbox policy, venv and environment allowlist are reused

    def check(self, ctx: GateContext) -> GateResult:
        if not self.cfg.stores:
            return GateResult(self.name, "skip", "no stores declared in [gates.migrations]")
        if ctx.previous is None:
            return GateResult(self.name, "skip", "first release: there is no previous release's "
                              "data to migrate")
        evidence = ctx.evidence_dir / "migrations"
        shutil.rmtree(evidence, ignore_errors=True)
        evidence.mkdir(parents=True)
        log = evidence / "output.txt"
        found = self.tests.sandbox_probe()
        used = "bwrap" if found is not None and found.ok else "none"
        log.write_text(f"# sandbox: {used}\n", encoding="utf-8")
        refused = self.tests.refusal()
        if refused:
            return self._result(ctx, "fail", refused, [], {"sandbox": "none"}, evidence)
        try:
            python, _ = self.tests.python_for(ctx, shlex.split(self.cfg.contract), log)
        except VenvBuildError as exc:
            return self._result(ctx, "fail", exc.message, [], {"sandbox": used}, evidence)
        facts: dict[str, Any] = {"sandbox": used}
        findings = self._static(ctx)
        if not findings:
            findings = self._rehearse(ctx, python, found if used == "bwrap" else None, log,
                                      evidence, facts)
        if findings:
            return self._result(ctx, "fail", findings[0].message, findings, facts, evidence)
        stores = facts["stores"]
        summary = "; ".join(f"{name} {s['from']} -> {s['to']} -> {s['from']}: {s['rows']} rows "
                            f"in {s['tables']} tables intact, contract {s.get('contract', 'ran')}"
                            for name, s in stores.items())
        return self._result(ctx, "pass", summary, [], facts, evidence)

    def _static(self, ctx: GateContext) -> list[Finding]:
        assert ctx.previous is not None
        return [Finding(f"store {store.name}: {problem}", store.migrations, rule="migration_files")
                for store in self.cfg.stores if store.migrations
                for problem in (*missing_downs(ctx.staged, store.migrations),
                                *changed_migrations(ctx.previous, ctx.staged, store.migrations))]

    def _rehearse(self, ctx: GateContext, python: Path | str, probe: Probe | None, log: Path,
                  evidence: Path, facts: dict[str, Any]) -> list[Finding]:
        assert ctx.previous is not None
        facts["stores"] = {}
        with tempfile.TemporaryDirectory(prefix="genops-migrations-") as tmp, \
                tempfile.TemporaryDirectory(prefix="genops-snapshots-") as private:
            scratch = Path(tmp).resolve()
            for name in ("home", "tmp", "data"):
                (scratch / name).mkdir()
            previous, new = scratch / "previous", scratch / "new"
            copy_tree(ctx.previous, previous)
            copy_tree(ctx.staged, new)
            lent = self._bootstrap(new, previous)
            if lent:
                facts["bootstrap"] = lent
            environ = os.environ if self.tests.environ is None else self.tests.environ
            runner = Runner(python, probe, scratch, Path(private) / "stdout.txt", environ,
                            self.tests.env, log, self.cfg.timeout_s, self.tests.limits)
            try:
                return self._stores(runner, previous, new, scratch, Path(private), evidence, facts)
            finally:
                (evidence / "steps.json").write_text(json.dumps(runner.steps, indent=2) + "\n",
                                                     encoding="utf-8")

    def _stores(self, runner: Runner, previous: Path, new: Path, scratch: Path, private: Path,
                evidence: Path, facts: dict[str, Any]) -> list[Finding]:
        """Rehearse each store in turn; the first failure is the gate's finding."""
        for store in self.cfg.stores:
            out = evidence / store.name
            out.mkdir()
            run = StoreRun(store, self.cfg, runner, previous, new, scratch / "data" / store.name,
                           private, out)
            try:
                facts["stores"][store.name] = run.rehearse()
            except StoreFailure as failure:
                facts["stores"][store.name] = {**run.facts, "failed": str(failure),
                                               "table": failure.table, "version": failure.version}
                return [Finding(f"store {store.name}: {failure}", store.migrations,
                                rule="migration")]
        return []

    def _bootstrap(self, new: Path, previous: Path) -> list[str]:
        """Lend the new tree's contract tool to a previous tree that lacks it (never overwrite)."""
        lent = []
        for rel in self.cfg.bootstrap:
            source, target = new / rel, previous / rel
            if target.exists() or target.is_symlink() or not source.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, target, symlinks=True)
            else:
                shutil.copy2(source, target, follow_symlinks=False)
            lent.append(rel)
        return lent

    def _result(self, ctx: GateContext, verdict: Verdict, summary: str, findings: list[Finding],
                facts: dict[str, Any], evidence: Path) -> GateResult:
        if verdict == "fail" and not self.cfg.required:
            verdict = "warn"
        root = Path(getattr(ctx.workspace, "root", "/"))
        files = sorted(p for p in evidence.rglob("*") if p.is_file())
        paths = tuple(p.relative_to(root).as_posix() if p.is_relative_to(root) else str(p)
                      for p in files)
        return GateResult(self.name, verdict, summary, findings=tuple(findings), evidence=paths,
                          facts=facts, data=dict(facts))


def make_gate(ws: Workspace) -> MigrationsGate:
    return MigrationsGate(ws.config.gates.migrations, make_tests_gate(ws))
