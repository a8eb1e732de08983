"""The reviewer summary (`diffs/<release>.md`): short by default, details folded.

Sections, most useful first: the header (cost with its list-price equivalent and who answered),
what to review first, breaking changes, requirement coverage, public API, behaviour changes with
their code, other semantic changes, gates, calls. Input is `genops.review.summary.Review` plus the
manifest; the output is plain markdown, byte-identical for the same release.
"""

from __future__ import annotations

from typing import Any

from genops.render.release import VERDICT_MARK, _model_line

REVIEW_FIRST = 8  # risk entries shown before the fold
FOLD_AFTER = 10  # longer tables fold into <details>
STATUS_MARK = {"passing": "✅ passing", "failing": "❌ failing", "skipped": "⏭️ skipped only",
               "referenced": "⚠️ mentioned, no test ran", "none": "❌ no test"}


def _usd(value: float | None) -> str:
    return "n/a" if value is None else f"${value:.4f}"


def _cell(text: Any) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def _fold(summary: str, body: list[str]) -> list[str]:
    return [f"<details><summary>{summary}</summary>", "", *body, "", "</details>", ""]


def cost_line(cost: dict[str, Any]) -> str:
    """What was spent, what the tokens cost at the pinned prices, and who answered."""
    t = cost["tokens"]
    tokens = f"{t['input']:,} in / {t['output']:,} out"
    if t.get("cache_read"):
        tokens += f" / {t['cache_read']:,} cache read"
    spent = f"{_usd(cost['spent_usd'])} spent of ${cost['budget_usd']:.2f} per-run budget"
    beside = cost.get("beside", [])
    if beside:
        synthesis = cost["spent_usd"] - sum(b["cost_usd"] for b in beside)
        spent += f" (synthesis {_usd(synthesis)}" + "".join(
            f", {b['what']} {_usd(b['cost_usd'])} over {b['calls']} calls" for b in beside) + ")"
    if cost["answered"]:
        spent += f" ({'; '.join(cost['answered'])})"
    list_price = f"{_usd(cost['list_usd'])} at the pinned prices for {tokens} tokens"
    estimated = cost.get("estimated_token_calls", 0)
    counted = (f" · tokens of {estimated} calls estimated by genops (the server reported no usage)"
               if estimated else "")
    return (f"{spent} · {list_price} · {cost['calls']} calls "
            f"({cost['archive_hits']} from the archive){counted}")


def _header(manifest: dict[str, Any], review: Any) -> list[str]:
    touches, output, tests = manifest.get("touches", {}), manifest["output"], review.tests
    gates = " · ".join(f"{VERDICT_MARK.get(g['verdict'], g['verdict'])} {g['gate']}"
                       for g in manifest["gates"]) or "none"
    models = "; ".join(_model_line(m) for m in manifest["models"]) or "none (no model call)"
    test_cell = (f"{tests['passed']} passed · {tests['failed']} failed · {tests['skipped']} skipped"
                 if tests["total"] else "no JUnit report")
    return [
        f"# Release {manifest['release']} ({manifest['kind']})", "",
        f"> {manifest['reason'] or '(no reason given)'}", "", "| | |", "|---|---|",
        f"| parent | {manifest.get('parent') or '(first release)'} |",
        (f"| tree | `{output['tree_sha256'][:16]}` · {output['file_count']} files "
         f"(+{touches.get('files_added', 0)} −{touches.get('files_removed', 0)} "
         f"~{touches.get('files_changed', 0)}) |"),
        f"| cost | {cost_line(review.cost)} |",
        f"| models | {models} |", f"| tests | {test_cell} |", f"| gates | {gates} |",
        f"| genops | {manifest['genops_version']} · {manifest['created']} · run {manifest['run']} |",
        "",
    ]


def _risk_line(n: int, entry: dict[str, Any]) -> str:
    size = f"{entry['lines_changed']} lines" if entry["lines_changed"] else "declared dependencies"
    why = "; ".join(entry["reasons"]) or "changed"
    return f"{n}. `{entry['file']}` (risk {entry['score']}, {size}): {why}"


def review_first(risks: list[dict[str, Any]]) -> list[str]:
    """The ranked list of what to read first; the tail folds."""
    lines = ["## Review first", ""]
    if not risks:
        return lines + ["Nothing changed outside tests.", ""]
    lines += [_risk_line(i, e) for i, e in enumerate(risks[:REVIEW_FIRST], start=1)]
    lines.append("")
    rest = risks[REVIEW_FIRST:]
    if rest:
        lines += _fold(f"{len(rest)} more changed module(s)",
                       [_risk_line(i, e) for i, e in enumerate(rest, start=REVIEW_FIRST + 1)])
    return lines


