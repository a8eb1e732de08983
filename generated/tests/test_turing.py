"""MADs read secrets only through Turing; every access is audited; keys rotate."""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Iterator

import pytest
from cryptography.fernet import Fernet, InvalidToken

from mad.core.bus import InMemoryBus, Message
from mad.core.mad import MADError, ask
from mad.core.observability import Observability, correlation
from mad.turing import Turing, load_master_key
from tests.helpers import wait_for

PLAINTEXT = "sk-live-very-secret-value-42"


@pytest.fixture
def cell(tmp_path: Path, memory_bus: InMemoryBus) -> Iterator[tuple[Turing, Observability, InMemoryBus]]:
    obs = Observability(tmp_path / "mad.jsonl")
    turing = Turing(memory_bus, obs, tmp_path / "turing.db", load_master_key(tmp_path / "turing.key"),
                    readers={"fiedler": ["fiedler/*"], "grace": ["grace/*"]},
                    writers={"fiedler": ["fiedler/*"]}, auditors=["grace"], key_file=tmp_path / "turing.key")
    turing.start()
    turing.put("bootstrap", "fiedler/openai_api_key", PLAINTEXT)
    yield turing, obs, memory_bus
    turing.stop()
    obs.close()


def read(bus: InMemoryBus, obs: Observability, who: str, name: str) -> dict:
    return ask(bus, obs, who, "turing", "get_secret", {"name": name})


@pytest.mark.req("REQ-TURING-1")
def test_secrets_are_encrypted_at_rest(cell: tuple[Turing, Observability, InMemoryBus], tmp_path: Path) -> None:
    raw = (tmp_path / "turing.db").read_bytes()
    assert PLAINTEXT.encode() not in raw
    assert (tmp_path / "turing.key").stat().st_mode & 0o777 == 0o600
    with sqlite3.connect(tmp_path / "turing.db") as db:
        token = db.execute("SELECT ciphertext FROM secrets").fetchone()[0]
    key = (tmp_path / "turing.key").read_bytes()
    assert Fernet(key).decrypt(token).decode() == PLAINTEXT


@pytest.mark.req("REQ-TURING-1")
def test_master_key_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = Fernet.generate_key()
    monkeypatch.setenv("MAD_MASTER_KEY", key.decode())
    assert load_master_key(tmp_path / "unused.key") == key
    assert not (tmp_path / "unused.key").exists()


@pytest.mark.req("REQ-TURING-2", "REQ-TURING-3")
def test_a_mad_reads_its_secret_and_the_access_is_audited(cell: tuple[Turing, Observability, InMemoryBus]) -> None:
    turing, obs, bus = cell
    with correlation("corr-turing-0001"):
        got = read(bus, obs, "fiedler", "fiedler/openai_api_key")
    assert got == {"name": "fiedler/openai_api_key", "version": 1, "value": PLAINTEXT}
    entry = turing.audit_log(limit=1)[0]
    assert (entry["actor"], entry["secret"], entry["action"], entry["outcome"], entry["correlation_id"]) == (
        "fiedler", "fiedler/openai_api_key", "read", "granted", "corr-turing-0001")


@pytest.mark.req("REQ-TURING-2", "REQ-TURING-3")
def test_an_unauthorized_mad_is_refused_and_that_is_audited(cell: tuple[Turing, Observability, InMemoryBus]) -> None:
    turing, obs, bus = cell
    for who in ("grace", "marco", "nobody"):
        with pytest.raises(MADError) as refused:
            read(bus, obs, who, "fiedler/openai_api_key")
        assert refused.value.code == "forbidden"
        assert f"{who!r} may not read secret 'fiedler/openai_api_key'" in refused.value.message
    denied = [a for a in turing.audit_log() if a["outcome"] == "denied"]
    assert {a["actor"] for a in denied} == {"grace", "marco", "nobody"}
    with pytest.raises(MADError, match="may not write"):
        ask(bus, obs, "grace", "turing", "put_secret", {"name": "fiedler/x", "value": "v"})
    with pytest.raises(MADError, match="may not read the audit log"):
        ask(bus, obs, "fiedler", "turing", "audit_log", {})
    assert ask(bus, obs, "grace", "turing", "audit_log", {"limit": 3})
    assert ask(bus, obs, "fiedler", "turing", "list_secrets", {}) == ["fiedler/openai_api_key"]
    assert ask(bus, obs, "grace", "turing", "list_secrets", {}) == []
    with pytest.raises(MADError) as missing:
        read(bus, obs, "fiedler", "fiedler/nothing")
    assert missing.value.code == "not_found"


