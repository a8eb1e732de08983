"""Keys and base URLs come from where users expect them; the registry builds the right provider."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from providers_support import KEYS, SDK_VARIANTS, VARIANTS, make_request

from genops.errors import ConfigError, ProviderError
from genops.providers.anthropic_provider import AnthropicProvider
from genops.calls import ProviderSettings
from genops.providers.gemini_provider import GeminiProvider
from genops.providers.openai_provider import OpenAIProvider
from genops.providers.registry import FACTORIES, make_provider
from genops.testing.emulator import Emulator, Pacing, Reply
from genops.workspace.config import ModelConfig

BASE_URL_ENV = {"anthropic": "ANTHROPIC_BASE_URL", "openai-chat": "OPENAI_BASE_URL",
                "openai-responses": "OPENAI_BASE_URL", "gemini": "GOOGLE_GEMINI_BASE_URL",
                "openai-compatible": "OPENAI_BASE_URL"}


@pytest.mark.parametrize("variant", SDK_VARIANTS)
def test_the_sdks_usual_key_variable_is_sent(emu: Emulator, variant: str) -> None:
    emu.script(VARIANTS[variant].dialect, Reply(text="ok"))
    VARIANTS[variant].provider(emu).complete(make_request())
    req = emu.requests[-1]
    assert req.credential() == KEYS[VARIANTS[variant].key_env or ""]
    header = {"anthropic": "authorization", "gemini": "x-goog-api-key"}.get(variant,
                                                                            "authorization")
    assert req.header(header)  # anthropic 2.x sends `Authorization: Bearer`, not x-api-key


@pytest.mark.parametrize("variant", [*SDK_VARIANTS, "openai-compatible"])
def test_base_url_from_the_environment(emu: Emulator, variant: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BASE_URL_ENV[variant], emu.base_url(VARIANTS[variant].dialect))
    emu.script(VARIANTS[variant].dialect, Reply(text="via env"))
    provider = VARIANTS[variant].build(ProviderSettings())
    assert provider.complete(make_request()).text == "via env"


@pytest.mark.parametrize("variant", SDK_VARIANTS)
def test_api_key_env_names_another_variable(emu: Emulator, variant: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEAM_KEY", "team-key-value-0123456789")
    emu.script(VARIANTS[variant].dialect, Reply(text="ok"))
    VARIANTS[variant].provider(emu, api_key_env="TEAM_KEY").complete(make_request())
    assert emu.requests[-1].credential() == "team-key-value-0123456789"


@pytest.mark.parametrize("variant", SDK_VARIANTS)
def test_the_key_is_read_at_call_time(emu: Emulator, variant: str,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    provider = VARIANTS[variant].provider(emu)
    emu.script(VARIANTS[variant].dialect, Reply(text="1"), Reply(text="2"))
    provider.complete(make_request())
    monkeypatch.setenv(VARIANTS[variant].key_env or "", "rotated-key-0123456789")
    provider.complete(make_request())
    assert [r.credential() for r in emu.requests][-1] == "rotated-key-0123456789"


@pytest.mark.parametrize("variant", SDK_VARIANTS)
def test_a_missing_key_fails_before_any_request(emu: Emulator, variant: str, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(VARIANTS[variant].key_env or "")
    monkeypatch.setenv("HOME", str(tmp_path))  # no anthropic credentials profile to fall back on
    with pytest.raises(ProviderError) as caught:
        VARIANTS[variant].provider(emu).complete(make_request())
    assert caught.value.error_class == "auth" and not caught.value.retryable
    assert (VARIANTS[variant].key_env or "") in str(caught.value)
    assert "api_key_env" in (caught.value.hint or "")
    assert emu.requests == []


def test_a_named_but_unset_variable_is_reported_by_name(emu: Emulator) -> None:
    with pytest.raises(ProviderError, match="NOT_SET_ANYWHERE"):
        VARIANTS["anthropic"].provider(emu, api_key_env="NOT_SET_ANYWHERE").complete(
            make_request())


def test_a_broken_anthropic_profile_is_an_auth_error(emu: Emulator, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    monkeypatch.setenv("ANTHROPIC_CONFIG_DIR", str(tmp_path))  # set, but holds no profile
    with pytest.raises(ProviderError) as caught:
        VARIANTS["anthropic"].provider(emu).complete(make_request())
    assert caught.value.error_class == "auth" and caught.value.hint


def test_gemini_prefers_google_api_key_as_the_sdk_does(emu: Emulator,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_API_KEY", "AIzaGoogleWins-0123456789abcdefghijklm")
    emu.script("gemini", Reply(text="ok"))
    VARIANTS["gemini"].provider(emu).complete(make_request())
    assert emu.requests[-1].credential() == "AIzaGoogleWins-0123456789abcdefghijklm"


def test_openai_compatible_needs_no_key_and_never_gets_the_openai_one(emu: Emulator) -> None:
    emu.script("openai", Reply(text="local model"))
    response = VARIANTS["openai-compatible"].provider(emu).complete(make_request())
    assert response.text == "local model"
    assert emu.requests[-1].credential() == "not-needed"  # OPENAI_API_KEY is set, and not sent


def test_openai_compatible_sends_a_named_key(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLLM_API_KEY", "vllm-token-0123456789")
    emu.script("openai", Reply(text="ok"))
    VARIANTS["openai-compatible"].provider(emu, api_key_env="VLLM_API_KEY").complete(make_request())
    assert emu.requests[-1].credential() == "vllm-token-0123456789"


def test_openai_compatible_without_a_base_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="base_url"):
        OpenAIProvider(ProviderSettings(), compatible=True).complete(make_request())


@pytest.mark.parametrize("variant", SDK_VARIANTS)
def test_the_timeout_applies(variant: str) -> None:
    """A stalled stream fails as a retryable network error (Gemini's timeout is in ms)."""
    with Emulator(pacing=Pacing(ttft_s=2.0)) as emu:
        emu.script(VARIANTS[variant].dialect, Reply(text="too late"))
        provider = VARIANTS[variant].provider(emu, timeout_s=0.3)
        with pytest.raises(ProviderError) as caught:
            provider.complete(make_request())
    assert (caught.value.error_class, caught.value.retryable) == ("network", True)


# --- the registry --------------------------------------------------------------------------------

@pytest.mark.parametrize(("provider", "cls", "name"), [
    ("anthropic", AnthropicProvider, "anthropic"),
    ("openai", OpenAIProvider, "openai"),
    ("openai-compatible", OpenAIProvider, "openai-compatible"),
    ("gemini", GeminiProvider, "gemini"),
])
def test_registry_builds_the_sdk_providers(tmp_path: Path, provider: str, cls: type,
                                           name: str) -> None:
    cfg = ModelConfig(provider=provider, model="m", base_url="http://localhost:1/v1",  # type: ignore[arg-type]
                      api_key_env="SOME_KEY", timeout_s=12.0, api="responses")
    built = make_provider(cfg, workspace_root=tmp_path)
    assert isinstance(built, cls) and built.name == name
    assert built.settings == ProviderSettings(base_url="http://localhost:1/v1",  # type: ignore[attr-defined]
                                              api_key_env="SOME_KEY", timeout_s=12.0)
    if cls is OpenAIProvider:
        assert built.api == "responses"  # type: ignore[attr-defined]


def test_registry_drives_the_emulator_end_to_end(emu: Emulator, tmp_path: Path) -> None:
    emu.script("anthropic", Reply(text="from the registry"))
    cfg = ModelConfig(provider="anthropic", model="claude-x",
                      base_url=emu.base_url("anthropic"))
    response = make_provider(cfg, workspace_root=tmp_path).complete(make_request())
    assert response.text == "from the registry"


@pytest.mark.parametrize("provider", ["fake", "replay", "manual"])
def test_registry_builds_offline_providers_from_the_workspace_root(tmp_path: Path,
                                                                   provider: str) -> None:
    if importlib.util.find_spec(f"genops.providers.{provider}") is None:
        pytest.skip(f"genops.providers.{provider} is not written yet")
    built = make_provider(ModelConfig(provider=provider, model="m"),  # type: ignore[arg-type]
                          workspace_root=tmp_path)
    assert hasattr(built, "complete")


def test_registry_covers_every_configurable_provider() -> None:
    from genops.workspace.config import PROVIDER_NAMES
    assert set(FACTORIES) == set(PROVIDER_NAMES)


def test_registry_rejects_an_unknown_provider(tmp_path: Path) -> None:
    cfg = ModelConfig.model_construct(provider="bard", model="m")
    with pytest.raises(ConfigError, match="unknown provider 'bard'"):
        make_provider(cfg, workspace_root=tmp_path)


def test_importing_the_registry_imports_no_sdk() -> None:
    code = ("import sys, genops.providers.registry; "
            "print([m for m in ('anthropic', 'openai', 'google.genai') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
