"""Benchmark: what a one-function fix costs as a patch, against a full regeneration of the same tree.

Both sides use the real rendered requests of this repository's workspace and the token estimate
the budget reserves with, priced at the senior rung's pinned prices in genops.toml:

- regeneration: `synthesize` exactly as the current release's run did (blueprint, then every
  group; the parent's tree as its previous tree), from that release's committed inputs, each
  request rendered by genops and answered from the committed archive, so input and output are
  the real ones; shown without and with the shared prefix
  billed as a cache read after the first call;
- patch: `run_patch` on generated/ for a one-function fix of Fiedler, the real context selection
  and patch request, answered by a scripted edit block (one line of one method).

Prints the tokens and cost of each and the ratio; the target is a patch at most 5% of the
regeneration (against the cheaper, cached regeneration). Run by hand: `python bench/patch.py`.
Nothing is sent anywhere and nothing is written outside a temp directory.
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
from genops.store.releases import current_release, load_manifest  # noqa: E402
from genops.release.replay import recorded_selection  # noqa: E402
from genops.calls import CompletionRequest, CompletionResponse, TokenCallback, Usage  # noqa: E402
from genops.synthesis.engine import synthesize  # noqa: E402
from genops.workspace import load_workspace  # noqa: E402

INSTRUCTION = ("Fiedler._check_budget refuses a MAD whose spending equals its budget exactly; it "
               "must refuse only once the spending is over the budget.")
S, D, R = "<<<<<<< SEARCH", "=======", ">>>>>>> REPLACE"
ANSWER = (f'<edit path="mad/fiedler/__init__.py">\n{S}\n'
          '        if budget is not None and self.usage_of(mad)["cost_usd"] >= budget:\n'
          f'{D}\n'
          '        if budget is not None and self.usage_of(mad)["cost_usd"] > budget:\n'
          f'{R}\n</edit>\n')


@dataclass
class Tally:
    """Estimated tokens of every request and answer, and the shared-prefix tokens."""

    calls: list[tuple[str, int, int, int]] = field(default_factory=list)  # label, in, out, prefix

    def add(self, label: str, request: CompletionRequest, text: str) -> None:
        prefix = sum(estimate_tokens(m.content) for m in request.messages[:2]
                     if m.cache_prefix or m.role == "system")
        self.calls.append((label, estimate_request_tokens(request), estimate_tokens(text), prefix))

    def cost(self, price: Any, *, cached: bool) -> float:
        total = 0.0
        for i, (_label, tokens_in, tokens_out, prefix) in enumerate(self.calls):
            reads = prefix if cached and i > 0 else 0
            total += ((tokens_in - reads) * price.input + reads * price.cache_read
                      + tokens_out * price.output) / 1e6
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


def regeneration(root: Path, scratch: Path) -> tuple[str, Tally]:
    """The current release's synthesis, from its own commit's inputs (and its parent's tree, as
    the run saw it), answered from the archive: the same requests the release's run sent."""
    release = current_release(root)
    if release is None:
        raise SystemExit("no release yet: run from a clone of this repository")
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
    with tempfile.TemporaryDirectory(prefix="genops-bench-patch-") as scratch:
        release, regen = regeneration(REPO, Path(scratch))
        fix, chosen = patch(ws, Path(scratch), release)
    print(f"prices: {name} {senior.model} at ${price.input}/M input, ${price.output}/M output, "
          f"${price.cache_read}/M cache read")
    regen_in, regen_out = regen.tokens
    fix_in, fix_out = fix.tokens
    full, full_cached = regen.cost(price, cached=False), regen.cost(price, cached=True)
    cost = fix.cost(price, cached=False)
    print(f"full regeneration of {release}: {len(regen.calls)} requests, {regen_in:,} input + {regen_out:,} "
          f"output tokens: ${full:.4f} (${full_cached:.4f} with the shared prefix cached)")
    print(f"one-function patch: {len(fix.calls)} request, {fix_in:,} input + {fix_out:,} output "
          f"tokens: ${cost:.4f}; context:")
    for line in chosen:
        print(f"  {line}")
    print(f"ratio: {cost / full:.1%} of the regeneration, {cost / full_cached:.1%} of the cached "
          f"regeneration (target <= 5%)")


if __name__ == "__main__":
    main()