@pytest.mark.req("REQ-TURING-4")
def test_rotating_a_secret_serves_the_new_version(cell: tuple[Turing, Observability, InMemoryBus]) -> None:
    turing, obs, bus = cell
    rotated = ask(bus, obs, "fiedler", "turing", "rotate_secret",
                  {"name": "fiedler/openai_api_key", "value": "sk-rotated"})
    assert rotated == {"name": "fiedler/openai_api_key", "version": 2}
    assert read(bus, obs, "fiedler", "fiedler/openai_api_key")["value"] == "sk-rotated"
    with pytest.raises(MADError, match="no secret 'fiedler/new' to rotate"):
        ask(bus, obs, "fiedler", "turing", "rotate_secret", {"name": "fiedler/new", "value": "x"})
    with pytest.raises(MADError, match="may not rotate"):
        ask(bus, obs, "grace", "turing", "rotate_secret", {"name": "fiedler/openai_api_key", "value": "x"})
    trail = [(a["actor"], a["action"], a["outcome"]) for a in turing.audit_log(secret="fiedler/openai_api_key")]
    assert trail == [("grace", "rotate", "denied"), ("fiedler", "read", "granted"),
                     ("fiedler", "rotate", "granted"), ("bootstrap", "put", "granted")]


@pytest.mark.req("REQ-TURING-5")
def test_master_key_rotation_reencrypts_everything(cell: tuple[Turing, Observability, InMemoryBus],
                                                   tmp_path: Path) -> None:
    turing, obs, bus = cell
    old_key = (tmp_path / "turing.key").read_bytes()
    new_key = Fernet.generate_key()
    assert turing.rotate_master_key("operator", new_key) == 1
    assert (tmp_path / "turing.key").read_bytes() == new_key
    assert (tmp_path / "turing.key").stat().st_mode & 0o777 == 0o600
    with sqlite3.connect(tmp_path / "turing.db") as db:
        token = db.execute("SELECT ciphertext FROM secrets").fetchone()[0]
    with pytest.raises(InvalidToken):
        Fernet(old_key).decrypt(token)
    assert read(bus, obs, "fiedler", "fiedler/openai_api_key")["value"] == PLAINTEXT


@pytest.mark.req("REQ-TURING-6")
def test_turing_replies_carry_no_conversation(cell: tuple[Turing, Observability, InMemoryBus]) -> None:
    turing, obs, bus = cell
    replies: list[Message] = []
    bus.subscribe("_reply.*", replies.append)
    reply = bus.request(Message(topic="mad.turing", sender="fiedler", conversation_id="c-leak",
                                body={"action": "get_secret", "args": {"name": "fiedler/openai_api_key"}}))
    assert reply.body["ok"] and reply.conversation_id is None
    wait_for(lambda: replies)
    assert all(r.conversation_id is None for r in replies)


@pytest.mark.req("REQ-TURING-6")
def test_secret_values_never_reach_logs_or_errors(cell: tuple[Turing, Observability, InMemoryBus],
                                                  tmp_path: Path) -> None:
    turing, obs, bus = cell
    read(bus, obs, "fiedler", "fiedler/openai_api_key")
    with pytest.raises(MADError) as refused:
        read(bus, obs, "grace", "fiedler/openai_api_key")
    obs.log.write("tester", "careless", value=PLAINTEXT, api_key=PLAINTEXT, openai_token=PLAINTEXT)
    log_text = (tmp_path / "mad.jsonl").read_text()
    assert PLAINTEXT not in log_text and PLAINTEXT not in str(refused.value)
    assert "fiedler/openai_api_key" in log_text  # names are logged, values are not
    assert PLAINTEXT not in repr(turing.audit_log())
