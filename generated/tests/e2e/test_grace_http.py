"""A user talks to the ecosystem through Grace's HTTP API (real HTTP, server started here)."""
from __future__ import annotations

import json
import socket
import sqlite3
import time
from typing import Any, Callable
from urllib.parse import urlsplit

import pytest

from mad.app import Config, Ecosystem
from mad.grace.guard import HTTPProblem, conversation_id, parse_json_body
from tests.helpers import ADMIN_TOKEN, ALICE_TOKEN, BOB_TOKEN, Api, wait_for


@pytest.mark.req("REQ-GRACE-1", "REQ-FIEDLER-6", "REQ-ROGERS-1", "REQ-ROGERS-2", "REQ-OBS-2")
def test_chat_reaches_fiedler_and_rogers_keeps_it(eco: Ecosystem, api: Api) -> None:
    response = api.chat("Hello, MAD!")
    assert response.status == 200, response.text
    body = response.body
    assert body["model"] == "local/rules"
    assert body["reply"].startswith("Hello! I am Fiedler's local rules model")
    assert body["conversation_id"].startswith("c-") and body["tokens_in"] > 0 and body["cost_usd"] > 0
    cid, correlation = body["conversation_id"], response.headers["X-Correlation-ID"]

    def stored() -> list[tuple[Any, ...]]:
        with sqlite3.connect(eco.config.data_dir / "rogers.db") as db:
            return db.execute("SELECT sender, recipient, kind, text, correlation_id FROM messages "
                              "WHERE conversation_id = ? ORDER BY seq", (cid,)).fetchall()

    rows = wait_for(lambda: len(stored()) >= 2 and stored())  # Rogers persists asynchronously
    with sqlite3.connect(eco.config.data_dir / "rogers.db") as db:
        participants = {r[0] for r in db.execute("SELECT mad FROM participants WHERE conversation_id = ?",
                                                 (cid,))}
    assert rows[0] == ("grace", "fiedler", "request", "Hello, MAD!", correlation)
    assert rows[1][:3] == ("fiedler", "grace", "reply") and rows[1][3] == body["reply"]
    assert participants == {"grace", "fiedler"}

    transcript = api.call("GET", f"/api/conversations/{cid}").body
    assert [(m["role"], m["text"]) for m in transcript["messages"]] == [
        ("user", "Hello, MAD!"), ("assistant", body["reply"])]
    # one correlation id followed the request through every MAD it touched
    assert eco.obs is not None
    touched = {r["mad"] for r in eco.obs.log.recent(correlation_id=correlation)}
    assert {"grace", "turing", "rogers", "fiedler"} <= touched


@pytest.mark.req("REQ-GRACE-1", "REQ-FIEDLER-7")
def test_a_conversation_continues_with_its_context(api: Api) -> None:
    first = api.chat("what is 6 * 7?").body
    assert first["reply"] == "42"
    cid = first["conversation_id"]
    second = api.chat("What did I say before?", conversation_id=cid).body
    assert second["conversation_id"] == cid
    assert second["reply"] == "You said: what is 6 * 7?"
    third = api.chat("how many messages so far?", conversation_id=cid).body
    assert third["reply"] == "This conversation has 4 earlier messages."
    listed = api.call("GET", "/api/conversations").body
    assert [c["id"] for c in listed] == [cid] and listed[0]["title"] == "what is 6 * 7?"


@pytest.mark.req("REQ-GRACE-1", "REQ-FIEDLER-3")
def test_a_consulting_team_answers_through_grace(api: Api) -> None:
    body = api.chat("12 + 30", task="math", team=3).body
    assert body["reply"] == "42" and body["model"] == "team"
    assert {m["model"] for m in body["team"]} == {"local/rules", "local/calc"}


@pytest.mark.req("REQ-GRACE-3")
def test_every_api_call_needs_a_valid_token(eco: Ecosystem, api: Api) -> None:
    for token in (None, "wrong-token", ""):
        response = api.call("GET", "/api/conversations", token=token)
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert api.call("GET", "/api/conversations", token=ALICE_TOKEN).status == 200
    # only hashes are stored, and only in Turing (encrypted)
    for name in ("turing.db", "rogers.db"):
        raw = (eco.config.data_dir / name).read_bytes()
        assert ADMIN_TOKEN.encode() not in raw and ALICE_TOKEN.encode() not in raw


