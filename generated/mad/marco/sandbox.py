"""Marco's sandbox: web content is fetched and parsed only in a limited child process.

This file is both halves of the sandbox and imports nothing but the standard
library, so the child can run it as a plain script in an isolated interpreter
(``python -I -S sandbox.py``) with an empty environment: no secrets, no project
code, no site packages.

The parent (:func:`run_sandboxed`) checks the URL first, starts the child with
the request on stdin, and kills it at the wall-clock limit. The child caps its
own address space (``RLIMIT_AS``), CPU time, open files and file writes before
it touches the request, then fetches with the SSRF policy applied at every hop:

* only ``http`` and ``https``, no credentials in the URL, only usual ports;
* the host name is resolved once and *every* address must be public: loopback,
  private, link-local, site-local, shared, multicast, reserved and unspecified
  addresses (IPv4, IPv6, IPv4-mapped IPv6, and 6to4 ``2002::/16`` addresses by the
  IPv4 address they embed) are refused, so are names resolving to them;
* the connection goes to the address that was checked (no second lookup, so
  no DNS rebinding); redirects are followed by hand and re-checked each hop.
"""
from __future__ import annotations

import http.client
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

ALLOWED_SCHEMES = ("http", "https")
ALLOWED_PORTS = (80, 443, 8080, 8443)
REDIRECTS = (301, 302, 303, 307, 308)
EXIT_MEMORY = 3


class Refused(Exception):
    """The policy refuses this URL or address."""


