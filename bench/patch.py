"""Benchmark: what a one-function fix costs as a patch, against every other way to make it with genops.

All use the real rendered requests of this repository's workspace and the token estimate the
budget reserves with, priced at the senior rung's pinned prices in genops.toml:

- full regeneration: `synthesize` exactly as the last synthesized release's run did (blueprint,
  then every group; the parent's tree as its previous tree; the releases after it are patches),
  from that release's committed inputs, each request rendered by genops and answered from the
  committed archive, so input and output are the real ones;
- selective regeneration of the one group that owns the file (what `genops regenerate` sends when
  only that group is selected): `synthesize` with a selection of that group over generated/, its
  request rendered by genops and answered with the synthesized release's archived answer for the
  group;
- patch: `run_patch` on generated/ for a one-function fix of Fiedler, the real context selection
  and patch request, answered by a scripted edit block (one line of one method).

Each is priced two ways: without prompt caching, and with it (a shared prefix already sent in the
same run is a cache read; its first sending is a cache write, at the cache-write price). Prints the
tokens and cost of each and every ratio: the patch against the full regeneration, the cached full
regeneration and the selective regeneration of the same group. Run by hand:
`python bench/patch.py`. Nothing is sent anywhere and nothing is written outside a temp directory.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from genops.ledger.archive import Archive  # noqa: E402
from genops.ledger.pricing import estimate_request_tokens, estimate_tokens, price_for  # noqa: E402
from genops.patch.engine import PatchJob, run_patch  # noqa: E402
from genops.release.drift_patch import read_tree_text  # noqa: E402
from genops.store import gitops  # noqa: E402
from genops.release.replay import replay_rungs  # noqa: E402
from genops.store.releases import current_release, load_manifest, release_ids  # noqa: E402
from genops.release.replay import recorded_selection  # noqa: E402
from genops.calls import CompletionRequest, CompletionResponse, TokenCallback, Usage  # noqa: E402
from genops.synthesis.engine import synthesize  # noqa: E402
from genops.synthesis.selective import Selection  # noqa: E402
from genops.workspace import load_workspace  # noqa: E402

INSTRUCTION = ("Fiedler._check_budget refuses a MAD whose spending equals its budget exactly; it "
               "must refuse only once the spending is over the budget.")
PATCHED = "mad/fiedler/__init__.py"
S, D, R = "<<<<<<< SEARCH", "=======", ">>>>>>> REPLACE"
ANSWER = (f'<edit path="mad/fiedler/__init__.py">\n{S}\n'
          '        if budget is not None and self.usage_of(mad)["cost_usd"] >= budget:\n'
          f'{D}\n'
          '        if budget is not None and self.usage_of(mad)["cost_usd"] > budget:\n'
          f'{R}\n</edit>\n')


@dataclass
class Tally:
    """Estimated tokens of every request and answer, and its shared prefix (tokens and identity)."""

    calls: list[tuple[str, int, int, int, str]] = field(default_factory=list)  # label, in, out, prefix, its text

    def add(self, label: str, request: CompletionRequest, text: str) -> None:
        shared = [m.content for m in request.messages[:2] if m.cache_prefix or m.role == "system"]
        prefix = sum(estimate_tokens(content) for content in shared)
        self.calls.append((label, estimate_request_tokens(request), estimate_tokens(text), prefix,
                           "\0".join(shared)))

    def cost(self, price: Any, *, cached: bool) -> float:
        """The run's cost; `cached`: a prefix already sent is read from the cache, its first sending written."""
        total, seen = 0.0, set()
        for _label, tokens_in, tokens_out, prefix, text in self.calls:
            reads = writes = 0
            if cached and prefix:
                reads, writes = (prefix, 0) if text in seen else (0, prefix)
                seen.add(text)
            total += ((tokens_in - reads - writes) * price.input + reads * price.cache_read
                      + writes * price.cache_write + tokens_out * price.output) / 1e6
        return total

    @property
    def tokens(self) -> tuple[int, int]:
        return sum(c[1] for c in self.calls), sum(c[2] for c in self.calls)


@dataclass
class _Result:
    response: CompletionResponse
    key: str
    cost_usd: float = 0.0
    latency_s: float = 0.0
    from_archive: bool = True


class CountingClient:
    """Answers each request from a function and tallies its estimated tokens; sends nothing."""

    def __init__(self, answer: Any, tally: Tally) -> None:
        self.answer = answer
        self.tally = tally

    def call(self, rung: str, request: CompletionRequest, *, on_text: TokenCallback | None = None,
             label: str | None = None) -> _Result:
        text = self.answer(request)
        self.tally.add(label or "", request, text)
        usage = Usage(input_tokens=estimate_request_tokens(request), output_tokens=estimate_tokens(text))
        return _Result(CompletionResponse(text=text, stop="complete", usage=usage, model=request.model,
                                          raw_stop_reason="bench"), request.key())


def last_synthesized(root: Path) -> str:
    """The newest release that was synthesized (it sent a blueprint request), not patched."""
    for release in reversed(release_ids(root)):
        if any(call["label"] == "blueprint" for call in load_manifest(root, release)["calls"]):
            return release
    raise SystemExit("no synthesized release yet: run from a clone of this repository")