@pytest.mark.req("REQ-GRACE-4")
def test_input_is_validated_before_any_mad_sees_it(api: Api) -> None:
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"raw": b"{}", "headers": {"Content-Type": "text/plain"}}, 415, "application/json"),
        ({"raw": b"x" * 20000}, 413, "larger than"),
        ({"raw": b"{not json"}, 400, "not valid JSON"),
        ({"raw": b"[1, 2]"}, 400, "JSON object"),
        ({"body": {"message": "hi", "admin": True}}, 400, "unknown field(s): admin"),
        ({"body": {"message": "   "}}, 400, "must not be empty"),
        ({"body": {"message": 42}}, 400, "must be a string"),
        ({"body": {"message": "x" * 4001}}, 400, "longer than 4000"),
        ({"body": {"message": "bell\x07"}}, 400, "control characters"),
        ({"body": {"message": "hi", "conversation_id": "../../etc"}}, 400, "malformed"),
        ({"body": {"message": "hi", "task": "hack"}}, 400, "task must be one of"),
        ({"body": {"message": "hi", "team": 99}}, 400, "team must be"),
    ]
    for kwargs, status, fragment in cases:
        response = api.call("POST", "/api/chat", **kwargs)
        assert response.status == status, (kwargs, response.text)
        assert fragment in response.body["error"]
    assert api.call("GET", "/api/chat").status == 405
    assert api.call("GET", "/api/search?q=").status == 400


@pytest.mark.req("REQ-GRACE-5")
def test_rate_limits_per_user_and_for_failed_logins(make_eco: Callable[..., Ecosystem]) -> None:
    eco = make_eco(rate=0.01, burst=3, login_burst=2)
    assert eco.url
    alice, bob = Api(eco.url, ALICE_TOKEN), Api(eco.url, BOB_TOKEN)
    assert [alice.call("GET", "/api/conversations").status for _ in range(3)] == [200, 200, 200]
    limited = alice.call("GET", "/api/conversations")
    assert limited.status == 429 and int(limited.headers["Retry-After"]) >= 1
    assert "rate limit exceeded for user 'alice'" in limited.body["error"]
    assert bob.call("GET", "/api/conversations").status == 200  # buckets are per user
    stranger = Api(eco.url, "guess-1")
    statuses = [stranger.call("GET", "/api/conversations").status for _ in range(4)]
    assert statuses[:2] == [401, 401] and statuses[-1] == 429


@pytest.mark.req("REQ-GRACE-6", "REQ-ROGERS-5")
def test_users_see_only_their_own_conversations(eco: Ecosystem) -> None:
    assert eco.url
    alice, bob = Api(eco.url, ALICE_TOKEN), Api(eco.url, BOB_TOKEN)
    cid = alice.chat("my secret plan is pineapples").body["conversation_id"]
    assert alice.call("GET", f"/api/conversations/{cid}").status == 200
    assert bob.call("GET", f"/api/conversations/{cid}").status == 404
    assert bob.chat("continue it", conversation_id=cid).status == 404
    assert bob.call("GET", "/api/conversations").body == []
    assert bob.call("GET", "/api/search?q=pineapples").body == []
    hits = alice.call("GET", "/api/search?q=pineapples").body
    assert hits and {h["conversation_id"] for h in hits} == {cid}
    assert alice.call("GET", "/api/conversations/c-doesnotexist").status == 404


@pytest.mark.req("REQ-GRACE-2", "REQ-GRACE-7")
def test_chat_page_and_security_headers(api: Api) -> None:
    page = api.call("GET", "/", token=None)
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    assert '<form id="chat">' in page.text and '<script src="/chat.js"></script>' in page.text
    assert "<script>" not in page.text  # no inline script: the CSP forbids it
    script = api.call("GET", "/chat.js", token=None)
    assert script.status == 200 and "api('POST', '/api/chat'" in script.text and "fetch(" in script.text
    for response in (page, script, api.call("GET", "/nowhere", token=None), api.chat("hi")):
        headers = response.headers
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
        assert headers["X-Correlation-ID"]
    missing = api.call("GET", "/nowhere", token=None)
    assert missing.status == 404 and set(missing.body) == {"error", "correlation_id"}


