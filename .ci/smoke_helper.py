"""The model side of .ci/smoke.sh, run with the smoke venv's python (genops from the wheel).

    smoke_helper.py answer WORKSPACE          answer every waiting manual request (as a person would)
    smoke_helper.py emulator WORKSPACE FILE   serve the Anthropic wire format (genops.testing's
                                              emulator) with a scripted model; FILE gets its URL

The scripted model writes a `hello` package for the scaffold's requirements (REQ-GREET-1/2) and,
once specs/requirements.md has REQ-GREET-3, a `shout` function too; it answers the patch
instruction $SMOKE_PATCH (PATCH_INSTRUCTION) with one edit block.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
from pathlib import Path
from typing import Any

PATCH_INSTRUCTION = os.environ.get("SMOKE_PATCH", "add a comment saying why an empty name is refused")

PYPROJECT = """\
[project]
name = "hello"
version = "0.1.0"
dependencies = []
"""

GREET = '''\
"""Greetings: REQ-GREET-1, REQ-GREET-2."""


def greet(name: str) -> str:
    """REQ-GREET-1: say hello; REQ-GREET-2: a name is required."""
    if not name:
        raise ValueError("a name is required")
    return f"Hello, {name}!"
'''

SHOUT = '''

def shout(name: str) -> str:
    """REQ-GREET-3: the greeting in capitals."""
    return greet(name).upper()
'''

TESTS = '''\
"""REQ-GREET-1, REQ-GREET-2{more}."""
import pytest

from hello import greet{shout_import}


def test_greet():
    assert greet("Ada") == "Hello, Ada!"


def test_empty_name():
    with pytest.raises(ValueError):
        greet("")
'''

SHOUT_TEST = '''

def test_shout():
    assert shout("Ada") == "HELLO, ADA!"
'''

BLUEPRINT = {"groups": [
    {"name": "core", "description": "the hello package", "files": ["hello/__init__.py",
                                                                    "pyproject.toml"],
     "requirements": ["REQ-GREET-1", "REQ-GREET-2"], "depends_on": []},
    {"name": "tests", "description": "the test suite", "files": ["tests/test_greet.py"],
     "requirements": ["REQ-GREET-1", "REQ-GREET-2"], "depends_on": ["core"]},
]}

EDIT = """<edit path="hello/__init__.py">
<<<<<<< SEARCH
    if not name:
=======
    # an empty name is refused: a greeting needs someone to greet (REQ-GREET-2)
    if not name:
>>>>>>> REPLACE
</edit>
"""


def requirement_ids(workspace: Path) -> list[str]:
    text = (workspace / "specs" / "requirements.md").read_text(encoding="utf-8")
    return re.findall(r"\*\*(REQ-[A-Z]+-\d+)\*\*", text)


def tree(workspace: Path) -> dict[str, str]:
    shout = "REQ-GREET-3" in requirement_ids(workspace)
    return {"hello/__init__.py": GREET + (SHOUT if shout else ""),
            "pyproject.toml": PYPROJECT,
            "tests/test_greet.py": TESTS.format(more=", REQ-GREET-3" if shout else "",
                                                shout_import=", shout" if shout else "")
            + (SHOUT_TEST if shout else "")}


def files_answer(files: dict[str, str]) -> str:
    return "".join(f'<file path="{path}">\n{text}</file>\n' for path, text in files.items())


def group_files(workspace: Path, name: str) -> str:
    paths = next(g["files"] for g in BLUEPRINT["groups"] if g["name"] == name)
    files = tree(workspace)
    return files_answer({p: files[p] for p in paths})


def answer_for(workspace: Path, ask: str) -> str | None:
    """The scripted model's answer to the request whose last message is `ask`."""
    if PATCH_INSTRUCTION in ask:
        return EDIT
    if ask.lstrip().startswith("Place new requirements"):
        ids = requirement_ids(workspace)
        return json.dumps({"groups": [{**g, "requirements": ids} for g in BLUEPRINT["groups"]]})
    if "Plan the complete source tree" in ask:
        return json.dumps(BLUEPRINT)
    found = re.search(r"Write the files of group `([\w-]+)`", ask)
    return group_files(workspace, found.group(1)) if found else None


def answer(workspace: Path) -> None:
    """Write a response file for every request file that has none (`genops resume` takes them)."""
    written = 0
    for request in sorted(workspace.glob(".genops/runs/*/requests/*.md")):
        response = request.parent.parent / "responses" / request.name
        if response.exists():
            continue
        label = re.sub(r"^\d+-", "", request.stem)
        if label == "blueprint":
            text = json.dumps(BLUEPRINT)
        elif any(g["name"] == label for g in BLUEPRINT["groups"]):
            text = group_files(workspace, label)
        else:
            raise SystemExit(f"smoke: no scripted answer for request {request}")
        response.parent.mkdir(parents=True, exist_ok=True)
        response.write_text(text, encoding="utf-8")
        written += 1
    print(f"answered {written} request(s)")


def emulator(workspace: Path, url_file: Path) -> None:
    from genops.testing.emulator import Emulator, Fault, Recorded, Reply

    def respond(request: Recorded) -> Reply | Fault:
        last: Any = request.body["messages"][-1]["content"]
        ask = last if isinstance(last, str) else "".join(b.get("text", "") for b in last)
        text = answer_for(workspace, ask)
        if text is None:
            return Fault(kind="bad_request", message="the smoke's scripted model has no answer")
        return Reply(text=text)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with Emulator() as emu:
        emu.responder(respond, "anthropic")
        url_file.write_text(emu.base_url("anthropic"), encoding="utf-8")
        stop.wait()


if __name__ == "__main__":
    command, root = sys.argv[1], Path(sys.argv[2])
    if command == "answer":
        answer(root)
    elif command == "emulator":
        emulator(root, Path(sys.argv[3]))
    else:
        raise SystemExit(f"usage: {sys.argv[0]} answer|emulator WORKSPACE [URL_FILE]")
