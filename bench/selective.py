"""Benchmark: one edited requirement, selective vs full regeneration, on this repo's MAD workspace.

The MAD workspace (genops.toml, specs/, adr/, prompts/, generated/, the release manifests and the
archive) is copied into a temp git repository at its current release (its specs, ADRs, prompts,
tree, lock, diffs and manifests), committed as that release. The wire emulator answers through
the real Anthropic SDK with the answers that reproduce that release (its blueprint, and each
group's files of its tree, at their real sizes; patches changed the tree after the archived
answers, so the archive's own would not), paced
like a fast model shrunk tenfold (0.3 s to first token, 600 output tokens/s). One requirement's
text is edited (REQ-MARCO-3 by default); then, on two identical copies:

- `genops regenerate --full`   blueprint + every group
- `genops regenerate`          selective: only the groups implementing the edited requirement

Printed: the dry-run estimate, the requests each run sent, the cost each run booked at the pinned
prices (the emulator bills no prompt caching), the same runs priced with prompt caching of the
shared prefix (a prefix already sent in the run is a cache read, its first sending a cache write),
the wall time (synthesis, and with the gates), and the selective run against both baselines a
user could otherwise choose: a full regeneration without caching and one with the prefix cached.
Target: cost <= 25% of the cached full regeneration. Run by hand:
`python bench/selective.py [REQ-ID]` (about 3 minutes).
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

from genops.ledger.pricing import estimate_tokens, price_for
from genops.release import pipeline
from genops.store import gitops
from genops.testing.emulator import Emulator, Pacing, Recorded, Reply
from genops.store.releases import current_release, load_manifest, release_ids
from genops.workspace import load_workspace

REPO = Path(__file__).resolve().parent.parent
COPY = ("genops.toml", "specs", "adr", "prompts", "generated", "generated.lock", "diffs",
        ".genops/releases", ".genops/archive", ".genops/keys")
CURRENT = current_release(REPO) or "r0001"  # found from the committed manifests, not a tag


AT_RELEASE = ("specs", "adr", "prompts", "generated", "generated.lock", "diffs")  # from its commit
GROUP_RE = re.compile(r"Write the files of group `([^`]+)`")
PACING = Pacing(ttft_s=0.3, tokens_per_s=600.0, chunk_chars=256)


def current_answers(root: Path) -> dict[str, str]:
    """The answers that reproduce the current release: its blueprint (JSON, from its manifest)
    and, per group, the group's files of its tree in the file protocol, at their real sizes. (The
    archive holds the answers of the runs that made it, but patches changed the tree after them.)"""
    manifest = load_manifest(root, CURRENT)
    blueprint = manifest["blueprint"]
    fields = ("name", "description", "files", "requirements", "depends_on")
    answers = {"blueprint": "```json\n" + json.dumps(
        {"groups": [{k: g[k] for k in fields if k in g} for g in blueprint["groups"]]},
        indent=1) + "\n```\n"}
    for group in blueprint["groups"]:
        answers[group["name"]] = "".join(
            f'<file path="{rel}">\n{(root / "generated" / rel).read_text(encoding="utf-8")}</file>\n\n'
            for rel in group["files"])
    return answers


class Model:
    """Answers each unit with the synthesized release's archived answer; records which were asked and
    each request's tokens: (shared prefix text, its tokens, the other input tokens, output tokens)."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.asked: list[str] = []
        self.tokens: list[tuple[str, int, int, int]] = []

    def __call__(self, req: Recorded) -> Reply:
        last = req.body["messages"][-1]["content"]
        text = last if isinstance(last, str) else "".join(b.get("text", "") for b in last)
        match = GROUP_RE.search(text)
        unit = match.group(1) if match else "blueprint"
        self.asked.append(unit)
        prefix, rest = split_prefix(req.body)
        answer = self.answers[unit]
        self.tokens.append((prefix, estimate_tokens(prefix), estimate_tokens(rest), estimate_tokens(answer)))
        return Reply(text=answer)

    def cost(self, price: Any, *, cached: bool) -> float:
        """The run priced from its requests' tokens, with or without prompt caching of the shared prefix."""
        total, seen = 0.0, set()
        for text, prefix, rest, output in self.tokens:
            reads = writes = 0
            if cached and prefix:
                reads, writes = (prefix, 0) if text in seen else (0, prefix)
                seen.add(text)
            total += ((prefix - reads - writes + rest) * price.input + reads * price.cache_read
                      + writes * price.cache_write + output * price.output) / 1e6
        return total