@pytest.mark.req("REQ-GRACE-7", "REQ-OBS-2")
def test_internal_failures_do_not_leak(eco: Ecosystem, api: Api) -> None:
    class Exploding:
        name = "local"

        def complete(self, model: Any, messages: Any) -> Any:
            raise RuntimeError("secret internal detail /etc/shadow")

    eco.mads["fiedler"].providers["local"] = Exploding()  # type: ignore[attr-defined]
    response = api.call("POST", "/api/chat", {"message": "hello"},
                        headers={"X-Correlation-ID": "trace-0123456789"})
    assert response.status == 502
    assert "secret internal detail" not in response.text and "Traceback" not in response.text
    assert response.body["correlation_id"] == "trace-0123456789"
    assert eco.obs is not None
    failure = eco.obs.log.recent(event="action_failed", correlation_id="trace-0123456789")
    assert failure and failure[0]["mad"] == "fiedler" and "secret internal detail" in failure[0]["error"]


@pytest.mark.req("REQ-GRACE-8", "REQ-OBS-3", "REQ-OBS-4", "REQ-OBS-6", "REQ-FIEDLER-4")
def test_health_metrics_and_audit(eco: Ecosystem, api: Api) -> None:
    health = api.call("GET", "/healthz", token=None)
    assert health.status == 200 and health.body["status"] == "ok"
    api.chat("hello")
    alice = Api(api.base, ALICE_TOKEN)
    assert alice.call("GET", "/api/metrics").status == 403
    assert alice.call("GET", "/api/audit").status == 403
    metrics = api.call("GET", "/api/metrics").body
    assert metrics["mads"]["fiedler"]["handled"] >= 1 and metrics["mads"]["fiedler"]["latency_ms_max"] > 0
    assert metrics["mads"]["grace"]["tokens_in"] > 0 and metrics["mads"]["grace"]["cost_usd"] > 0
    assert metrics["breakers"]["fiedler"] == "closed"
    audit = api.call("GET", "/api/audit").body
    assert any(a["actor"] == "grace" and a["secret"] == "grace/users" and a["outcome"] == "granted"
               for a in audit)
    assert "value" not in json.dumps(audit)
    wait_for(lambda: eco.obs and eco.obs.log.recent(event="http_request", path="/api/audit"))


@pytest.mark.req("REQ-OBS-6", "REQ-GRACE-7")
def test_grace_answers_503_while_fiedlers_breaker_is_open(make_eco: Callable[..., Ecosystem]) -> None:
    eco = make_eco(breaker_threshold=2, breaker_reset=60)
    assert eco.url

    class Broken:
        name = "local"

        def complete(self, model: Any, messages: Any) -> Any:
            raise RuntimeError("GPU melted")

    eco.mads["fiedler"].providers["local"] = Broken()  # type: ignore[attr-defined]
    api = Api(eco.url)
    assert [api.chat("hello").status for _ in range(2)] == [502, 502]
    refused = api.chat("hello")
    assert refused.status == 503 and "circuit open for 'fiedler'" in refused.body["error"]
    assert api.call("GET", "/healthz", token=None).body["breakers"]["fiedler"] == "open"
    assert api.call("GET", "/api/metrics").body["mads"]["fiedler"]["errors"] == 2


def raw_exchange(url: str, request: bytes, half_close: bool = False) -> tuple[int, bytes, float]:
    """Send ``request`` as is; return the status, the whole answer and the seconds it took."""
    parts = urlsplit(url)
    started = time.monotonic()
    with socket.create_connection((parts.hostname, parts.port), timeout=40) as sock:
        sock.sendall(request)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1]), answer, time.monotonic() - started


@pytest.mark.req("REQ-GRACE-4", "REQ-GRACE-7")
def test_req_grace_4_hostile_bodies_are_refused_with_4xx_not_500(eco: Ecosystem, api: Api) -> None:
    """REQ-GRACE-4: JSON nested 8,000 levels deep (within the 16 KiB limit) and a lone surrogate
    (\\ud800) in a message are 400 with a message naming the problem (r0002: 500 for both)."""
    nested = api.call("POST", "/api/chat", raw=b'{"message": ' + b"[" * 8000 + b"]" * 8000 + b"}")
    assert nested.status == 400 and "nested too deeply" in nested.body["error"], nested.text
    for raw in (b'{"message": "hi \\ud800 there"}', b'{"message": "\\udfff"}'):
        lone = api.call("POST", "/api/chat", raw=raw)
        assert lone.status == 400 and "unpaired surrogate" in lone.body["error"], lone.text
    paired = api.call("POST", "/api/chat", raw=b'{"message": "smile \\ud83d\\ude00"}')
    assert paired.status == 200, paired.text  # a surrogate pair is one real character
    assert eco.obs is not None and not eco.obs.log.recent(event="http_error")


