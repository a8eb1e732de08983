"""`genops.toml`: the workspace's pins (models, sampling, prices, budgets, gate policy).

Every table forbids unknown keys so a typo is an error, not a silently ignored setting.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

PROVIDER_NAMES = ("anthropic", "openai", "gemini", "openai-compatible", "replay", "manual", "fake")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProjectConfig(_Strict):
    name: str
    output: str = "generated"
    package: str | None = None  # the main Python package inside the output tree


class ModelConfig(_Strict):
    """One rung of the ladder: a provider and a pinned, dated model id with its sampling."""

    provider: Literal["anthropic", "openai", "gemini", "openai-compatible", "replay", "manual", "fake"]
    model: str
    temperature: float = 0.0
    seed: int | None = None
    top_p: float | None = None
    max_output_tokens: int = 16000
    base_url: str | None = None
    api_key_env: str | None = None
    api: Literal["chat", "responses"] = "chat"  # OpenAI family only
    timeout_s: float = 600.0


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
    # Patch rounds that may fix a failed tests/adr_rules/parse/traceability gate (0: none).
    gate_repairs: int = Field(0, ge=0, le=10)


class PatchConfig(_Strict):
    """`genops patch`: how much context a request shows, how often failing blocks are re-asked,
    and the largest change a patch may make before it must be a regeneration."""

    context_tokens: int = Field(8000, ge=500)
    max_repairs: int = Field(3, ge=0, le=10)
    max_share: float = Field(0.2, gt=0, le=1)


class RetryConfig(_Strict):
    max_attempts: int = Field(6, ge=1, le=50)
    base_delay_s: float = Field(1.0, ge=0)
    max_delay_s: float = Field(60.0, ge=0)
    max_retry_after_s: float = Field(300.0, ge=0)


class BudgetConfig(_Strict):
    per_run_usd: float = Field(20.0, ge=0)
    per_month_usd: float = Field(200.0, ge=0)


class Price(_Strict):
    """USD per million tokens."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_read: float = Field(0.0, ge=0)
    cache_write: float = Field(0.0, ge=0)


class TestGateConfig(_Strict):
    command: str = "python -m pytest -q"
    timeout_s: float = Field(900.0, gt=0)
    use_venv: bool = True
    required: bool = True


class DiffPolicyConfig(_Strict):
    fail_on: Literal["breaking", "api", "behaviour", "any", "never"] = "breaking"


class TraceabilityConfig(_Strict):
    uncovered: Literal["fail", "warn"] = "warn"


class ContextFitConfig(_Strict):
    warn_share: float = Field(0.5, gt=0, le=1)
    fail_share: float = Field(0.9, gt=0, le=1)


class GatesConfig(_Strict):
    tests: TestGateConfig = TestGateConfig()
    diff: DiffPolicyConfig = DiffPolicyConfig()
    traceability: TraceabilityConfig = TraceabilityConfig()
    context_fit: ContextFitConfig = ContextFitConfig()


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

    @model_validator(mode="after")
    def _rungs_exist(self) -> "GenopsConfig":
        for rung in self.ladder.rungs:
            if rung not in self.models:
                raise ValueError(f"ladder rung {rung!r} is not a table under [models] "
                                 f"(have: {', '.join(sorted(self.models)) or 'none'})")
        return self

    def rung_models(self) -> list[tuple[str, ModelConfig]]:
        return [(name, self.models[name]) for name in self.ladder.rungs]