def split_prefix(body: dict[str, Any]) -> tuple[str, str]:
    """A request's text up to and including the last block marked cache_control, and the text after it."""
    blocks = list(body.get("system") or [])
    for message in body.get("messages", []):
        content = message["content"]
        blocks.extend(content if isinstance(content, list) else [{"text": content}])
    cut = max((i for i, b in enumerate(blocks) if "cache_control" in b), default=-1)
    return ("".join(b.get("text", "") for b in blocks[:cut + 1]),
            "".join(b.get("text", "") for b in blocks[cut + 1:]))


def make_copy(dest: Path, base_url: str, requirement: str) -> Path:
    """The MAD workspace in a fresh repo at its last synthesized release (that release's tree, lock, diffs
    and manifests, so a full run answered with its answers passes the gates), pointed at the emulator,
    one edit."""
    release_tree = gitops.export_tree(gitops.open_repo(REPO), gitops.release_ref(gitops.open_repo(REPO),
                                      CURRENT, REPO), dest.parent / f"{dest.name}-{CURRENT}")
    for rel in COPY:
        src = release_tree / rel if rel in AT_RELEASE else REPO / rel
        if src.is_dir():
            shutil.copytree(src, dest / rel)
        elif src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    shutil.rmtree(release_tree)
    for later in release_ids(REPO)[release_ids(REPO).index(CURRENT) + 1:]:
        shutil.rmtree(dest / ".genops" / "releases" / later, ignore_errors=True)
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
    answers = current_answers(REPO)
    senior = load_workspace(REPO).config.rung_models()[0][1]
    price = price_for(load_workspace(REPO).config, senior.model)
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
            results[mode] = {**run(root, full=mode == "full"), "asked": list(model.asked),
                             "uncached": model.cost(price, cached=False), "cached": model.cost(price, cached=True)}
    full, sel = results["full"], results["selective"]
    print(f"workspace copied at the current release {CURRENT}; the emulator answers with its "
          "blueprint and its tree's files")
    print(f"prices: {senior.model} at ${price.input}/M input, ${price.output}/M output, ${price.cache_read}/M "
          f"cache read, ${price.cache_write}/M cache write")
    for mode, r in results.items():
        print(f"{mode:9} requests {len(r['asked']):2} ({', '.join(sorted(set(r['asked'])))})  "
              f"booked ${r['cost_usd']:.4f}  priced without caching ${r['uncached']:.4f}, with the prefix "
              f"cached ${r['cached']:.4f}  synthesis {r['synthesis_s']:.1f}s  with gates {r['wall_s']:.1f}s")
    booked = sel["cost_usd"] / full["cost_usd"]
    uncached = sel["uncached"] / full["uncached"]
    cached = sel["cached"] / full["cached"]
    print(f"{requirement} edited: selective against a full regeneration: {booked:.1%} of the booked cost, "
          f"{uncached:.1%} without caching, {cached:.1%} with the prefix cached (each priced the same way "
          f"on both sides; target <= 25% of the cached full run)")
    print(f"time: synthesis {sel['synthesis_s'] / full['synthesis_s']:.1%} of the full run's, "
          f"wall time with gates {sel['wall_s'] / full['wall_s']:.1%}")
    sys.exit(0 if cached <= 0.25 else 1)


if __name__ == "__main__":
    main()