@pytest.mark.req("REQ-GRACE-4", "REQ-GRACE-7")
def test_req_grace_4_a_body_shorter_than_its_content_length_is_4xx_without_hanging(
        eco: Ecosystem) -> None:
    """REQ-GRACE-4: a body shorter than its Content-Length is 400 at once when the client has
    finished sending, and 408 after Grace's body timeout when it stalls (r0002: 500 after 30 s)."""
    assert eco.url
    eco.mads["grace"].body_timeout = 1.0  # type: ignore[attr-defined]
    head = (b"POST /api/chat HTTP/1.1\r\nHost: mad\r\nAuthorization: Bearer " + ADMIN_TOKEN.encode()
            + b"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
    status, answer, took = raw_exchange(eco.url, head + b'{"message": "hi"}')
    assert status == 408 and b"shorter than its Content-Length" in answer and took < 10, (answer, took)
    assert b"X-Correlation-ID" in answer and b"nosniff" in answer
    status, answer, took = raw_exchange(eco.url, head + b'{"message": "hi"}', half_close=True)
    assert status == 400 and b"shorter than its Content-Length" in answer and took < 10, (answer, took)
    with pytest.raises(HTTPProblem) as short:
        parse_json_body("application/json", "10", lambda size: b"{}", 16384)
    assert short.value.status == 400


@pytest.mark.req("REQ-GRACE-3", "REQ-GRACE-4")
def test_req_grace_3_bearer_scheme_is_case_insensitive_and_ids_end_where_they_end(api: Api) -> None:
    """REQ-GRACE-3: the auth scheme is case-insensitive (RFC 7235); REQ-GRACE-4: a conversation id
    ending in a newline is malformed (the check is a full match, not ^...$)."""
    for scheme in ("bearer", "BEARER", "Bearer"):
        response = api.call("GET", "/api/conversations", token=None,
                            headers={"Authorization": f"{scheme} {ADMIN_TOKEN}"})
        assert response.status == 200, (scheme, response.text)
    for header in ("Basic " + ADMIN_TOKEN, "Bearer", "bearer ", ADMIN_TOKEN):
        assert api.call("GET", "/api/conversations", token=None,
                        headers={"Authorization": header}).status == 401
    cid = api.chat("hello").body["conversation_id"]
    newline = api.chat("again", conversation_id=cid + "\n")
    assert newline.status == 400 and "malformed" in newline.body["error"], newline.text
    with pytest.raises(HTTPProblem):
        conversation_id("c-1\n")
    assert conversation_id("c-1") == "c-1"


@pytest.mark.req("REQ-GRACE-8")
def test_req_grace_8_listen_backlog_is_large_enough_for_load(eco: Ecosystem) -> None:
    """REQ-GRACE-8: Grace listens with a backlog of at least 128 (socketserver's default of 5
    gave /healthz a p99 near 1 s at concurrency 20), and 40 connections opened at once are all
    answered."""
    assert eco.url
    server = eco.mads["grace"]._server  # type: ignore[attr-defined]
    assert server is not None and server.request_queue_size >= 128
    parts = urlsplit(eco.url)
    sockets = [socket.create_connection((parts.hostname, parts.port), timeout=20) for _ in range(40)]
    try:
        for sock in sockets:
            sock.sendall(b"GET /healthz HTTP/1.0\r\nHost: mad\r\n\r\n")
        assert all(sock.recv(12).startswith(b"HTTP/1.0 200") for sock in sockets)
    finally:
        for sock in sockets:
            sock.close()


@pytest.mark.req("REQ-GRACE-6", "REQ-ROGERS-4")
def test_req_grace_6_search_is_not_starved_by_other_users(make_eco: Callable[..., Ecosystem]) -> None:
    """REQ-GRACE-6: a user's search finds their own message even after other users wrote more
    matching messages than one search returns (r0002 took the newest 50 hits of all users and
    filtered afterwards, so Alice got nothing)."""
    eco = make_eco(rate=1000.0, burst=1000)
    assert eco.url
    alice, bob = Api(eco.url, ALICE_TOKEN), Api(eco.url, BOB_TOKEN)
    cid = alice.chat("my pineapple plan").body["conversation_id"]
    bobs = bob.chat("pineapple 0").body["conversation_id"]
    for i in range(1, 30):
        assert bob.chat(f"pineapple {i}", conversation_id=bobs).status == 200
    rogers_db = eco.config.data_dir / "rogers.db"

    def stored() -> int:
        with sqlite3.connect(rogers_db) as db:
            return db.execute("SELECT count(*) FROM messages WHERE text LIKE '%pineapple%'").fetchone()[0]

    wait_for(lambda: stored() >= 61)  # Bob's 30 questions and their echoes outnumber 50 hits
    hits = alice.call("GET", "/api/search?q=pineapple").body
    assert hits and {h["conversation_id"] for h in hits} == {cid}, hits
    assert {h["conversation_id"] for h in bob.call("GET", "/api/search?q=pineapple").body} == {bobs}


@pytest.mark.req("REQ-GRACE-7")
def test_req_grace_7_http_layer_errors_are_json_with_security_headers(eco: Ecosystem) -> None:
    """REQ-GRACE-7: errors raised by the HTTP layer itself (unknown method 501, malformed request
    line 400, too many headers 431, unsupported version 505, headers over 16 KiB 431) are JSON with
    the correlation id and the security headers, like every other response (r0002: stdlib HTML,
    no security headers, a malformed request line answered without any headers, and 1.8 MB of
    headers accepted)."""
    assert eco.url
    filler = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"v" * 1000) for i in range(40))
    cases = [(b"BREW /healthz HTTP/1.1\r\nHost: mad\r\n\r\n", 501),
             (b"GARBAGE\r\n\r\n", 400), (b"GET /healthz HTTP/1.x\r\n\r\n", 400),
             (b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(101)) + b"\r\n",
              431),  # the stdlib's own "too many headers"
             (b"GET /healthz HTTP/9.9\r\nHost: mad\r\n\r\n", 505),
             (b"GET /healthz HTTP/1.1\r\nHost: mad\r\n" + filler + b"\r\n", 431)]
    for request, status in cases:
        got, answer, _ = raw_exchange(eco.url, request)
        head, _, body = answer.partition(b"\r\n\r\n")
        assert got == status, (request[:40], answer[:300])
        for header in (b"X-Content-Type-Options: nosniff", b"X-Frame-Options: DENY",
                       b"Content-Security-Policy: ", b"X-Correlation-ID: ",
                       b"Content-Type: application/json"):
            assert header in head, (status, header, head)
        payload = json.loads(body)
        assert set(payload) == {"error", "correlation_id"} and b"<html" not in body.lower()


