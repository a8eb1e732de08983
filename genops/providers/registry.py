"""Provider name → provider object; every provider, built-in or offline, is found the same way.

Each SDK-backed factory imports its provider module only when asked (the one deliberate late
import left in genops below the CLI), so `genops --help` does not pay for three SDKs and an
offline run never imports one at all.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from genops.calls import Provider, ProviderSettings
from genops.errors import ConfigError
from genops.providers.fake import FakeProvider
from genops.providers.manual import ManualProvider
from genops.providers.replay import ReplayProvider
from genops.workspace.catalog import context_window
from genops.workspace.config import ModelConfig

Factory = Callable[[ModelConfig, Path], Provider]


def settings_for(model_cfg: ModelConfig) -> ProviderSettings:
    """How to reach the model: base URL, key variable name and timeout (never the key itself)."""
    return ProviderSettings(base_url=model_cfg.base_url, api_key_env=model_cfg.api_key_env,
                            timeout_s=model_cfg.timeout_s,
                            context_window=context_window(model_cfg.model,
                                                          model_cfg.context_window))


def _anthropic(cfg: ModelConfig, root: Path) -> Provider:
    from genops.providers.anthropic_provider import AnthropicProvider
    return AnthropicProvider(settings_for(cfg))


def _openai(cfg: ModelConfig, root: Path) -> Provider:
    from genops.providers.openai_provider import OpenAIProvider
    return OpenAIProvider(settings_for(cfg), api=cfg.api)


def _openai_compatible(cfg: ModelConfig, root: Path) -> Provider:
    from genops.providers.openai_provider import OpenAIProvider
    return OpenAIProvider(settings_for(cfg), api=cfg.api, compatible=True)


def _gemini(cfg: ModelConfig, root: Path) -> Provider:
    from genops.providers.gemini_provider import GeminiProvider
    return GeminiProvider(settings_for(cfg))


FACTORIES: dict[str, Factory] = {
    "anthropic": _anthropic,
    "openai": _openai,
    "openai-compatible": _openai_compatible,
    "gemini": _gemini,
    # offline providers take only the workspace root and read what they need from it
    "fake": lambda cfg, root: FakeProvider(root),
    "replay": lambda cfg, root: ReplayProvider(root),
    "manual": lambda cfg, root: ManualProvider(root),
}


def make_provider(model_cfg: ModelConfig, *, workspace_root: Path) -> Provider:
    """The provider for one [models] entry of genops.toml."""
    factory = FACTORIES.get(model_cfg.provider)
    if factory is None:
        raise ConfigError("genops.toml", f"unknown provider {model_cfg.provider!r}",
                          hint=f"use one of: {', '.join(FACTORIES)}")
    return factory(model_cfg, Path(workspace_root))
