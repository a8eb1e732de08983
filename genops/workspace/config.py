"""`genops.toml`: the workspace's pins (models, sampling, prices, budgets, gate policy).

Every table forbids unknown keys so a typo is an error, not a silently ignored setting.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from genops.treeignore import is_ignored_dir, is_ignored_file

PROVIDER_NAMES = ("anthropic", "openai", "gemini", "openai-compatible", "replay", "manual", "fake")
# Folders genops reads or owns: the output tree may be none of them, nor inside one.
RESERVED_OUTPUT = frozenset({".git", ".genops", "specs", "adr", "prompts", "diffs", "genops.toml"})
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Names genops sets itself; listing them in [gates.tests] env would override the sandbox's own.
RESERVED_ENV = ("HOME", "TMPDIR", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE")


def check_env_names(names: Iterable[str]) -> list[str]:
    """The names, validated: environment variable syntax, none genops sets itself."""
    checked = []
    for name in names:
        if not ENV_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not an environment variable name")
        if name in RESERVED_ENV or name.startswith("GENOPS_"):
            raise ValueError(f"{name!r} is set by genops for the suite and cannot be passed through")
        checked.append(name)
    return checked



class _Strict(BaseModel):
    # inf and nan are refused everywhere: `per_run_usd = inf` would switch the budget off.
    # strict: no coercion (`max_share = true` is not 1.0, `timeout_s = "10"` is not 10, `use_venv
    # = 1` is not true); an integer is still a number where a float is expected.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


def check_output_dir(value: str) -> str:
    """`project.output`: a relative folder inside the workspace, clear of genops' own folders."""
    text = value.strip()
    if not text or PurePosixPath(text).is_absolute() or PureWindowsPath(text).is_absolute() \
            or PureWindowsPath(text).drive:
        raise ValueError(f"{value!r} must be a relative folder inside the workspace "
                         "(e.g. \"generated\")")
    parts = [p for p in text.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise ValueError(f"{value!r} must stay inside the workspace (no '..', not the workspace "
                         "itself)")
    clash = parts[0] if parts[0].lower() in RESERVED_OUTPUT else \
        next((p for p in parts if p.lower() == ".git"), None)
    if clash is not None:
        raise ValueError(f"{value!r} is inside {clash}/, which genops reads or owns; "
                         "choose another folder (e.g. \"generated\")")
    return "/".join(parts)


class ProjectConfig(_Strict):
    name: str
    output: str = "generated"
    package: str | None = None  # the main Python package inside the output tree
    # Hidden names (e.g. ".github") the model may write; everything else hidden is refused.
    allow_hidden: list[str] = Field(default_factory=list)
    max_file_bytes: int = Field(1 << 20, ge=1, le=1 << 30)  # the largest file the model may write

    @model_validator(mode="after")
    def _hidden_names(self) -> ProjectConfig:
        for name in self.allow_hidden:
            if not name.startswith(".") or "/" in name or name in (".", ".."):
                raise ValueError(f"allow_hidden: {name!r} is not a hidden file or directory "
                                 "name (one path component starting with '.', e.g. '.github')")
            if is_ignored_dir(name) or is_ignored_file(name):
                raise ValueError(f"allow_hidden: {name!r} is a name the output tree ignores "
                                 "(caches, version control, environments); it is never allowed")
        return self

    _output = field_validator("output")(check_output_dir)


class CapabilityPins(_Strict):
    """What a model accepts, stated in genops.toml for a model newer than genops's catalog
    (`[models.<rung>.capabilities]`); each key left out comes from the catalog."""

    prefill: bool | None = None  # continues a cut-off answer from an assistant prefill
    temperature: bool | float | None = None  # true: any value; false: none; a number: only it
    top_p: bool | float | None = None
    seed: bool | None = None
    min_cache_tokens: int | None = Field(None, ge=0, le=1_000_000)  # shortest prefix cached


class ModelConfig(_Strict):
    """One rung of the ladder: a provider and a pinned, dated model id with its sampling."""

    provider: Literal["anthropic", "openai", "gemini", "openai-compatible", "replay", "manual", "fake"]
    model: str
    temperature: float = 0.0
    seed: int | None = None
    top_p: float | None = None
    max_output_tokens: int = Field(16000, gt=0, le=1_000_000)
    base_url: str | None = None
    api_key_env: str | None = None
    api: Literal["chat", "responses"] = "chat"  # OpenAI family only
    timeout_s: float = Field(600.0, gt=0, le=86_400)
    # The model's context window in tokens, overriding the catalog: a local model's window is
    # whatever its server was started with (llama.cpp -c / n_ctx), which no catalog can know.
    context_window: int | None = Field(None, gt=0, le=100_000_000)
    capabilities: CapabilityPins | None = None  # overrides the catalog's (genops help providers)


class LadderConfig(_Strict):
    """The fallback order of model names in [models], and when to move down it."""

    rungs: list[str] = Field(default_factory=lambda: ["senior"])
    on_failure: Literal["fallback", "stop"] = "fallback"
    # "patch": a regeneration over budget for a small spec edit becomes a patch (docs/patch.md)
    on_budget: Literal["fallback", "stop", "patch"] = "stop"


class SynthesisConfig(_Strict):
    strategy: Literal["single", "multi"] = "multi"
    concurrency: int = Field(4, ge=1, le=64)
    max_continuations: int = Field(3, ge=0, le=20)
    max_repairs: int = Field(1, ge=0, le=5)
    # Bounds on a blueprint answer, checked before any group request is made.
    max_groups: int = Field(64, ge=1, le=1000)
    max_files_per_group: int = Field(64, ge=1, le=10000)
    max_depth: int = Field(16, ge=1, le=256)
    # Selective regeneration: how many characters of unchanged files a regenerated group gets
    # whole as read-only context (its dependencies' files, smallest first); beyond, signatures.
    selective_context_chars: int = Field(20000, ge=0, le=2_000_000)
    # Patch rounds that may fix a failed tests/adr_rules/parse/traceability gate (0: none).
    gate_repairs: int = Field(0, ge=0, le=10)


class PatchConfig(_Strict):
    """`genops patch`: how much context a request shows, how often failing blocks are re-asked,
    and the largest change a patch may make before it must be a regeneration."""

    context_tokens: int = Field(8000, ge=500, le=10_000_000)
    max_repairs: int = Field(3, ge=0, le=10)
    max_share: float = Field(0.2, gt=0, le=1)


class RetryConfig(_Strict):
    max_attempts: int = Field(6, ge=1, le=50)
    base_delay_s: float = Field(1.0, ge=0, le=3_600)
    max_delay_s: float = Field(60.0, ge=0, le=86_400)
    max_retry_after_s: float = Field(300.0, ge=0, le=86_400)


class BudgetConfig(_Strict):
    per_run_usd: float = Field(20.0, gt=0, le=1_000_000)
    per_month_usd: float = Field(200.0, gt=0, le=10_000_000)
    # Reservations hold genops' prompt estimate times this margin (or the ledger's largest
    # measured server/estimate ratio x 1.1 when that is higher); 4.0 is the provable bound.
    estimate_margin: float = Field(2.0, ge=1.0, le=4.0)


class Price(_Strict):
    """USD per million tokens. An omitted cache price is the input price: a server that reports
    cached tokens (llama-server does) must not have them billed at nothing."""

    input: float = Field(ge=0, le=10_000)
    output: float = Field(ge=0, le=10_000)
    cache_read: float = Field(0.0, ge=0, le=10_000)
    cache_write: float = Field(0.0, ge=0, le=10_000)

    @model_validator(mode="before")
    @classmethod
    def _cache_defaults_to_input(cls, data: Any) -> Any:
        if isinstance(data, dict) and "input" in data:
            data = {"cache_read": data["input"], "cache_write": data["input"], **data}
        return data


class SandboxLimits(_Strict):
    """`[gates.tests.limits]`: what the tree's code may use inside the sandbox (setrlimit on the
    suite's processes, and a cap on the output genops keeps as evidence)."""

    cpu_s: int = Field(1800, ge=1, le=86_400)  # CPU seconds per process
    memory_mb: int = Field(4096, ge=64, le=262_144)  # address space per process
    processes: int = Field(1024, ge=8, le=65_536)  # processes and threads of the sandbox's user
    file_mb: int = Field(512, ge=1, le=65_536)  # the largest file a process may write
    output_kb: int = Field(1024, ge=16, le=262_144)  # captured output kept; the rest is counted


class TestGateConfig(_Strict):
    command: str = "python -m pytest -q"
    timeout_s: float = Field(900.0, gt=0, le=86_400)
    use_venv: bool = True
    required: bool = True
    # bubblewrap around the suite. "off" is honoured only with --allow-unsandboxed (or
    # GENOPS_ALLOW_UNSANDBOXED=1): a cloned repository's genops.toml cannot switch it off alone.
    # "preferred" (older workspaces) now means "required": nothing falls back silently.
    sandbox: Literal["required", "preferred", "off"] = "required"
    env: list[str] = Field(default_factory=list)  # variable names passed through to the suite
    limits: SandboxLimits = SandboxLimits()

    @field_validator("env")
    @classmethod
    def _env_names(cls, names: list[str]) -> list[str]:
        return check_env_names(names)


class DiffPolicyConfig(_Strict):
    fail_on: Literal["breaking", "api", "behaviour", "any", "never"] = "breaking"


class TraceabilityConfig(_Strict):
    uncovered: Literal["fail", "warn"] = "warn"
    skipped: Literal["fail", "warn"] = "warn"  # a requirement whose only tests were skipped
    # a requirement whose passing tests never executed code that implements it (a subprocess or a
    # static check ran it; or a vacuous test)
    # (default "warn" so releases made before execution was measured still replay; new
    # workspaces are scaffolded with "fail")
    unexercised: Literal["fail", "warn"] = "warn"


class ContextFitConfig(_Strict):
    warn_share: float = Field(0.5, gt=0, le=1)
    fail_share: float = Field(0.9, gt=0, le=1)


# The placeholders each migration verb may use (docs/releases.md "State and migrations").
MIGRATION_PLACEHOLDERS = {"up": ("db", "store", "data"), "down": ("db", "store", "data", "target"),
                          "version": ("db", "store", "data"), "schema": ("db", "store", "data"),
                          "seed": ("db", "store", "data")}
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def check_relative(value: str, what: str) -> str:
    """A relative POSIX path that stays inside its root (no '..', not absolute)."""
    text = value.strip()
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if not parts or text.startswith("/") or "\\" in text or ".." in parts:
        raise ValueError(f"{what} {value!r} must be a relative POSIX path inside the tree "
                         "(no '..', not absolute)")
    return "/".join(parts)


class StoreConfig(_Strict):
    """One database the generated tree keeps state in."""

    name: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
    path: str  # the database file, relative to the data directory the gate gives the tree
    migrations: str | None = None  # the tree's migration folder, checked for an up and a down each

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return check_relative(value, "store path")

    @field_validator("migrations")
    @classmethod
    def _migrations(cls, value: str | None) -> str | None:
        return None if value is None else check_relative(value, "migrations folder")


class MigrationGateConfig(_Strict):
    """The migration contract a tree with stores implements (one command per verb)."""

    stores: list[StoreConfig] = Field(default_factory=list)
    up: str = ""
    down: str = ""
    version: str = ""
    schema_: str = Field("", alias="schema")
    seed: str = ""
    contract: str = "python -m pytest -q -p no:cacheprovider -m data_contract"
    timeout_s: float = Field(300.0, gt=0, le=86_400)
    required: bool = True
    bootstrap: list[str] = Field(default_factory=list)  # new-tree paths lent to a pre-contract parent

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False,
                              validate_by_name=True, validate_by_alias=True,
                              serialize_by_alias=True)

    @field_validator("bootstrap")
    @classmethod
    def _bootstrap(cls, values: list[str]) -> list[str]:
        return [check_relative(v, "bootstrap path") for v in values]

    @model_validator(mode="after")
    def _contract(self) -> "MigrationGateConfig":
        names = [s.name for s in self.stores]
        if len(set(names)) != len(names):
            raise ValueError("two stores share a name; each [gates.migrations] store needs its own")
        for verb, allowed in MIGRATION_PLACEHOLDERS.items():
            command = self.command(verb)
            if self.stores and not command.strip():
                raise ValueError(f"{verb!r} is required when stores are declared "
                                 f"(e.g. {verb} = \"python -m pkg.migrate {verb} {{store}} {{db}}"
                                 f"{' {target}' if verb == 'down' else ''}\")")
            used = set(_PLACEHOLDER.findall(command))
            unknown = sorted(used - set(allowed))
            if unknown:
                raise ValueError(f"{verb!r} uses unknown placeholder {{{unknown[0]}}} "
                                 f"(allowed: {', '.join('{' + a + '}' for a in allowed)})")
            if command.strip() and "db" not in used:
                raise ValueError(f"{verb!r} must name the database with {{db}}")
        if self.down.strip() and "target" not in _PLACEHOLDER.findall(self.down):
            raise ValueError("'down' must name the version to go back to with {target}")
        return self

    def command(self, verb: str) -> str:
        """The command configured for `verb` (`schema` is stored as `schema_`)."""
        return str(getattr(self, "schema_" if verb == "schema" else verb))


