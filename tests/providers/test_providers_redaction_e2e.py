"""A provider error that echoes the API key in any spelling never shows it, end to end.

The real CLI (`genops regenerate`, a subprocess) drives the real SDK at the wire emulator, which
answers a 401 or 400 JSON error whose message carries the key sliced (`key[3:]`), base64'd
(standard, URL-safe without padding, and at a shifted alignment), percent-encoded and whole. None
of these may appear in stdout, stderr, run.json, the ledger or any other file of the workspace.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import quote

import pytest

from genops.providers._common import scrub
from genops.testing.emulator import Emulator, Fault, Recorded
from genops.workspace.scaffold import init_workspace

# '/', '+', '=' and ':' make the percent-encoding differ from the key itself.
KEY = "sk-e2e/Redact+Me=Now:0123456789abcdefWXYZ"


def spellings(key: str) -> dict[str, str]:
    """The ways a server may echo `key`, by name."""
    raw = key.encode()
    return {
        "sliced": key[3:],
        "base64": base64.b64encode(raw).decode(),
        "base64url-unpadded": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "base64-shifted": base64.b64encode(b"x" + raw).decode()[2:],  # key after one byte
        "percent": quote(key, safe=""),
        "percent-lower": re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), quote(key, safe="")),
        "whole": key,
    }


def echoing(key: str) -> str:
    forms = spellings(key)
    return "invalid credentials: " + "; ".join(f"{name}={value}" for name, value in forms.items())


# (provider in genops.toml, emulator dialect, variable the key is in, api_key_env, HTTP status)
CASES = [
    ("anthropic", "anthropic", "ANTHROPIC_API_KEY", None, 401),
    ("anthropic", "anthropic", "ANTHROPIC_API_KEY", None, 400),
    ("openai", "openai", "OPENAI_API_KEY", None, 401),
    ("gemini", "gemini", "GEMINI_API_KEY", None, 400),
    # a variable named by api_key_env, whose name looks like no secret
    ("openai-compatible", "openai", "LOCAL_LLM_CREDS", "LOCAL_LLM_CREDS", 401),
    ("anthropic", "anthropic", "TEAM_CLAUDE", "TEAM_CLAUDE", 400),
]


def workspace(tmp_path: Path, provider: str, base_url: str, api_key_env: str | None) -> Path:
    root = init_workspace(tmp_path / "ws", name="hello", provider=provider, git=True).root
    path = root / "genops.toml"
    text = path.read_text(encoding="utf-8")
    pins = f'base_url = "{base_url}"\n'
    if api_key_env:
        pins += f'api_key_env = "{api_key_env}"\n'
    text = text.replace("max_output_tokens = 32000\n", f"max_output_tokens = 4000\n{pins}", 1)
    text = text.replace('rungs = ["senior", "fallback"]', 'rungs = ["senior"]')
    text = text.replace('strategy = "multi"', 'strategy = "single"')
    model = tomllib.loads(text)["models"]["senior"]["model"]
    if f'[prices."{model}"]' not in text:
        text += f'\n[prices."{model}"]\ninput = 1.0\noutput = 2.0\n'
    path.write_text(text, encoding="utf-8")
    subprocess.run(["git", "commit", "-qam", "pins"], cwd=root, check=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x.invalid",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x.invalid"})
    return root


@pytest.mark.parametrize("provider,dialect,key_env,api_key_env,status", CASES,
                         ids=[f"{c[0]}-{c[2]}-{c[4]}" for c in CASES])
def test_an_echoed_key_in_any_spelling_reaches_no_output_and_no_file(
        tmp_path: Path, emu: Emulator, provider: str, dialect: str, key_env: str,
        api_key_env: str | None, status: int) -> None:
    seen: list[Recorded] = []

    def answer(req: Recorded) -> Fault:
        seen.append(req)
        return Fault(status=status, message=echoing(req.credential() or ""))

    emu.responder(answer, dialect)
    root = workspace(tmp_path, provider, emu.base_url(dialect), api_key_env)
    env = {k: v for k, v in os.environ.items()
           if not k.endswith("_API_KEY") and not k.startswith(("OPENAI_", "ANTHROPIC_",
                                                               "GEMINI_", "GOOGLE_"))}
    env.update({key_env: KEY, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x.invalid",
                "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x.invalid"})
    done = subprocess.run([sys.executable, "-m", "genops.cli.main", "regenerate", "-m", "first"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=300)

    assert seen and seen[0].credential() == KEY, done.stdout + done.stderr
    assert done.returncode == 3, done.stdout + done.stderr
    runs = list((root / ".genops" / "runs").glob("*/run.json"))
    assert runs and (root / ".genops" / "ledger.db").is_file()
    places = {"stdout": done.stdout.encode(), "stderr": done.stderr.encode()}
    places.update({str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*")
                   if p.is_file() and ".git" not in p.relative_to(root).parts})
    for name, value in spellings(KEY).items():
        for where, data in places.items():
            assert value.encode() not in data, f"the key ({name}) leaked into {where}"
    # The error itself is still shown, with the key's places marked.
    assert "[redacted]" in done.stderr and "invalid credentials" in done.stderr, done.stderr
    assert "[redacted]" in runs[0].read_text(encoding="utf-8")


@pytest.mark.parametrize("name", [n for n in spellings(KEY) if n != "whole"])
def test_scrub_redacts_each_spelling_of_a_configured_key(
        monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    value = spellings(KEY)[name]
    shown = scrub(f"error: {value} (request req_42)")
    assert value not in shown and "[redacted]" in shown
    assert shown.startswith("error: ") and shown.endswith(" (request req_42)")


@pytest.mark.parametrize("cut", [0, 1, 2, 3, 5, 8])
def test_any_piece_of_eight_characters_is_redacted(monkeypatch: pytest.MonkeyPatch,
                                                   cut: int) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    piece = KEY[cut:cut + 8]
    assert scrub(f"saw {piece}!") == "saw [redacted]!"
    assert scrub(json.dumps({"k": KEY[cut:]})) == '{"k": "[redacted]"}'


def test_text_sharing_less_than_eight_characters_with_a_key_is_kept(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    text = "model gpt-5 said: Redact+ is fine, 0123456 too, as is Now:012"
    assert scrub(text) == text