def address_problem(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why ``ip`` may not be contacted, or None if it is a public address."""
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        return address_problem(mapped)
    embedded = getattr(ip, "sixtofour", None)  # 2002:AABB:CCDD::/48 routes to IPv4 AA.BB.CC.DD
    if embedded is not None:
        inner = address_problem(embedded)
        return f"{inner} (6to4 of {embedded})" if inner else None
    checks = (("loopback", ip.is_loopback), ("unspecified", ip.is_unspecified),
              ("link-local", ip.is_link_local), ("site-local", getattr(ip, "is_site_local", False)),
              ("multicast", ip.is_multicast), ("reserved", ip.is_reserved), ("private", ip.is_private))
    for label, hit in checks:
        if hit:
            return label
    if not ip.is_global:
        return "not globally routable"
    return None


def check_url(url: str, allow: list[str] | None = None,
              resolve: dict[str, list[str]] | None = None) -> tuple[str, str, int, str]:
    """Validate ``url``; return (scheme, host, port, address to connect to).

    ``allow`` lists exact ``host:port`` pairs exempt from the address checks (a
    lab's own services); ``resolve`` pins host names to addresses, as curl's
    ``--resolve`` does, instead of asking DNS.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused(f"refused: malformed URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise Refused(f"refused: scheme {scheme or '(none)'!r} is not allowed")
    if parts.username is not None or parts.password is not None:
        raise Refused("refused: credentials in URLs are not allowed")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise Refused("refused: URL has no host")
    port = port or (443 if scheme == "https" else 80)
    exempt = f"{host}:{port}" in (allow or [])
    if not exempt and port not in ALLOWED_PORTS:
        raise Refused(f"refused: port {port} is not allowed")
    if resolve and host in resolve:
        addresses = list(resolve[host])
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise Refused(f"refused: cannot resolve {host!r} ({exc})") from None
        addresses = sorted({info[4][0] for info in infos})
    if not addresses:
        raise Refused(f"refused: {host!r} has no address")
    for address in addresses:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            raise Refused(f"refused: {host!r} resolved to a bad address {address!r}") from None
        problem = None if exempt else address_problem(ip)
        if problem:
            shown = host if host == address else f"{host} resolves to {address}"
            raise Refused(f"refused: {shown}, a {problem} address")
    return scheme, host, port, addresses[0]


# --------------------------------------------------------------------------- parent
def run_sandboxed(request: dict, timeout: float = 10.0) -> dict:
    """Run one fetch in a fresh limited child; always returns a JSON-able result."""
    check_url(request["url"], request.get("allow"), request.get("resolve"))  # fail fast
    with tempfile.TemporaryDirectory(prefix="marco-") as scratch:
        try:
            proc = subprocess.run(  # noqa: S603 - fixed argv, no shell
                [sys.executable, "-I", "-S", os.path.abspath(__file__)],
                input=json.dumps(request).encode(), capture_output=True, timeout=timeout,
                env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"}, cwd=scratch,
                start_new_session=True, check=False)
        except subprocess.TimeoutExpired:
            return {"ok": False, "code": "time_limit",
                    "error": f"killed: the fetch exceeded its time limit of {timeout:g}s"}
    if proc.returncode == EXIT_MEMORY:
        return {"ok": False, "code": "memory_limit",
                "error": f"killed: the fetch exceeded its memory limit of {request['memory_mb']} MB"}
    if proc.returncode < 0:
        return {"ok": False, "code": "killed",
                "error": f"killed by signal {-proc.returncode} (a resource limit was hit)"}
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        return {"ok": False, "code": "sandbox_error",
                "error": f"sandbox exited {proc.returncode} without a result"}
    return result if isinstance(result, dict) else {"ok": False, "code": "sandbox_error",
                                                    "error": "bad sandbox result"}


# --------------------------------------------------------------------------- child
class _PinnedHTTP(http.client.HTTPConnection):
    """An HTTP connection to an already-checked address; Host stays the name."""

    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class _Text(HTMLParser):
    """Visible text and title of an HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self._skip += tag in ("script", "style", "noscript")
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "noscript") and self._skip:
            self._skip -= 1
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skip:
            self.parts.append(data)


def _limit(memory_mb: int, cpu_s: int) -> None:
    import resource  # POSIX only; imported here so the parent never needs it

    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (16, 16))


def _fetch(req: dict) -> dict:
    url, hops = req["url"], 0
    timeout, max_bytes = float(req.get("timeout", 10)), int(req.get("max_bytes", 1_000_000))
    while True:
        scheme, host, port, address = check_url(url, req.get("allow"), req.get("resolve"))
        cls = _PinnedHTTPS if scheme == "https" else _PinnedHTTP
        conn = cls(host, address, port, timeout)
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request("GET", path, headers={"User-Agent": "MAD-Marco/1", "Accept": "*/*",
                                           "Accept-Encoding": "identity"})
        response = conn.getresponse()
        location = response.getheader("Location")
        if response.status in REDIRECTS and location:
            conn.close()
            hops += 1
            if hops > int(req.get("max_redirects", 5)):
                raise Refused("refused: too many redirects")
            url = urljoin(url, location)
            continue
        body = bytearray()
        while len(body) <= max_bytes:
            chunk = response.read(65536)
            if not chunk:
                break
            body += chunk
        truncated = len(body) > max_bytes
        del body[max_bytes:]
        conn.close()
        ctype = response.getheader("Content-Type", "")
        charset = response.headers.get_content_charset() or "utf-8"
        text = bytes(body).decode(charset, errors="replace")
        title = ""
        if "html" in ctype:
            parser = _Text()
            parser.feed(text)
            title, text = parser.title.strip(), " ".join(" ".join(parser.parts).split())
        return {"ok": True, "url": req["url"], "final_url": url, "status": response.status,
                "content_type": ctype, "bytes": len(body), "truncated": truncated,
                "title": title, "text": text[: int(req.get("max_text", 20000))]}


def _child_main() -> None:
    req = json.loads(sys.stdin.buffer.read())
    _limit(int(req.get("memory_mb", 256)), int(req.get("cpu_s", 10)))
    try:
        result = _fetch(req)
    except MemoryError:
        os._exit(EXIT_MEMORY)
    except Refused as exc:
        result = {"ok": False, "code": "refused", "error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - every failure becomes a result
        result = {"ok": False, "code": "fetch_failed", "error": f"{type(exc).__name__}: {exc}"[:500]}
    sys.stdout.write(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    _child_main()