class GatesConfig(_Strict):
    tests: TestGateConfig = TestGateConfig()
    migrations: MigrationGateConfig = MigrationGateConfig()
    diff: DiffPolicyConfig = DiffPolicyConfig()
    traceability: TraceabilityConfig = TraceabilityConfig()
    context_fit: ContextFitConfig = ContextFitConfig()


class PanelConfig(_Strict):
    """[review.panel]: model rungs that review a change, and when their verdicts block it."""

    rungs: list[str] = Field(default_factory=list)
    when: Literal["always", "high_risk", "never"] = "high_risk"
    quorum: int = Field(2, ge=1, le=64)
    block_on: Literal["any_blocker", "majority"] = "any_blocker"
    max_code_lines: int = Field(400, ge=20, le=100_000)  # the riskiest code each reviewer sees


class HighRiskConfig(_Strict):
    """[review.high_risk]: what makes a change high risk (any one rule is enough)."""

    breaking: bool = True
    adr_modules: bool = True  # a change in a module an accepted ADR grants a power
    dependencies: bool = True
    changed_share: float = Field(0.3, ge=0, le=1)  # share of the tree's files changed


class ReviewConfig(_Strict):
    summary: bool = False  # a narrative by the pinned model atop diffs/<release>.md
    summary_rung: str | None = None  # which [models] table writes it (default: the ladder's first)
    panel: PanelConfig = PanelConfig()
    high_risk: HighRiskConfig = HighRiskConfig()