def regeneration(root: Path, scratch: Path) -> tuple[str, Tally]:
    """The last synthesized release's synthesis, from its own commit's inputs (and its parent's tree,
    as the run saw it), answered from the archive: the same requests the release's run sent."""
    release = last_synthesized(root)
    manifest = load_manifest(root, release)
    repo = gitops.open_repo(root)
    source = gitops.export_tree(repo, gitops.release_ref(repo, release), scratch / release)
    output = manifest["output"]["dir"]
    shutil.rmtree(source / output, ignore_errors=True)  # the answer never leaks into the rebuild
    ws = load_workspace(source, check_model_pins=False)  # accepted when the release was made
    previous = None
    if manifest.get("parent"):
        parent = gitops.export_tree(repo, gitops.release_ref(repo, manifest["parent"]),
                                    scratch / "parent", output) / output
        previous = parent if parent.is_dir() else None
    archive = Archive.for_workspace(source)

    def archived(request: CompletionRequest) -> str:
        response = archive.get(request.key())
        if response is None:
            raise SystemExit(f"a regeneration request is not in the archive: the inputs differ "
                             f"from release {release} (run from a clean checkout)")
        return response.text

    tally = Tally()
    rungs = replay_rungs(ws, manifest)  # the provider each rung used (r0001, r0002: manual)
    synthesize(ws, client=CountingClient(archived, tally), rungs=rungs[:1],
               previous_tree=previous, run_dir=scratch / "regen", release=manifest.get("parent"),
               selection=recorded_selection(manifest))
    return release, tally


def selective(ws: Any, scratch: Path, release: str, synthesized: str, path: str) -> tuple[str, Tally]:
    """A selective regeneration of the one group owning `path` over generated/ (the current `release`), as
    `genops regenerate` sends it with only that group selected, answered with the `synthesized` release's
    archived answer for that group."""
    blueprint = load_manifest(REPO, release)["blueprint"]
    group = next(g["name"] for g in blueprint["groups"] if path in g["files"])
    archive = Archive.for_workspace(REPO)
    answers = {}
    for call in load_manifest(REPO, synthesized)["calls"]:
        response = archive.get(call["key"])
        if response is not None:
            answers[call["label"]] = response.text

    def answer(request: CompletionRequest) -> str:
        return answers[group]

    tally = Tally()
    selection = Selection(parent=release, blueprint=blueprint, seeds={group: [INSTRUCTION]})
    result = synthesize(ws, client=CountingClient(answer, tally), rungs=ws.config.rung_models()[:1],
                        previous_tree=ws.output_dir, run_dir=scratch / "selective", release=release,
                        strategy="multi", selection=selection)
    assert path in result.files and len(tally.calls) == 1, (sorted(result.files), tally.calls)
    return group, tally


def patch(ws: Any, scratch: Path, release: str) -> tuple[Tally, list[str]]:
    tally = Tally()
    job = PatchJob(ws=ws, client=CountingClient(lambda _request: ANSWER, tally),
                   rungs=ws.config.rung_models()[:1], base=read_tree_text(ws.output_dir),
                   base_root=ws.output_dir, instruction=INSTRUCTION, run_dir=scratch / "patch",
                   release=release)
    result = run_patch(job)
    assert list(result.changes[0]) == ["mad/fiedler/__init__.py"], result.changes
    return tally, [f"{c.path} ({c.reason}, {c.tokens} tokens)" for c in result.selection.chosen]


def main() -> None:
    ws = load_workspace(REPO)
    name, senior = ws.config.rung_models()[0]
    price = price_for(ws.config, senior.model)
    current = current_release(REPO)
    if current is None:
        raise SystemExit("no release yet: run from a clone of this repository")
    with tempfile.TemporaryDirectory(prefix="genops-bench-patch-") as scratch:
        release, regen = regeneration(REPO, Path(scratch))
        group, sel = selective(ws, Path(scratch), current, release, PATCHED)
        fix, chosen = patch(ws, Path(scratch), current)
    print(f"generated/ is release {current}; the last synthesized release is {release}")
    print(f"prices: {name} {senior.model} at ${price.input}/M input, ${price.output}/M output, "
          f"${price.cache_read}/M cache read, ${price.cache_write}/M cache write")
    rows = ((f"full regeneration of {release}", regen), (f"selective regeneration of group {group}", sel),
            ("one-function patch", fix))
    print(f"{'':42} {'requests':>8} {'input':>9} {'output':>8} {'no caching':>11} {'prefix cached':>14}")
    for label, tally in rows:
        tokens_in, tokens_out = tally.tokens
        print(f"{label:42} {len(tally.calls):8} {tokens_in:9,} {tokens_out:8,} "
              f"{'$' + format(tally.cost(price, cached=False), '.4f'):>11} "
              f"{'$' + format(tally.cost(price, cached=True), '.4f'):>14}")
    print("patch context:")
    for line in chosen:
        print(f"  {line}")
    print("the patch's cost as a share of each baseline (each priced the same way as the patch):")
    for label, tally in rows[:2]:
        ratios = [fix.cost(price, cached=c) / tally.cost(price, cached=c) for c in (False, True)]
        print(f"  vs {label:40} {ratios[0]:6.1%} without caching, {ratios[1]:6.1%} with the prefix cached")
    print("target: a patch at most 5% of the cached full regeneration")


if __name__ == "__main__":
    main()
