"""The reviewer summary (`diffs/<release>.md`): short by default, details folded.

Sections, most useful first: the header (cost with its list-price equivalent and who answered),
what to review first, breaking changes, the review panel's verdict, requirement coverage, public
API, behaviour changes with their code, other semantic changes, gates, calls. Then, only after
all of genops's own figures, what a model wrote: genops's check of the narrative's claims, the
narrative ("Model-written narrative (unverified)") and the reviewers' findings ("Model-written
review findings (unverified)"), each quoted as inert text (`genops.render.release.model_line`),
so nothing a model writes can pass for a section, a table or a figure of genops's.
Input is `genops.review.summary.Review` plus the manifest; the output is plain markdown,
byte-identical for the same release.
"""

from __future__ import annotations

import html
from typing import Any

from genops.protocol.narrative import HEADINGS
from genops.render.release import (VERDICT_MARK, _model_line, code_span, fenced, genops_line,
                                   model_block, model_line, model_name)

REVIEW_FIRST = 8  # risk entries shown before the fold
FOLD_AFTER = 10  # longer tables fold into <details>
NARRATIVE_HEADING = "Model-written narrative (unverified)"
FINDINGS_HEADING = "Model-written review findings (unverified)"
STATUS_MARK = {"passing": "✅ passing", "failing": "❌ failing", "skipped": "⏭️ skipped only",
               "referenced": "⚠️ mentioned, no test ran", "none": "❌ no test"}


def _usd(value: float | None) -> str:
    return "n/a" if value is None else f"${value:.4f}"


def _cell(text: Any) -> str:
    """One table cell of data (a detail, a summary, a value from the generated code): inert."""
    return model_line(text)


def _html(text: Any) -> str:
    """Data inside genops's own HTML (a fold's summary line)."""
    return html.escape(str(text), quote=False)


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
    return (f"{spent}{_earlier(cost)} · {list_price} · {cost['calls']} calls "
            f"({cost['archive_hits']} from the archive){counted}")


def _earlier(cost: dict[str, Any]) -> str:
    """The runs on the same parent that led to the release, and the release's cost with them."""
    earlier = cost.get("earlier_runs") or {}
    runs = earlier.get("runs") or []
    if not runs:
        return ""
    stages: dict[str, int] = {}
    for run in runs:
        stages[run["stage"]] = stages.get(run["stage"], 0) + 1
    how = ", ".join(f"{n} {stage.replace('_', ' ')}" for stage, n in stages.items())
    return (f" · {_usd(earlier['cost_usd'])} in {len(runs)} earlier run"
            f"{'s' if len(runs) != 1 else ''} on {earlier.get('parent') or 'no release'} that "
            f"led to it ({how}) · {_usd(cost['release_usd'])} for the release in all")


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
    why = model_line("; ".join(entry["reasons"]) or "changed")
    return f"{n}. {code_span(entry['file'])} (risk {entry['score']}, {size}): {why}"


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
        where = f" ({model_line(loc.get('file'))}:{loc.get('line')})" if loc.get("file") else ""
        lines.append(f"- {code_span(c.get('path'))}: {model_line(c.get('detail') or c.get('kind'))}"
                     f"{where}")
    return lines + (["None."] if not breaking else []) + [""]


def _panel_gate(manifest: dict[str, Any]) -> dict[str, Any] | None:
    return next((g for g in manifest["gates"] if g["gate"] == "review_panel"), None)


def review_panel(manifest: dict[str, Any]) -> list[str]:
    """The panel's verdict as the gate judged it; the reviewers' own words come last
    (`review_findings`)."""
    gate = _panel_gate(manifest)
    if gate is None:
        return []
    lines = ["## Review panel", "",
             f"{VERDICT_MARK.get(gate['verdict'], '')} {genops_line(gate['summary'])}", ""]
    count = len(gate.get("findings", []))
    if count:
        lines += [f"{count} finding(s), in the reviewers' words under \"{FINDINGS_HEADING}\" "
                  "at the end.", ""]
    return lines


def review_findings(manifest: dict[str, Any]) -> list[str]:
    """Every reviewer finding as the gate recorded it: the file and line a reviewer named and
    its words, quoted as inert text under a heading that says a model wrote them."""
    gate = _panel_gate(manifest)
    if gate is None or not gate.get("findings"):
        return []
    lines = [f"## {FINDINGS_HEADING}", "",
             "What each reviewer of the panel wrote, as plain text; genops checked none of it. "
             "The verdict is the panel's, under \"Review panel\" above.", ""]
    for f in gate["findings"]:
        where = f"{f['file']}:{f['line']}" if f.get("file") and f.get("line") else f.get("file")
        lines.append(f"- {model_name(where) + ': ' if where else ''}{model_line(f['message'])}")
    return lines + [""]