@pytest.mark.req("REQ-GRACE-8", "REQ-GRACE-2")
def test_req_grace_8_head_answers_like_get_without_a_body(eco: Ecosystem) -> None:
    """REQ-GRACE-8: HEAD /healthz (and HEAD /) answers 200 with GET's headers and no body
    (r0002: 501)."""
    assert eco.url
    for path in (b"/healthz", b"/"):
        status, answer, _ = raw_exchange(eco.url, b"HEAD " + path + b" HTTP/1.0\r\nHost: mad\r\n\r\n")
        head, _, body = answer.partition(b"\r\n\r\n")
        assert status == 200 and body == b"" and b"Content-Length: " in head, answer[:300]
        assert b"X-Correlation-ID: " in head and b"nosniff" in head


@pytest.mark.req("REQ-GRACE-1", "REQ-FIEDLER-3", "REQ-FIEDLER-4")
def test_req_grace_1_team_replies_report_tokens_and_cost(eco: Ecosystem, api: Api) -> None:
    """REQ-GRACE-1: a team reply reports its tokens and cost like a single model's (the sum over
    the members that answered, each member's own in ``team``) instead of null (r0002)."""
    body = api.chat("12 + 30", task="math", team=3).body
    assert body["model"] == "team" and body["reply"] == "42"
    members = [m for m in body["team"] if "text" in m]
    assert members and all(m["tokens_in"] > 0 and m["tokens_out"] > 0 for m in members)
    assert body["tokens_in"] == sum(m["tokens_in"] for m in members) > 0
    assert body["tokens_out"] == sum(m["tokens_out"] for m in members) > 0
    assert body["cost_usd"] == pytest.approx(sum(m["cost_usd"] for m in members)) and body["cost_usd"] > 0
    usage = eco.mads["fiedler"].usage_of("grace")  # type: ignore[attr-defined]
    assert usage["tokens_in"] >= body["tokens_in"] and usage["cost_usd"] >= body["cost_usd"]