class AuditConfig(_Strict):
    """Audit packs (docs/releases.md "Auditing a release")."""

    lock: Literal["required", "when_present", "off"] = "when_present"
    require_signature: bool = False
    signing_key: str | None = None  # a path; $GENOPS_SIGNING_KEY wins; never inside the workspace
    allowed_licenses: list[str] = Field(default_factory=list)  # empty: licenses are not gated
    # The package indexes the tree's dependencies may come from (the first is the index, the
    # rest extra indexes). An index the tree names itself is refused (genops help rules).
    indexes: list[str] = Field(default_factory=lambda: ["https://pypi.org/simple"], min_length=1)
    # The trust root (docs/security.md "Trust root"): sha256 key ids (64 hex) of the keys allowed to sign.
    # `genops verify` reads them from genops.toml as committed at a release's parent, never here.
    trusted_keys: list[str] = Field(default_factory=list)

    @field_validator("trusted_keys")
    @classmethod
    def _trusted_keys(cls, values: list[str]) -> list[str]:
        for value in values:
            if not re.fullmatch(r"[0-9a-f]{64}", value):
                raise ValueError(f"trusted key {value!r} is not a key id (64 lowercase hex digits: "
                                 "the sha256 `genops keygen` prints)")
        if len(set(values)) != len(values):
            raise ValueError("a key id is listed twice")
        return values

    @field_validator("indexes")
    @classmethod
    def _indexes(cls, values: list[str]) -> list[str]:
        for value in values:
            if not re.fullmatch(r"(https://|file:///)\S+", value):
                raise ValueError(f"index {value!r} must be an https:// (or file:///) URL")
        return [v.rstrip("/") for v in values]


