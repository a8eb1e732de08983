"""Prompt rendering: workspace templates, the API summary, planning and the continuation seam."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from synth_helpers import demo_responder, make_client, write_workspace

from genops.providers.fake import FakeProvider
from genops.synthesis.apisummary import api_summary
from genops.workspace.prompts import DEFAULT_PROMPTS
from genops.synthesis.conversation import stitch
from genops.synthesis.engine import first_request, synthesize
from genops.workspace import load_workspace


def _keys(root: Path) -> list[str]:
    ws = load_workspace(root)
    client = make_client(ws, {"senior": FakeProvider(responder=demo_responder())})
    result = synthesize(ws, client=client, rungs=ws.config.rung_models(), previous_tree=None,
                        run_dir=root / "run")
    return [c.key for c in result.calls]


def test_workspace_copies_of_the_defaults_render_identically(tmp_path: Path) -> None:
    """`genops init` copies the defaults into prompts/: they load, and change no request."""
    plain = write_workspace(tmp_path / "plain").root
    copied = write_workspace(tmp_path / "copied").root
    shutil.copytree(DEFAULT_PROMPTS, copied / "prompts")
    assert set(load_workspace(copied).templates) >= {"system", "context", "group", "continue"}
    assert _keys(plain) == _keys(copied)


def test_a_workspace_template_overrides_the_default(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", strategy="single")
    (ws.root / "prompts").mkdir()
    (ws.root / "prompts" / "single.j2").write_text(
        "Write all of {{ project.name }} for requirements "
        "{{ requirements | map(attribute='id') | join(' ') }}.\n")
    ws = load_workspace(ws.root)
    request = first_request(ws, ws.config.models["senior"], previous_tree=None)
    assert request.messages[-1].content == \
        "Write all of demo for requirements REQ-CORE-1 REQ-BUS-1 REQ-STORE-1 REQ-APP-1.\n"


def test_first_request_is_what_synthesis_sends_first(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws")
    planned = first_request(ws, ws.config.models["senior"], previous_tree=None)
    assert planned.messages[1].cache_prefix and planned.cache_key
    assert _keys(ws.root)[0] == planned.key()


def test_api_summary_is_public_sorted_and_signed() -> None:
    sources = {
        "pkg/z.py": "def zed() -> None: ...\n",
        "pkg/__init__.py": "__all__ = ['Bus']\nVERSION = '1'\n_hidden = 2\n",
        "pkg/bus.py": (
            "import os\n\n@dataclass\nclass Bus(Base, metaclass=M):\n"
            "    name: str\n"
            "    def __init__(self, url: str, *, timeout: float = 5.0) -> None: ...\n"
            "    async def publish(self, topic: str, **kw) -> int: ...\n"
            "    def _private(self): ...\n\ndef _helper(): ...\n"),
        "pkg/broken.py": "def (:\n",
        "README.md": "# not python\n",
    }
    assert api_summary(sources) == (
        "pkg  (pkg/__init__.py)\n  __all__ = ...\n  VERSION = ...\n"
        "pkg.broken  (pkg/broken.py)\n  (does not parse: line 1: invalid syntax)\n"
        "pkg.bus  (pkg/bus.py)\n  @dataclass\n  class Bus(Base, metaclass=M)\n    name: str\n"
        "    def __init__(self, url: str, *, timeout: float=5.0) -> None\n"
        "    async def publish(self, topic: str, **kw) -> int\n"
        "pkg.z  (pkg/z.py)\n  def zed() -> None\n")


# (case, cut-off text, continuation, stitched)
SEAMS = [
    ("clean cut", "a = 1\nb = ", "2\n", "a = 1\nb = 2\n"),
    ("repeats the unfinished line", "a = 1\nb = ", "b = 2\n", "a = 1\nb = 2\n"),
    ("repeats whole lines", "first_line = 1\nsecond_line = 2\nthi",
     "second_line = 2\nthird = 3\n", "first_line = 1\nsecond_line = 2\nthird = 3\n"),
    ("short repeated line kept", "x = [\n    1,\n", "    1,\n]\n", "x = [\n    1,\n    1,\n]\n"),
    ("whitespace seam kept", "a = 1\n\n", "\nb = 2\n", "a = 1\n\n\nb = 2\n"),
    ("continuation wrapped in a fence", "a = 1\nb = ", "```python\nb = 2\n```\n",
     "a = 1\nb = 2\n"),
    ("continuation with an unclosed fence", "a = 1\nb = ", "```\nb = 2\n",
     "a = 1\nb = 2\n"),
    ("backticks inside the code kept", "s = ", "'```'\n", "s = '```'\n"),
]


@pytest.mark.parametrize("case,text,cont,expected", SEAMS, ids=[s[0] for s in SEAMS])
def test_stitch(case: str, text: str, cont: str, expected: str) -> None:
    assert stitch(text, cont) == expected