def _breaking(manifest: dict[str, Any], diff_changes: list[dict[str, Any]]) -> list[str]:
    breaking = [c for c in diff_changes if c.get("breaking")]
    lines = ["## Breaking changes", ""]
    for c in breaking:
        loc = c.get("location") or {}
        where = f" ({loc.get('file')}:{loc.get('line')})" if loc.get("file") else ""
        lines.append(f"- `{c.get('path')}`: {c.get('detail') or c.get('kind')}{where}")
    return lines + (["None."] if not breaking else []) + [""]


def review_panel(manifest: dict[str, Any]) -> list[str]:
    """The panel's verdict and every reviewer finding, as the gate recorded them."""
    gate = next((g for g in manifest["gates"] if g["gate"] == "review_panel"), None)
    if gate is None:
        return []
    lines = ["## Review panel", "", f"{VERDICT_MARK.get(gate['verdict'], '')} {gate['summary']}", ""]
    for f in gate.get("findings", []):
        where = f"{f['file']}:{f['line']}" if f.get("file") and f.get("line") else f.get("file")
        lines.append(f"- {'`' + where + '`: ' if where else ''}{f['message']}")
    return lines + ([""] if gate.get("findings") else [])


def _req_row(c: dict[str, Any]) -> str:
    groups = c["implemented_by"]
    impl = "n/a (no blueprint)" if groups is None else ", ".join(groups) or "—"
    return (f"| {c['id']} | {STATUS_MARK[c['status']]} | {c['passed']} / {c['skipped']} / "
            f"{c['failed']} | {impl} |")


def requirements(req: dict[str, Any], adrs: list[str]) -> list[str]:
    """The requirement delta since the parent with each ID's coverage; gaps outside the fold."""
    lines = ["## Requirements", ""]
    if not req["known"]:
        return lines + ["No traceability evidence (specs define no requirement IDs).", ""]
    since = "first release: every requirement is new" if req["first"] else "since the parent"
    lines.append(f"- Delta ({since}): {len(req['added'])} added, {len(req['changed'])} changed, "
                 f"{len(req['removed'])} removed"
                 + (f" ({', '.join(req['removed'])})" if req["removed"] else ""))
    totals = " · ".join(f"{req['totals'][s]} {mark}" for s, mark in STATUS_MARK.items()
                        if req["totals"].get(s))
    lines.append(f"- Coverage of all {len(req['all'])}: {totals}")
    lines.append("- ADRs touched: " + (", ".join(adrs) or "none"))
    gaps = [c for c in req["all"] if c["status"] != "passing"]
    head = ["| requirement | coverage | tests passed / skipped / failed | implemented by |",
            "|---|---|---|---|"]
    if gaps:
        lines += ["", "Not covered by a passing test:", "", *head, *(_req_row(c) for c in gaps)]
    lines.append("")
    delta = req["added"] + req["changed"]
    if delta:
        lines += _fold(f"coverage of the {len(delta)} added or changed requirement(s)",
                       head + [_req_row(c) for c in delta])
    return lines


def public_api(api: dict[str, Any]) -> list[str]:
    """API changes as a table; new modules as one line each with their signatures folded."""
    lines = ["## Public API", ""]
    changes, modules = api["changes"], api["new_modules"]
    if not changes and not modules:
        return lines + ["No change to the public API.", ""]
    if changes:
        lines += ["| change | path | detail | location |", "|---|---|---|---|"]
        for c in changes:
            loc = c.get("location") or {}
            subject = str(c.get("path")) + (f"({c['parameter']})" if c.get("parameter") else "")
            lines.append(f"| {c.get('kind')}{' (breaking)' if c.get('breaking') else ''} | "
                         f"`{_cell(subject)}` | {_cell(c.get('detail'))} | "
                         f"{_cell(loc.get('file'))}:{_cell(loc.get('line'))} |")
        lines.append("")
    if modules:
        counts = {m: max(0, len(block.splitlines()) - 1) for m, block in modules.items()}
        lines.append(f"New modules ({len(modules)}): " + ", ".join(
            f"`{m}` ({counts[m]})" for m in modules))
        lines.append("")
        body = ["```python", *(block for block in modules.values()), "```"]
        lines += _fold("signatures of the new modules", body)
    return lines