class GenopsConfig(_Strict):
    """The whole of genops.toml."""

    project: ProjectConfig
    models: dict[str, ModelConfig]
    ladder: LadderConfig = LadderConfig()
    synthesis: SynthesisConfig = SynthesisConfig()
    patch: PatchConfig = PatchConfig()
    retry: RetryConfig = RetryConfig()
    budget: BudgetConfig = BudgetConfig()
    prices: dict[str, Price] = Field(default_factory=dict)
    gates: GatesConfig = GatesConfig()
    review: ReviewConfig = ReviewConfig()
    audit: AuditConfig = AuditConfig()

    @model_validator(mode="after")
    def _rungs_exist(self) -> "GenopsConfig":
        for rung in self.ladder.rungs:
            if rung not in self.models:
                raise ValueError(f"ladder rung {rung!r} is not a table under [models] "
                                 f"(have: {', '.join(sorted(self.models)) or 'none'})")
        named = [self.review.summary_rung] if self.review.summary_rung else []
        for rung in named:
            if rung not in self.models:
                raise ValueError(f"review.summary_rung {rung!r} is not a table under [models] "
                                 f"(have: {', '.join(sorted(self.models)) or 'none'})")
        for rung in self.review.panel.rungs:
            if rung not in self.models:
                raise ValueError(f"review.panel rung {rung!r} is not a table under [models] "
                                 f"(have: {', '.join(sorted(self.models)) or 'none'})")
        return self

    def rung_models(self) -> list[tuple[str, ModelConfig]]:
        return [(name, self.models[name]) for name in self.ladder.rungs]
