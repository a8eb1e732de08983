"""Grace, the user gateway: the ecosystem's single hardened entry (its DMZ).

Grace serves a JSON HTTP API and a small web chat page from the standard
library's ``ThreadingHTTPServer``. Every API request is authenticated with a
bearer token (only SHA-256 hashes of tokens are kept, in Turing), rate-limited
per user (and failed logins per client address), validated, and given a
correlation id that follows it through every MAD it reaches and comes back in
the ``X-Correlation-ID`` header. Errors never carry internals: a failure is a
status, a short message and the correlation id to look up in the logs.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from mad.core.bus import Bus
from mad.core.mad import MAD, MADError
from mad.core.observability import CORRELATION_RE, Observability, correlation
from mad.grace.guard import (
    MAX_QUERY_CHARS,
    HTTPProblem,
    RateLimiter,
    clean_text,
    conversation_id,
    encode_cursor,
    page_query,
    parse_json_body,
    tag_name,
    validate_chat,
    validate_tags,
)
from mad.grace.page import PAGE, SCRIPT

STATUS_FOR_CODE = {"bad_request": 400, "forbidden": 403, "not_found": 404, "quota": 429, "budget": 402,
                   "refused": 422, "unavailable": 503, "timeout": 504, "internal": 502}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
}


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class GraceHTTPServer(ThreadingHTTPServer):
    """Grace's HTTP server: a listen backlog for real load (socketserver's default is 5)."""

    request_queue_size = 128
    daemon_threads = True


class Grace(MAD):
    name = "grace"

    def __init__(self, bus: Bus, obs: Observability, users_secret: str = "grace/users",
                 rate: float = 5.0, burst: int = 20, login_rate: float = 1.0, login_burst: int = 10,
                 max_body: int = 16384, ask_timeout: float = 30.0, users_ttl: float = 30.0,
                 body_timeout: float = 5.0) -> None:
        super().__init__(bus, obs)
        self.users_secret = users_secret
        self.body_timeout = body_timeout  # seconds a client may take to send its declared body
        self.limiter = RateLimiter(rate, burst)
        self.login_limiter = RateLimiter(login_rate, login_burst)
        self.max_body = max_body
        self.ask_timeout = ask_timeout
        self.users_ttl = users_ttl
        self._users: dict[str, dict[str, Any]] = {}
        self._users_at = -1e9
        self._lock = threading.Lock()
        self._server: GraceHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- users ---------------------------------------------------------------
    def users(self) -> dict[str, dict[str, Any]]:
        """The user table (name -> sha256, admin), from Turing, cached ``users_ttl`` seconds."""
        with self._lock:
            if time.monotonic() - self._users_at < self.users_ttl:
                return self._users
        secret = self.ask("turing", "get_secret", name=self.users_secret)
        users = json.loads(secret["value"])
        with self._lock:
            self._users, self._users_at = users, time.monotonic()
        return users

    def authenticate(self, header: str | None) -> tuple[str, bool] | None:
        """(user, is_admin) for a valid ``Authorization: Bearer`` header, else None.

        The scheme is case-insensitive (RFC 7235 section 2.1): ``bearer`` and ``BEARER`` work too."""
        scheme, _, token = (header or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        digest = token_hash(token.strip())
        found = None
        for name, entry in self.users().items():  # compare with every entry: constant work
            if hmac.compare_digest(digest, str(entry.get("sha256", ""))):
                found = (name, bool(entry.get("admin")))
        return found

    # -- what the API does ---------------------------------------------------------
    def chat(self, user: str, message: str, conversation_id: str | None = None, task: str = "chat",
             team: int = 0) -> dict[str, Any]:
        if conversation_id:
            self.owned(user, conversation_id)
        else:
            conversation_id = self.ask("rogers", "open", owner=user, title=message[:60])["id"]
        result = self.ask("fiedler", "chat", in_conversation=conversation_id, timeout=self.ask_timeout,
                          text=message, task=task, team=team)
        return {"conversation_id": conversation_id, "reply": result["text"], "model": result["model"],
                "tokens_in": result.get("tokens_in"), "tokens_out": result.get("tokens_out"),
                "cost_usd": result.get("cost_usd"), "team": result.get("team")}

    def owned(self, user: str, cid: str, limit: int = 1) -> dict[str, Any]:
        try:
            history = self.ask("rogers", "history", conversation_id=cid, limit=limit)
        except MADError as exc:
            if exc.code in ("forbidden", "not_found"):
                raise HTTPProblem(404, "no such conversation") from None
            raise
        if history["conversation"]["owner"] != user:
            raise HTTPProblem(404, "no such conversation")
        return history

    def transcript(self, user: str, cid: str) -> dict[str, Any]:
        history = self.owned(user, cid, limit=1000)
        turns = [{"role": "user" if m["sender"] == self.name else "assistant", "from": m["sender"],
                  "text": m["text"], "ts": m["ts"]}
                 for m in history["messages"]
                 if (m["sender"] == self.name and m["kind"] == "request") or m["recipient"] == self.name]
        return {"conversation": history["conversation"], "messages": turns}

    def conversations(self, user: str, limit: int = 50, before: dict[str, Any] | None = None,
                      tag: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the user's conversations, newest first, and the next page's cursor (None on
        the last page): Rogers is asked for one more than the page to know whether there is one."""
        args: dict[str, Any] = {"owner": user, "limit": limit + 1}
        if before is not None:
            args["before"] = before
        if tag is not None:
            args["tag"] = tag
        rows = self.ask("rogers", "conversations", **args)
        page = rows[:limit]
        more = len(rows) > limit
        return page, encode_cursor(page[-1]["updated"], page[-1]["id"]) if more and page else None

    def tag(self, user: str, cid: str, tags: list[str]) -> dict[str, Any]:
        """Tag the user's own conversation (REQ-GRACE-9); another user's is 404, as when read."""
        self.owned(user, cid)
        return {"conversation_id": cid, "tags": self.ask("rogers", "tag", conversation_id=cid, tags=tags)["tags"]}

    def untag(self, user: str, cid: str, tag: str) -> dict[str, Any]:
        self.owned(user, cid)
        return {"conversation_id": cid, "tags": self.ask("rogers", "untag", conversation_id=cid, tag=tag)["tags"]}

    def search(self, user: str, query: str) -> list[dict[str, Any]]:
        """The user's newest 50 hits: Rogers filters by owner before it limits (REQ-GRACE-6), so
        other users' messages never crowd them out."""
        return self.ask("rogers", "search", query=query, limit=50, owner=user)

    # -- serving -----------------------------------------------------------------------
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Start the HTTP server in a thread; return the address it listens on."""
        handler = type("GraceHandler", (_Handler,), {"grace": self})
        self._server = GraceHTTPServer((host, port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="grace-http", daemon=True)
        self._thread.start()
        address = self._server.server_address
        self.log("listening", host=address[0], port=address[1])
        return str(address[0]), int(address[1])

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        super().stop()


class _Handler(BaseHTTPRequestHandler):
    grace: Grace
    server_version = "MAD-Grace/1"
    sys_version = ""
    timeout = 30  # seconds a client may take to send its request (slow-client defence)
    max_header_bytes = 16384  # all request headers together; more is 431

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Access logs go to the structured log, not stderr."""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_HEAD(self) -> None:
        self._serve("HEAD")  # routed as GET; _send leaves the body out

    def parse_request(self) -> bool:
        """The stdlib's parsing, plus a bound on the headers' total size (431 beyond it)."""
        if not super().parse_request():
            return False
        size = sum(len(name) + len(value) + 4 for name, value in self.headers.items())
        if size > self.max_header_bytes:
            self.send_error(431, f"request headers larger than {self.max_header_bytes} bytes")
            return False
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors the HTTP layer raises itself (400, 414, 431, 501, 505, ...) look like every
        other error (REQ-GRACE-7): JSON with a short message and a correlation id, the security
        headers and ``X-Correlation-ID``; never the stdlib's HTML page."""
        self.close_connection = True
        if self.request_version == "HTTP/0.9":  # a request line the stdlib could not read:
            self.request_version = "HTTP/1.0"   # answer with a status line and headers anyway
        text = message or self.responses.get(code, ("error",))[0]
        with correlation(None) as cid:
            self._json(code, {"error": text[:200], "correlation_id": cid}, cid, {"Connection": "close"})
            self.grace.log("http_request", method=(self.command or "")[:16], status=code,
                           error=text[:200])

    # -- plumbing --------------------------------------------------------------------
    def _send(self, status: int, body: bytes, content_type: str, cid: str,
              extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in {**SECURITY_HEADERS, **(extra or {})}.items():
            self.send_header(key, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Correlation-ID", cid)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload: Any, cid: str, extra: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload, default=str).encode(), "application/json", cid, extra)

    def _serve(self, method: str) -> None:
        incoming = self.headers.get("X-Correlation-ID", "")
        with correlation(incoming if CORRELATION_RE.match(incoming) else None) as cid:
            started = time.monotonic()
            status = 500
            try:
                status = self._route(method, cid)
            except HTTPProblem as exc:
                status = exc.status
                self._json(status, {"error": exc.message, "correlation_id": cid}, cid, exc.headers)
            except MADError as exc:
                status = STATUS_FOR_CODE.get(exc.code, 502)
                self._json(status, {"error": exc.message, "code": exc.code, "correlation_id": cid}, cid)
            except Exception as exc:  # noqa: BLE001 - nothing internal leaves the DMZ
                self.grace.log("http_error", "error", error_type=type(exc).__name__, error=str(exc)[:300])
                self._json(500, {"error": "internal error", "correlation_id": cid}, cid)
            self.grace.log("http_request", method=method, path=urlsplit(self.path).path, status=status,
                           latency_ms=round((time.monotonic() - started) * 1000, 3))

    def _tags(self, method: str, user: str, parts: list[str]) -> dict[str, Any]:
        """``POST /api/conversations/<id>/tags`` and ``DELETE .../tags/<tag>`` (REQ-GRACE-9)."""
        if parts[1:] == ["tags"]:
            if method != "POST":
                raise HTTPProblem(405, "use POST", {"Allow": "POST"})
            return self.grace.tag(user, conversation_id(parts[0]), validate_tags(self._body()))
        if len(parts) == 3 and parts[1] == "tags":
            if method != "DELETE":
                raise HTTPProblem(405, "use DELETE", {"Allow": "DELETE"})
            return self.grace.untag(user, conversation_id(parts[0]), tag_name(parts[2]))
        raise HTTPProblem(404, "not found")

    def _user(self) -> tuple[str, bool]:
        client = self.client_address[0]
        user = self.grace.authenticate(self.headers.get("Authorization"))
        if user is None:
            self.grace.login_limiter.check(client, "failed logins from this address")
            raise HTTPProblem(401, "missing or invalid bearer token", {"WWW-Authenticate": 'Bearer realm="mad"'})
        self.grace.limiter.check(user[0], f"user {user[0]!r}")
        return user

    def _body(self) -> dict[str, Any]:
        return parse_json_body(self.headers.get("Content-Type"), self.headers.get("Content-Length"),
                               self._read_body, self.grace.max_body)

    def _read_body(self, size: int) -> bytes:
        """The declared body, read within ``body_timeout``: a client that sends less than its
        Content-Length gets 408 once that passes (not a 500 after the 30 s socket timeout)."""
        self.connection.settimeout(self.grace.body_timeout)
        try:
            return self.rfile.read(size)
        except OSError:  # socket.timeout is a subclass
            self.close_connection = True
            raise HTTPProblem(408, f"body not received within {self.grace.body_timeout:g}s: "
                                   "shorter than its Content-Length?") from None
        finally:
            self.connection.settimeout(self.timeout)

    def _route(self, method: str, cid: str) -> int:
        method = "GET" if method == "HEAD" else method
        url = urlsplit(self.path)
        path = url.path
        if method == "GET" and path in ("/", "/index.html"):
            self._send(200, PAGE.encode(), "text/html; charset=utf-8", cid)
            return 200
        if method == "GET" and path == "/chat.js":
            self._send(200, SCRIPT.encode(), "text/javascript; charset=utf-8", cid)
            return 200
        if method == "GET" and path == "/healthz":
            self._json(200, {"status": "ok", "breakers": self.grace.obs.breaker_states()}, cid)
            return 200
        if not path.startswith("/api/"):
            raise HTTPProblem(404, "not found")
        user, admin = self._user()
        grace = self.grace
        if path == "/api/chat":
            if method != "POST":
                raise HTTPProblem(405, "use POST", {"Allow": "POST"})
            payload: Any = grace.chat(user, **validate_chat(self._body()))
        elif path.startswith("/api/conversations/") and path.count("/") >= 4:
            payload = self._tags(method, user, path.split("/")[3:])
        elif method != "GET":
            raise HTTPProblem(405, "use GET", {"Allow": "GET"})
        elif path == "/api/conversations":
            page, cursor = grace.conversations(user, **page_query(parse_qs(url.query, keep_blank_values=True)))
            extra = {} if cursor is None else {
                "Link": f'</api/conversations?{urlencode({**parse_qs(url.query), "cursor": cursor}, doseq=True)}>; rel="next"'}
            self._json(HTTPStatus.OK, page, cid, extra)
            return 200
        elif path.startswith("/api/conversations/"):
            payload = grace.transcript(user, conversation_id(path.rsplit("/", 1)[1]))
        elif path == "/api/search":
            query = parse_qs(url.query).get("q", [""])[0]
            payload = grace.search(user, clean_text(query, "q", MAX_QUERY_CHARS))
        elif path in ("/api/metrics", "/api/audit"):
            if not admin:
                raise HTTPProblem(403, "administrators only")
            payload = (grace.obs.report() if path == "/api/metrics"
                       else grace.ask("turing", "audit_log", limit=200))
        else:
            raise HTTPProblem(404, "not found")
        self._json(HTTPStatus.OK, payload, cid)
        return 200