def bodies(excerpts: list[dict[str, Any]], total: int) -> list[str]:
    """Each changed body with its code, folded."""
    if not total:
        return []
    lines = [f"## Behaviour changes ({total})", ""]
    for e in excerpts:
        where = f"{e['file']}:{e['line']}" if e.get("line") else e["file"]
        body = ["```diff", *e["diff"], *(["… (cut)"] if e["truncated"] else []), "```"]
        lines += _fold(f"<code>{e['path']}</code> ({where})", body)
    if total > len(excerpts):
        lines += [f"{total - len(excerpts)} more body change(s): see the semantic diff JSON.", ""]
    return lines


def other_changes(changes: list[dict[str, Any]], diff: dict[str, Any]) -> list[str]:
    """Architecture and dependency changes; added modules are only counted (see Public API)."""
    added = sum(1 for c in diff.get("changes", []) if c.get("kind") == "module_added")
    lines = ["## Architecture and dependencies", ""]
    if added:
        lines += [f"{added} module(s) added: the module graph is in ARCHITECTURE.md.", ""]
    if changes:
        rows = ["| change | path | detail | new |", "|---|---|---|---|"]
        rows += [f"| {c.get('kind')} | `{_cell(c.get('path'))}"
                 f"{' -> ' + _cell(c.get('target')) if c.get('target') else ''}` | "
                 f"{_cell(c.get('detail'))} | {_cell(c.get('new'))} |" for c in changes]
        lines += _fold(f"{len(changes)} change(s)", rows) if len(changes) > FOLD_AFTER \
            else rows + [""]
    return lines if len(lines) > 2 else []


def _gates(manifest: dict[str, Any]) -> list[str]:
    lines = ["## Gates", "", "| gate | verdict | summary | evidence |", "|---|---|---|---|"]
    for gate in manifest["gates"]:
        evidence = ", ".join(f"`{e}`" for e in gate.get("evidence", [])) or "—"
        lines.append(f"| {gate['gate']} | {gate['verdict']} | {_cell(gate['summary'])} | {evidence} |")
    return lines + [""]


def _calls(manifest: dict[str, Any]) -> list[str]:
    if not manifest["calls"]:
        return []
    rows = ["| unit | provider | model | tokens in / out / cache read | cost | latency | archive |",
            "|---|---|---|---|---|---|---|"]
    for call in manifest["calls"]:
        t = call["tokens"]
        mark = "≈" if call.get("tokens_estimated") else ""  # genops counted: the server did not
        rows.append(f"| {call['label']} | {call['provider']} | {call['model']} | {mark}{t['input']} / "
                    f"{mark}{t['output']} / {t['cache_read']} | {_usd(call['cost_usd'])} | "
                    f"{call['latency_s']:.1f}s | {'hit' if call['from_archive'] else 'paid'} |")
    return _fold(f"{len(manifest['calls'])} model call(s)", rows)


def narrative(manifest: dict[str, Any]) -> list[str]:
    """The model's narrative (`[review] summary`), its headings one level down, with the names it
    gave that the change does not contain; nothing when the release has none."""
    entry = manifest.get("narrative")
    if not entry:
        return []
    if entry.get("error"):
        return [f"> No narrative: the answer of {entry['provider']} {entry['model']} was "
                f"{entry['error']}", ""]
    lines = [f"## Narrative ({entry['provider']} {entry['model']}; the sections below are the "
             "record)", ""]
    lines += ["#" + line if line.startswith("## ") else line
              for line in entry["text"].rstrip().splitlines()]
    if entry.get("unverified"):
        lines += ["", "> Not found in this change, check before relying on them: "
                  + ", ".join(f"`{name}`" for name in entry["unverified"])]
    return lines + [""]


def reviewer_summary(manifest: dict[str, Any], diff: dict[str, Any], review: Any) -> str:
    """The markdown a reviewer reads instead of the textual diff (`diffs/<release>.md`)."""
    changes = diff.get("changes", [])
    adrs = manifest.get("touches", {}).get("adrs", [])
    total_bodies = sum(1 for c in changes if c.get("kind") == "body_changed")
    lines = _header(manifest, review) + narrative(manifest)
    lines += review_first(review.risks) + _breaking(manifest, changes)
    lines += review_panel(manifest)
    lines += requirements(review.requirements, adrs) + public_api(review.api)
    lines += bodies(review.bodies, total_bodies) + other_changes(review.other_changes, diff)
    lines += _gates(manifest) + _calls(manifest)
    return "\n".join(lines).rstrip() + "\n"
