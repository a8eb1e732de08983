"""Benchmark: one edited requirement, selective vs full regeneration, on this repo's MAD workspace.

The MAD workspace (genops.toml, specs/, adr/, prompts/, generated/, the release manifests and the
archive) is copied into a temp git repository, committed as the current release (r0002 today).
The wire emulator answers through the real Anthropic SDK with that release's archived answers (the
scripted replies, at their real sizes), paced
like a fast model shrunk tenfold (0.3 s to first token, 600 output tokens/s). One requirement's
text is edited (REQ-MARCO-3 by default); then, on two identical copies:

- `genops regenerate --full`   blueprint + every group
- `genops regenerate`          selective: only the groups implementing the edited requirement

Printed: the dry-run estimate, the requests each run sent, the cost at the pinned prices, the wall
time (synthesis, and with the gates) and the selective/full ratios. Target: cost <= 25%.
Run by hand: `python bench/selective.py [REQ-ID]` (about 3 minutes).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import git

from genops.ledger.archive import Archive
from genops.release import pipeline
from genops.testing.emulator import Emulator, Pacing, Recorded, Reply
from genops.store.releases import current_release, load_manifest
from genops.workspace import load_workspace

REPO = Path(__file__).resolve().parent.parent
COPY = ("genops.toml", "specs", "adr", "prompts", "generated", "generated.lock", "diffs",
        ".genops/releases", ".genops/archive", ".genops/keys")
CURRENT = current_release(REPO) or "r0001"  # found from the committed manifests, not a tag
GROUP_RE = re.compile(r"Write the files of group `([^`]+)`")
PACING = Pacing(ttft_s=0.3, tokens_per_s=600.0, chunk_chars=256)


def archived_answers(root: Path) -> dict[str, str]:
    """The current release's answer text per unit label (blueprint, group names), from its
    archive."""
    manifest = load_manifest(root, CURRENT)
    archive = Archive.for_workspace(root)
    answers = {}
    for call in manifest["calls"]:
        response = archive.get(call["key"])
        assert response is not None, f"archive lacks {call['label']}"
        answers[call["label"]] = response.text
    return answers


class Model:
    """Answers each unit with the current release's archived answer; records which were asked."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def __call__(self, req: Recorded) -> Reply:
        last = req.body["messages"][-1]["content"]
        text = last if isinstance(last, str) else "".join(b.get("text", "") for b in last)
        match = GROUP_RE.search(text)
        unit = match.group(1) if match else "blueprint"
        self.asked.append(unit)
        return Reply(text=self.answers[unit])


def make_copy(dest: Path, base_url: str, requirement: str) -> Path:
    """The MAD workspace with its current release in a fresh repo, pointed at the emulator, one
    edit."""
    for rel in COPY:
        src = REPO / rel
        if src.is_dir():
            shutil.copytree(src, dest / rel)
        elif src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    (dest / ".gitignore").write_text(".genops/ledger.db*\n.genops/runs/\n.genops/cache/\n"
                                     ".genops/trash/\n.genops/venvs/\n.genops/promote.*\n")
    repo = git.Repo.init(dest)
    env = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@example.invalid",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "b@example.invalid"}
    with repo.git.custom_environment(**env):
        repo.git.add("-A")
        repo.git.commit("-m", f"release {CURRENT}\n\nGenops-Release: {CURRENT}")
        toml = (dest / "genops.toml").read_text()
        toml = toml.replace("[models.senior]\n", f'[models.senior]\nbase_url = "{base_url}"\n', 1)
        (dest / "genops.toml").write_text(toml)
        spec = dest / "specs" / "requirements.md"
        text, count = re.subn(rf"(\*\*{requirement}\*\*[^\n]*)", r"\1 It is logged.",
                              spec.read_text(), count=1)
        assert count == 1, f"{requirement} is not defined in specs/requirements.md"
        spec.write_text(text)
        repo.git.add("-A")
        repo.git.commit("-m", f"edit {requirement}; point the senior model at the emulator")
    return dest


def run(root: Path, *, full: bool) -> dict[str, Any]:
    ws = load_workspace(root)
    started = time.perf_counter()
    outcome = pipeline.regenerate(ws, reason="bench", provider_override="anthropic", full=full)
    total = time.perf_counter() - started
    gates = sum(g.seconds for g in outcome.gates)
    return {"cost_usd": outcome.cost_usd, "calls": outcome.calls, "wall_s": total,
            "synthesis_s": total - gates, "selection": outcome.scope}


def main() -> None:
    # The emulator takes any key; the release commits need an identity.
    os.environ.setdefault("ANTHROPIC_API_KEY", "sk-ant-bench-emulator-only")
    for name, value in (("GIT_AUTHOR_NAME", "bench"), ("GIT_AUTHOR_EMAIL", "b@example.invalid"),
                        ("GIT_COMMITTER_NAME", "bench"), ("GIT_COMMITTER_EMAIL", "b@example.invalid")):
        os.environ.setdefault(name, value)
    requirement = sys.argv[1] if len(sys.argv) > 1 else "REQ-MARCO-3"
    answers = archived_answers(REPO)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="genops-bench-sel-") as tmp, \
            Emulator(pacing=PACING) as emu:
        for mode in ("full", "selective"):
            model = Model(answers)
            emu.responder(model, "anthropic")
            root = make_copy(Path(tmp) / mode, emu.base_url("anthropic"), requirement)
            if mode == "selective":
                plan = pipeline.regenerate(load_workspace(root), reason="bench", dry_run=True,
                                           provider_override="anthropic")
                print("dry run:", json.dumps(plan.scope))
            results[mode] = {**run(root, full=mode == "full"), "asked": list(model.asked)}
    full, sel = results["full"], results["selective"]
    for mode, r in results.items():
        print(f"{mode:9} requests {len(r['asked']):2} ({', '.join(sorted(set(r['asked'])))})  "
              f"cost ${r['cost_usd']:.4f}  synthesis {r['synthesis_s']:.1f}s  "
              f"with gates {r['wall_s']:.1f}s")
    ratio = sel["cost_usd"] / full["cost_usd"]
    print(f"{requirement} edited: selective costs {ratio:.1%} of a full regeneration "
          f"(target <= 25%); synthesis time {sel['synthesis_s'] / full['synthesis_s']:.1%}, "
          f"wall time with gates {sel['wall_s'] / full['wall_s']:.1%}")
    sys.exit(0 if ratio <= 0.25 else 1)


if __name__ == "__main__":
    main()
