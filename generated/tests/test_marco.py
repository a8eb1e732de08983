"""Marco fetches the web only in a limited subprocess, and never reaches inward.

No test here sends a packet anywhere but 127.0.0.1: addresses that must be
refused are refused before any connection is attempted.
"""
from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from mad.core.bus import InMemoryBus
from mad.core.mad import MADError, ask
from mad.core.observability import Observability
from mad.marco import Marco, SandboxLimits, sandbox
from mad.marco.sandbox import Refused, check_url
from tests.helpers import free_port

STOP = threading.Event()


class Site(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: bytes = b"", ctype: str = "text/html; charset=utf-8",
               headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/page":
            self._reply(200, b"<html><head><title>Lab page</title><script>var x=1;</script></head>"
                             b"<body><h1>Hello</h1><p>from   the  lab</p></body></html>")
        elif url.path == "/redirect":
            self._reply(302, headers={"Location": parse_qs(url.query)["to"][0]})
        elif url.path == "/loop":
            self._reply(302, headers={"Location": "/loop"})
        elif url.path == "/text":
            self._reply(200, b"a" * 5000, "text/plain")
        elif url.path == "/slow":
            self.send_response(200)
            self.end_headers()
            STOP.wait(20)
        elif url.path == "/huge":
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            chunk = b"\0" * (1 << 20)
            try:
                for _ in range(1024):  # at most 1 GiB, over loopback only
                    if STOP.is_set():
                        return
                    self.wfile.write(chunk)
            except OSError:
                return
        else:
            self._reply(404, b"not here")


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    STOP.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    STOP.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def marco(site: str, memory_bus: InMemoryBus) -> Iterator[Marco]:
    obs = Observability()
    mad = Marco(memory_bus, obs, SandboxLimits(timeout_s=5, memory_mb=256, allow=[site]))
    mad.start()
    yield mad
    mad.stop()


REFUSED = [
    ("http://127.0.0.1/", "loopback"), ("http://localhost/", "localhost resolves to 127.0.0.1"),
    ("http://[::1]/", "loopback"), ("http://10.0.0.1/", "private"), ("http://192.168.1.10/", "private"),
    ("http://172.16.5.4/", "private"), ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://[fe80::1]/", "link-local"), ("http://0.0.0.0/", "unspecified"), ("http://[::]/", "unspecified"),
    ("http://2130706433/", "127.0.0.1, a loopback"), ("http://0x7f.1/", "127.0.0.1, a loopback"),
    ("http://[::ffff:127.0.0.1]/", "loopback"), ("http://[::ffff:10.1.1.1]/", "private"),
    ("http://100.64.0.1/", "address"), ("http://224.0.0.1/", "multicast"), ("http://240.0.0.1/", "reserved"),
    ("http://[fd00::1]/", "private"), ("ftp://example.org/", "scheme 'ftp'"),
    ("file:///etc/passwd", "scheme 'file'"), ("gopher://example.org/", "scheme"),
    ("http://user:pw@example.org/", "credentials"), ("http://example.org:22/", "port 22"),
    ("http:///nohost", "no host"), ("http://[not-an-ip/", "malformed"),
]


@pytest.mark.req("REQ-MARCO-4", "REQ-MARCO-5")
@pytest.mark.parametrize("url,reason", REFUSED)
def test_inward_and_odd_urls_are_refused(url: str, reason: str) -> None:
    with pytest.raises(Refused, match="refused") as refused:
        check_url(url)
    assert reason in str(refused.value)


@pytest.mark.req("REQ-MARCO-5")
def test_names_resolving_inward_are_refused() -> None:
    pinned = {"intranet.example": ["10.1.2.3"], "sneaky.example": ["93.184.216.34", "127.0.0.1"],
              "public.example": ["93.184.216.34"]}
    with pytest.raises(Refused, match="intranet.example resolves to 10.1.2.3, a private address"):
        check_url("https://intranet.example/", resolve=pinned)
    with pytest.raises(Refused, match="sneaky.example resolves to 127.0.0.1, a loopback"):
        check_url("https://sneaky.example/", resolve=pinned)  # any inward address taints the name
    assert check_url("https://public.example/x", resolve=pinned) == ("https", "public.example", 443,
                                                                     "93.184.216.34")


@pytest.mark.req("REQ-MARCO-1", "REQ-MARCO-7")
def test_a_page_is_fetched_in_the_sandbox(marco: Marco, site: str) -> None:
    result = ask(marco.bus, marco.obs, "fiedler", "marco", "fetch", {"url": f"http://{site}/page"})
    assert result["status"] == 200 and result["title"] == "Lab page"
    assert result["text"] == "Hello from the lab"  # scripts dropped, whitespace collapsed
    truncated = marco.fetch(f"http://{site}/text", max_bytes=1000)
    assert truncated["truncated"] is True and truncated["bytes"] == 1000 and len(truncated["text"]) == 1000


@pytest.mark.req("REQ-MARCO-1")
def test_the_child_runs_isolated_with_an_empty_environment(marco: Marco, site: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    real_run = sandbox.subprocess.run

    def spy(argv: list[str], **kwargs: Any) -> Any:
        seen.update(argv=argv, **kwargs)
        return real_run(argv, **kwargs)

    monkeypatch.setenv("MAD_MASTER_KEY", "must-not-leak")
    monkeypatch.setattr(sandbox.subprocess, "run", spy)
    marco.fetch(f"http://{site}/page")
    assert seen["argv"][1:3] == ["-I", "-S"] and seen["argv"][3].endswith("sandbox.py")
    assert set(seen["env"]) == {"PATH", "LC_ALL"} and seen["start_new_session"] is True
    assert seen["cwd"] != "/" and "marco-" in seen["cwd"]


@pytest.mark.req("REQ-MARCO-6")
def test_redirects_are_checked_at_every_hop(marco: Marco, site: str) -> None:
    ok = marco.fetch(f"http://{site}/redirect?to=/page")
    assert ok["final_url"] == f"http://{site}/page" and ok["title"] == "Lab page"
    other_port = free_port()
    for target, reason in ((f"http://127.0.0.1:{other_port}/", f"port {other_port} is not allowed"),
                           ("http://10.0.0.5/", "private"), ("http://169.254.169.254/", "link-local"),
                           (f"http://localhost:{site.split(':')[1]}/page", "not allowed"),
                           ("http://localhost/", "localhost resolves to 127.0.0.1")):
        with pytest.raises(MADError) as refused:
            marco.fetch(f"http://{site}/redirect?to={target}")
        assert refused.value.code == "refused" and reason in refused.value.message
    with pytest.raises(MADError, match="too many redirects"):
        marco.fetch(f"http://{site}/loop")


@pytest.mark.req("REQ-MARCO-2")
def test_a_hanging_fetch_is_killed_at_its_time_limit(marco: Marco, site: str) -> None:
    started = time.monotonic()
    with pytest.raises(MADError) as killed:
        marco.fetch(f"http://{site}/slow", timeout=1.0)
    assert time.monotonic() - started < 4
    assert killed.value.code == "unavailable"
    assert killed.value.message == "killed: the fetch exceeded its time limit of 1s"


@pytest.mark.req("REQ-MARCO-3")
def test_a_runaway_fetch_is_killed_at_its_memory_limit(marco: Marco, site: str) -> None:
    started = time.monotonic()
    with pytest.raises(MADError) as killed:
        marco.fetch(f"http://{site}/huge", memory_mb=128, max_bytes=2 << 30, timeout=20)
    assert time.monotonic() - started < 15
    message = killed.value.message
    assert message == "killed: the fetch exceeded its memory limit of 128 MB" or "resource limit" in message


@pytest.mark.req("REQ-MARCO-4", "REQ-MARCO-5")
def test_marco_refuses_over_the_bus_without_tripping_its_breaker(marco: Marco) -> None:
    for _ in range(8):
        with pytest.raises(MADError) as refused:
            ask(marco.bus, marco.obs, "fiedler", "marco", "fetch", {"url": "http://169.254.169.254/"})
        assert refused.value.code == "refused"
    assert marco.obs.breaker("marco").state == "closed"
    assert marco.obs.log.recent(event="fetch_refused")


SIXTOFOUR_AND_SITE_LOCAL = [
    ("http://[2002:7f00:1::]/", "loopback (6to4 of 127.0.0.1)"),
    ("http://[2002:7f00:1::1]/", "loopback (6to4 of 127.0.0.1)"),
    ("http://[2002:a9fe:a9fe::]/", "link-local (6to4 of 169.254.169.254)"),
    ("http://[2002:a00:1::]/", "private (6to4 of 10.0.0.1)"),
    ("http://[2002:c0a8:101::]/", "private (6to4 of 192.168.1.1)"),
    ("http://[2002::]/", "(6to4 of 0.0.0.0)"),
    ("http://[fec0::1]/", "site-local"), ("http://[feff:ffff::1]/", "site-local"),
]


@pytest.mark.req("REQ-MARCO-5")
@pytest.mark.parametrize("url,reason", SIXTOFOUR_AND_SITE_LOCAL)
def test_req_marco_5_6to4_inward_and_site_local_addresses_are_refused(url: str, reason: str) -> None:
    """REQ-MARCO-5: a 6to4 address embedding a loopback, link-local or private IPv4 address, and
    a site-local fec0::/10 address, are refused, spelled directly or as a name resolving to them
    (r0002 let all of them through)."""
    with pytest.raises(Refused, match="refused") as refused:
        check_url(url)
    assert reason in str(refused.value)
    host = url.split("[", 1)[1].split("]", 1)[0]
    with pytest.raises(Refused, match=f"inward.example resolves to {host}"):
        check_url("https://inward.example/", resolve={"inward.example": ["93.184.216.34", host]})


@pytest.mark.req("REQ-MARCO-5")
def test_req_marco_5_6to4_of_a_public_address_stays_allowed() -> None:
    """REQ-MARCO-5: 6to4 is refused by what it embeds, not wholesale: a public embedded address passes."""
    assert check_url("http://[2002:5db8:d822::1]/")[3] == "2002:5db8:d822::1"


@pytest.mark.req("REQ-MARCO-6", "REQ-MARCO-5")
def test_req_marco_6_a_redirect_to_6to4_loopback_or_site_local_is_refused(marco: Marco, site: str) -> None:
    """REQ-MARCO-6: a redirect hop to a 6to4 address embedding loopback or link-local, or to a
    site-local address, is refused in the sandbox, like the first URL."""
    for target, reason in (("http://[2002:7f00:1::]/", "6to4 of 127.0.0.1"),
                           ("http://[2002:a9fe:a9fe::]/latest/meta-data/", "6to4 of 169.254.169.254"),
                           ("http://[fec0::1]/", "site-local")):
        with pytest.raises(MADError) as refused:
            marco.fetch(f"http://{site}/redirect?to={target}")
        assert refused.value.code == "refused" and reason in refused.value.message, refused.value