@pytest.mark.req("REQ-GRACE-3", "REQ-TURING-4", "REQ-TURING-3")
def test_req_grace_3_restarts_do_not_grow_the_users_secret(tmp_path: Any) -> None:
    """REQ-GRACE-3: the users' token hashes are stored in Turing once per change, not once per
    start: two starts with the same users keep one version and one write in the audit log, a
    changed user table adds one of each and is served at once (r0002: a version and an audit row
    on every start, without limit)."""
    data = tmp_path / "data"
    users = {"alice": {"token": ALICE_TOKEN}, "bob": {"token": BOB_TOKEN}}
    for _ in range(2):
        with Ecosystem(Config(data_dir=data, port=0, admin_token=ADMIN_TOKEN, users=users)):
            pass
    with Ecosystem(Config(data_dir=data, port=0, admin_token=ADMIN_TOKEN,
                          users={"alice": {"token": ALICE_TOKEN}})) as eco:
        assert eco.url
        assert Api(eco.url, ALICE_TOKEN).call("GET", "/api/conversations").status == 200
        assert Api(eco.url, BOB_TOKEN).call("GET", "/api/conversations").status == 401
    with sqlite3.connect(data / "turing.db") as db:
        versions = db.execute("SELECT COUNT(*) FROM secrets WHERE name = 'grace/users'").fetchone()[0]
        writes = db.execute("SELECT COUNT(*) FROM audit WHERE secret = 'grace/users' AND action = 'put'"
                            ).fetchone()[0]
    assert (versions, writes) == (2, 2)


@pytest.mark.req("REQ-GRACE-9", "REQ-ROGERS-6")
def test_req_grace_9_users_tag_their_conversations_over_http(eco: Ecosystem) -> None:
    """REQ-GRACE-9: tags are added and removed over the API and filter the list (r0012 could tag
    only over the internal bus: these paths were 405 or 404)."""
    alice, bob = Api(eco.url, ALICE_TOKEN), Api(eco.url, BOB_TOKEN)
    cid = alice.chat("plan the trip").body["conversation_id"]
    other = alice.chat("something else").body["conversation_id"]
    tagged = alice.call("POST", f"/api/conversations/{cid}/tags", {"tags": ["travel", "q3", "travel"]})
    assert tagged.status == 200, tagged.text
    assert tagged.body == {"conversation_id": cid, "tags": ["q3", "travel"]}
    listed = alice.call("GET", "/api/conversations?tag=travel")
    assert [c["id"] for c in listed.body] == [cid] and listed.body[0]["tags"] == ["q3", "travel"]
    assert {c["id"] for c in alice.call("GET", "/api/conversations").body} == {cid, other}
    assert alice.call("GET", f"/api/conversations/{cid}").body["conversation"]["tags"] == ["q3", "travel"]
    removed = alice.call("DELETE", f"/api/conversations/{cid}/tags/q3")
    assert removed.status == 200 and removed.body["tags"] == ["travel"]
    assert alice.call("GET", "/api/conversations?tag=q3").body == []
    # another user's conversation is 404 whether tagged or untagged, and stays untouched
    assert bob.call("POST", f"/api/conversations/{cid}/tags", {"tags": ["mine"]}).status == 404
    assert bob.call("DELETE", f"/api/conversations/{cid}/tags/travel").status == 404
    assert alice.call("GET", f"/api/conversations/{cid}").body["conversation"]["tags"] == ["travel"]
    assert bob.call("GET", "/api/conversations?tag=travel").body == []