def _req_row(c: dict[str, Any]) -> str:
    groups = c["implemented_by"]
    impl = "n/a (no blueprint)" if groups is None else model_line(", ".join(groups)) or "—"
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
                         f"{code_span(subject, table=True)} | {_cell(c.get('detail'))} | "
                         f"{_cell(loc.get('file'))}:{_cell(loc.get('line'))} |")
        lines.append("")
    if modules:
        counts = {m: max(0, len(block.splitlines()) - 1) for m, block in modules.items()}
        lines.append(f"New modules ({len(modules)}): " + ", ".join(
            f"{code_span(m)} ({counts[m]})" for m in modules))
        lines.append("")
        body = fenced([line for block in modules.values() for line in block.splitlines()],
                      "python")
        lines += _fold("signatures of the new modules", body)
    return lines


def bodies(excerpts: list[dict[str, Any]], total: int) -> list[str]:
    """Each changed body with its code, folded."""
    if not total:
        return []
    lines = [f"## Behaviour changes ({total})", ""]
    for e in excerpts:
        where = f"{e['file']}:{e['line']}" if e.get("line") else e["file"]
        body = fenced([*e["diff"], *(["… (cut)"] if e["truncated"] else [])], "diff")
        lines += _fold(f"<code>{_html(e['path'])}</code> ({_html(where)})", body)
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
        rows += [f"| {c.get('kind')} | "
                 + code_span(str(c.get('path')) + (f" -> {c['target']}" if c.get("target") else ""),
                             table=True)
                 + f" | {_cell(c.get('detail'))} | {_cell(c.get('new'))} |" for c in changes]
        lines += _fold(f"{len(changes)} change(s)", rows) if len(changes) > FOLD_AFTER \
            else rows + [""]
    return lines if len(lines) > 2 else []


def _gates(manifest: dict[str, Any]) -> list[str]:
    lines = ["## Gates", "", "| gate | verdict | summary | evidence |", "|---|---|---|---|"]
    for gate in manifest["gates"]:
        evidence = ", ".join(code_span(e, table=True) for e in gate.get("evidence", [])) or "—"
        lines.append(f"| {gate['gate']} | {gate['verdict']} | {genops_line(gate['summary'])} | "
                     f"{evidence} |")
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


def narrative_notice(manifest: dict[str, Any]) -> list[str]:
    """genops's note when the model's narrative was asked for but not usable."""
    entry = manifest.get("narrative")
    if not entry or not entry.get("error"):
        return []
    return [f"> No narrative: the answer of {model_line(entry['provider'])} "
            f"{model_line(entry['model'])} was {model_line(entry['error'])}", ""]


def narrative_claims(manifest: dict[str, Any]) -> list[str]:
    """genops's own check of the narrative: the paths and requirement IDs it names that this
    change does not contain (`genops.review.narrative`)."""
    entry = manifest.get("narrative")
    if not entry or entry.get("error"):
        return []
    claims, unverified = entry.get("claims"), entry.get("unverified") or []
    named = (f"names {len(claims)} path(s) and requirement ID(s)" if claims is not None
             else "names paths and requirement IDs")
    lines = ["## Narrative claims checked by genops", "",
             f"The model-written narrative at the end {named}; genops looked each one up in "
             "this change: the files the release changed and the requirement IDs its changed "
             "specs and files touch.", ""]
    if unverified:
        lines.append("Not found in this change, check before relying on them: "
                     + ", ".join(code_span(name) for name in unverified))
    else:
        lines.append("Every one of them is in this change." if claims else
                     "It names none, so nothing in it could be checked.")
    return lines + [""]


def narrative(manifest: dict[str, Any]) -> list[str]:
    """The model's narrative (`[review] summary`) quoted as inert text under a heading that says
    a model wrote it; its fixed outline (genops's headings) in bold; nothing when none."""
    entry = manifest.get("narrative")
    if not entry or entry.get("error"):
        return []
    who = f"{model_line(entry['provider'])} {code_span(entry['model'])}"
    return [f"## {NARRATIVE_HEADING}", "",
            f"Written by {who} (`[review] summary`) and quoted as plain text: a reading aid, "
            "not the record. The sections above are genops's.", "",
            *model_block(entry["text"], outline=HEADINGS), ""]


def reviewer_summary(manifest: dict[str, Any], diff: dict[str, Any], review: Any) -> str:
    """The markdown a reviewer reads instead of the textual diff (`diffs/<release>.md`): genops's
    sections first, what models wrote after them."""
    changes = diff.get("changes", [])
    adrs = manifest.get("touches", {}).get("adrs", [])
    total_bodies = sum(1 for c in changes if c.get("kind") == "body_changed")
    lines = _header(manifest, review) + narrative_notice(manifest)
    lines += review_first(review.risks) + _breaking(manifest, changes)
    lines += review_panel(manifest)
    lines += requirements(review.requirements, adrs) + public_api(review.api)
    lines += bodies(review.bodies, total_bodies) + other_changes(review.other_changes, diff)
    lines += _gates(manifest) + _calls(manifest)
    lines += narrative_claims(manifest) + narrative(manifest) + review_findings(manifest)
    return "\n".join(lines).rstrip() + "\n"
