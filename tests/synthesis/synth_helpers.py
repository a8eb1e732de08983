"""A small real workspace on disk and a scripted model for the synthesis tests."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable

from genops.calls import CompletionRequest, CompletionResponse, Provider
from genops.providers.client import ModelClient
from genops.protocol.files import format_protocol
from genops.workspace import Workspace, load_workspace

TOML = """\
[project]
name = "demo"
package = "demo"

[models.senior]
provider = "{senior_provider}"
model = "senior-1"
max_output_tokens = {max_output}

[models.junior]
provider = "fake"
model = "junior-1"
max_output_tokens = {max_output}

[ladder]
rungs = ["senior", "junior"]
on_failure = "{on_failure}"
on_budget = "{on_budget}"

[synthesis]
strategy = "{strategy}"
concurrency = 4
max_continuations = 3
max_repairs = 1

[retry]
max_attempts = 2
base_delay_s = 0.0
max_delay_s = 0.0

[budget]
per_run_usd = {per_run}
per_month_usd = 1000.0

[prices."senior-1"]
input = {senior_input}
output = {senior_output}

[prices."junior-1"]
input = 0.1
output = 0.5
"""

REQUIREMENTS = """\
# Requirements

- REQ-CORE-1: ids are unique.
- REQ-BUS-1: modules talk through a bus.
- REQ-STORE-1: state is persisted.
- REQ-APP-1: one entry point runs the system.
"""

ADR = """\
id: ADR-0001
title: Standard library only
status: accepted
decision: Use only the Python standard library.
rules:
  - kind: max_file_lines
    max: 600
"""


def write_workspace(root: Path, *, strategy: str = "multi", senior_provider: str = "fake",
                    max_output: int = 4000, per_run: float = 100.0, senior_input: float = 1.0,
                    senior_output: float = 5.0, on_failure: str = "fallback",
                    on_budget: str = "stop") -> Workspace:
    """Write genops.toml, specs and one ADR under `root` and load them."""
    (root / "specs").mkdir(parents=True)
    (root / "adr").mkdir()
    (root / "genops.toml").write_text(TOML.format(
        strategy=strategy, senior_provider=senior_provider, max_output=max_output,
        per_run=per_run, senior_input=senior_input, senior_output=senior_output,
        on_failure=on_failure, on_budget=on_budget), encoding="utf-8")
    (root / "specs" / "requirements.md").write_text(REQUIREMENTS, encoding="utf-8")
    (root / "specs" / "principles.md").write_text("# Principles\n\nSmall modules.\n",
                                                  encoding="utf-8")
    (root / "adr" / "ADR-0001-stdlib.yaml").write_text(ADR, encoding="utf-8")
    return load_workspace(root)


def make_client(ws: Workspace, providers: dict[str, Provider], run_id: str = "run-1"
                ) -> ModelClient:
    return ModelClient(ws.root, ws.config, run_id=run_id, providers=providers,
                       sleep=lambda _s: None)


# The demo system: group -> (files, depends_on, requirements).
GROUPS: dict[str, tuple[dict[str, str], list[str], list[str]]] = {
    "core": ({"demo/__init__.py": '"""Demo."""\n',
              "demo/core.py": "def make_id(prefix: str, n: int = 0) -> str:\n"
                              "    return f'{prefix}-{n}'\n"}, [], ["REQ-CORE-1"]),
    "docs": ({"README.md": "# demo\n"}, [], []),
    "config": ({"demo/config.py": "class Config:\n    def __init__(self, path: str) -> None:\n"
                                  "        self.path = path\n"}, ["core"], []),
    "bus": ({"demo/bus.py": "class Bus:\n    def publish(self, topic: str, payload: dict) -> None:"
                            "\n        pass\n"}, ["core"], ["REQ-BUS-1"]),
    "store": ({"demo/store.py": "class Store:\n    def save(self, key: str, value: str) -> None:\n"
                                "        pass\n"}, ["core", "config"], ["REQ-STORE-1"]),
    "app": ({"demo/app.py": "from demo.bus import Bus\n\n\ndef run(config_path: str) -> int:\n"
                            "    return 0\n"}, ["bus", "store"], ["REQ-APP-1"]),
    "tests": ({"tests/test_app.py": "from demo.app import run\n\n\ndef test_run():\n"
                                    "    assert run('x') == 0\n"}, ["app"], []),
}

BLUEPRINT = {"groups": [
    {"name": name, "description": f"the {name} group", "files": list(files),
     "requirements": reqs, "depends_on": deps}
    for name, (files, deps, reqs) in GROUPS.items()]}

ALL_FILES = {path: text for files, _, _ in GROUPS.values() for path, text in files.items()}

_GROUP_TASK = re.compile(r"Write the files of group `([^`]+)`")


def last_user(request: CompletionRequest) -> str:
    return next(m.content for m in reversed(request.messages) if m.role == "user")


def kind_of(request: CompletionRequest) -> str:
    """What a synthesis request asks for: blueprint, group:<name>, single, continue, repair."""
    last = request.messages[-1]
    if last.role == "assistant":
        return "prefill"
    text = last.content
    if "was cut off at the output limit" in text:
        return "continue"
    if "could not be used" in text:
        return "repair"
    if "Plan the complete source tree" in text:
        return "blueprint"
    match = _GROUP_TASK.search(text)
    if match:
        return f"group:{match.group(1)}"
    return "single"


Responder = Callable[[CompletionRequest], "str | CompletionResponse"]


def demo_responder(*, fence_blueprint: bool = True) -> Responder:
    """Answers the demo blueprint and every demo group with their scripted files."""

    def respond(request: CompletionRequest) -> str:
        kind = kind_of(request)
        if kind == "blueprint":
            body = json.dumps(BLUEPRINT, indent=1)
            return f"The plan:\n```json\n{body}\n```\n" if fence_blueprint else body
        if kind.startswith("group:"):
            return "Here are the files.\n" + format_protocol(GROUPS[kind[6:]][0])
        if kind == "single":
            return format_protocol(ALL_FILES)
        raise AssertionError(f"unexpected request kind {kind}")

    return respond