@pytest.mark.req("REQ-GRACE-9", "REQ-GRACE-4")
@pytest.mark.parametrize(("method", "suffix", "body", "status"), [
    ("POST", "/tags", {"tags": ["Bad!"]}, 400),
    ("POST", "/tags", {"tags": ["ok\n"]}, 400),
    ("POST", "/tags", {"tags": []}, 400),
    ("POST", "/tags", {"tags": [f"t{i}" for i in range(17)]}, 400),
    ("POST", "/tags", {"tags": "travel"}, 400),
    ("POST", "/tags", {"tags": [7]}, 400),
    ("POST", "/tags", {"tags": ["a"], "extra": 1}, 400),
    ("GET", "/tags", None, 405),
    ("DELETE", "/tags/UPPER", None, 400),
    ("DELETE", "/tags/a%0A", None, 400),
    ("POST", "/tags/a", {"tags": ["a"]}, 405),
    ("POST", "/labels", {"tags": ["a"]}, 404),
])
def test_req_grace_9_malformed_tag_requests_are_refused_before_rogers(
        eco: Ecosystem, method: str, suffix: str, body: Any, status: int) -> None:
    alice = Api(eco.url, ALICE_TOKEN)
    cid = alice.chat("hello").body["conversation_id"]
    response = alice.call(method, f"/api/conversations/{cid}{suffix}", body)
    assert response.status == status, response.text
    assert response.body["correlation_id"] and "Traceback" not in response.text
    assert alice.call("GET", f"/api/conversations/{cid}").body["conversation"]["tags"] == []


@pytest.mark.req("REQ-GRACE-6", "REQ-ROGERS-5")
def test_req_grace_6_the_conversation_list_is_paged(eco: Ecosystem) -> None:
    """REQ-GRACE-6: ``GET /api/conversations`` answers a page (50 by default, ``limit`` up to 200)
    newest first with a ``Link: <...>; rel="next"`` header; following the links lists every
    conversation exactly once (r0012 answered all of them in one body, cut at 500)."""
    grace = eco.mads["grace"]
    opened = [grace.ask("rogers", "open", owner="alice", title=f"t{i}")["id"] for i in range(130)]
    grace.ask("rogers", "open", owner="bob", title="bob's")
    alice = Api(eco.url, ALICE_TOKEN)
    first = alice.call("GET", "/api/conversations")
    assert first.status == 200 and len(first.body) == 50
    seen, response, pages = list(first.body), first, 1
    while "Link" in response.headers:
        link = response.headers["Link"]
        assert link.endswith('>; rel="next"') and link.startswith("</api/conversations?")
        response = alice.call("GET", link[1:link.index(">")])
        assert response.status == 200, response.text
        seen += response.body
        pages += 1
    assert pages == 3 and len(seen) == 130 and {c["id"] for c in seen} == set(opened)
    assert [c["updated"] for c in seen] == sorted((c["updated"] for c in seen), reverse=True)
    big = alice.call("GET", "/api/conversations?limit=200")
    assert len(big.body) == 130 and "Link" not in big.headers
    small = alice.call("GET", "/api/conversations?limit=7")
    assert len(small.body) == 7 and "limit=7" in small.headers["Link"]


@pytest.mark.req("REQ-GRACE-6", "REQ-GRACE-4")
@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=ten", "limit=%C2%B2", "cursor=nope",
                                   "cursor=WzEsImMtMVxuIl0", "tag=Bad", "page=2", "limit=5&limit=6"])
def test_req_grace_6_malformed_paging_is_400(api: Api, query: str) -> None:
    response = api.call("GET", f"/api/conversations?{query}")
    assert response.status == 400, response.text
    assert response.body["correlation_id"]


@pytest.mark.req("REQ-GRACE-2", "REQ-GRACE-9")
def test_req_grace_9_the_chat_page_lists_filters_and_tags(api: Api) -> None:
    page = api.call("GET", "/", token=None)
    script = api.call("GET", "/chat.js", token=None).text
    for element in ('id="conversations"', 'id="filter-tag"', 'id="tagging"', 'id="new-tag"', 'id="more"'):
        assert element in page.text
    assert "<script>" not in page.text and 'src="/chat.js"' in page.text  # still no inline script
    for call in ("'/tags'", "'/tags/'", "'DELETE'", "'POST'", "?tag=", "rel=\"next\""):
        assert call in script, call
    assert "innerHTML" not in script and "textContent" in script
