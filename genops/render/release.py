"""Rendering of releases on the terminal: run, replay, log and rollback outcomes; and the one
place text a model wrote is made inert before any document or terminal shows it.

Everything prints through rich, or as JSON with `--json`; the committed markdown (the reviewer
summary and ARCHITECTURE.md) is in `genops.render.summary` and `genops.render.architecture`,
which take model-written text (a narrative, a reviewer's findings, names in the generated tree)
only through the functions of "Model-written text" below.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from rich.table import Table
from rich.text import Text

from genops.render import patch as patch_render
from genops.render.console import err, out, print_json

VERDICT_MARK = {"pass": "✅", "fail": "❌", "warn": "⚠️", "skip": "⏭️"}
VERDICT_STYLE = {"pass": "green", "fail": "bold red", "warn": "yellow", "skip": "dim"}


def _usd(value: float | None) -> str:
    return "n/a" if value is None else f"${value:.4f}"


def _model_line(model: dict[str, Any]) -> str:
    sampling = model.get("sampling") or {}
    keys = ("temperature", "seed", "top_p", "max_output_tokens")
    pinned = ", ".join(f"{k} {sampling[k]}" for k in keys if sampling.get(k) is not None)
    return f"`{model['rung']}`: {model['provider']} `{model['model']}`" + (f" ({pinned})" if pinned else "")


# -- model-written text ------------------------------------------------------------------------
# A model's words (the narrative, a reviewer's rationale) and the names it chose (paths and code
# in the generated tree) are data. Markdown renders them through `model_line` / `model_block`:
# `<`, `>` and `&` become entities (no HTML, no `<https://...>` autolink, no `<!-- marker -->`);
# every character that opens a markdown construct is backslash-escaped (`[ ] !` links, images
# and reference definitions; `#` headings; `|` tables; backticks and `~` fences; `* _` emphasis;
# `$` math; a leading `- + =` lists and setext underlines); a bare URL becomes a code span, which
# no renderer links or loads. Names shown as code go through `code_span`, code blocks through
# `fenced`: neither can be closed by what it holds. Control and format characters (terminal
# escapes, bidirectional overrides) become U+FFFD everywhere, the terminal included.

_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_BACKSLASHED = frozenset("\\`*_[]{}#|!~$")
_LINE_START = frozenset("-+=")
_URL = re.compile(r"(?i)(?:\b[a-z][a-z0-9+.-]*://|\bwww\.)[^\s`<>|\\]+")
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
_PLAIN_NAME = re.compile(r"[\w./:@+=,~-]+")


def printable(text: str, *, tab: str = " ") -> str:
    """`text` with tabs as `tab` and every other control or format character as U+FFFD."""
    return "".join(tab if ch == "\t" else "\ufffd" if unicodedata.category(ch) in _INVISIBLE
                   else ch for ch in text)


def _escaped(text: str) -> str:
    return "".join(_ENTITIES.get(ch) or ("\\" + ch if ch in _BACKSLASHED else ch) for ch in text)


def model_line(text: Any) -> str:
    """Model-written text as one inert line of markdown (line breaks become spaces): safe in a
    paragraph, a list item, a blockquote line and a table cell."""
    flat = printable(" ".join(str(text if text is not None else "").splitlines())).strip()
    pieces, at = [], 0
    for url in _URL.finditer(flat):
        pieces += [_escaped(flat[at:url.start()]), f"`{url.group()}`"]
        at = url.end()
    line = "".join([*pieces, _escaped(flat[at:])])
    return "\\" + line if line[:1] in _LINE_START else line


def genops_line(text: Any) -> str:
    """A sentence of genops's own that may quote names from the tree (a gate's summary): one
    line, HTML and table pipes escaped, its own `code` kept. Model-written words never go here."""
    flat = printable(" ".join(str(text if text is not None else "").splitlines())).strip()
    return "".join(_ENTITIES.get(ch, ch) for ch in flat).replace("|", "\\|")


def model_block(text: str, *, outline: tuple[str, ...] = ()) -> list[str]:
    """Model-written text as one blockquote of inert lines, each line of `text` its own line
    (hard breaks), blank lines as paragraph breaks. A line that is exactly one of `outline`
    (headings genops itself asked for) shows as bold text in genops's words; nothing in the
    quote is a heading, and no line of it can end the quote."""
    rows = [line.strip() for line in text.strip().splitlines()]
    lines: list[str] = []
    for index, row in enumerate(rows):
        if not row:
            if lines and lines[-1] != ">":
                lines.append(">")
            continue
        shown = f"**{row.lstrip('#').strip()}**" if row in outline else model_line(row)
        follows = index + 1 < len(rows) and rows[index + 1]
        lines.append(f"> {shown}" + ("\\" if follows else ""))
    return lines


def code_span(text: Any, *, table: bool = False) -> str:
    """`text` as one code span its content cannot close (the delimiter is longer than any run of
    backticks inside); in a table cell (`table`) its pipes are escaped as GFM requires."""
    body = printable(" ".join(str(text).splitlines()))
    if not body:
        return ""
    if table:
        body = body.replace("|", "\\|")
    ticks = "`" * (max((len(run) for run in re.findall(r"`+", body)), default=0) + 1)
    pad = " " if body[0] == "`" or body[-1] == "`" or (body[0] == " " and body[-1] == " ") else ""
    return f"{ticks}{pad}{body}{pad}{ticks}"


def model_name(text: Any, *, table: bool = False) -> str:
    """A name a model gave as free text (the file a reviewer cites): a code span when it holds
    only path characters, else escaped text like any other model-written words."""
    shown = str(text)
    return code_span(shown, table=table) if _PLAIN_NAME.fullmatch(shown) else model_line(shown)


def fenced(lines: list[str], info: str = "") -> list[str]:
    """`lines` as a fenced code block no line of it can close (the fence outruns every run of
    backticks inside; a `~~~` line never closes a backtick fence)."""
    shown = [printable(line, tab="\t") for line in lines]
    longest = max((len(run) for line in shown for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + info, *shown, fence]


# -- terminal ----------------------------------------------------------------------------------
# Data (summaries, findings, reasons, paths) goes into rich Text objects, never into markup strings:
# a `[redacted]` or `[prices."m"]` inside a message must print as written.


def _verdict(verdict: str) -> Text:
    return Text(verdict, style=VERDICT_STYLE.get(verdict, ""))


def gate_table(results: list[Any]) -> Table:
    table = Table(title="gates", show_lines=False, expand=False)
    for column in ("gate", "verdict", "summary", "time"):
        table.add_column(column)
    for r in results:
        # summaries quote config tables and data ("[gates.migrations]"): never read as markup
        table.add_row(Text(r.gate), _verdict(r.verdict), Text(printable(str(r.summary))),
                      f"{r.seconds:.1f}s")
    return table


def print_gates(results: list[Any], *, as_json: bool) -> None:
    if as_json:
        print_json({"gates": [r.to_dict() for r in results]})
        return
    err.print(gate_table(results))
    for r in results:
        for finding in r.findings[:10]:
            where = (f"{finding.file}:{finding.line}: " if finding.file and finding.line
                     else f"{finding.file}: " if finding.file else "")
            err.print(Text.assemble("  ", (r.gate, "dim"),
                                    printable(f" {where}{finding.message}")))


def print_recovery(outcome: Any) -> None:
    err.print(Text.assemble((f"finished the interrupted promotion of {outcome.release}", "yellow"),
                            f" (commit {outcome.commit[:12]})"))


def print_startup_recovery(recovery: Any) -> None:
    """Say what startup recovery removed or finished (nothing when there was nothing)."""
    for path in recovery.removed_locks:
        err.print(Text.assemble((f"removed stale git lock {path}", "yellow"),
                                " (left by a killed genops)"))
    if recovery.blocked_by:
        pids = ", ".join(str(p) for p in recovery.blocked_by)
        err.print(Text(f"git lock files kept: git process(es) {pids} still running here",
                       style="yellow"))
    if recovery.promotion is not None:
        print_recovery(recovery.promotion)


def _gates_summary(gates: dict[str, str]) -> Text:
    bad = [(f"{g} {v}", VERDICT_STYLE[v]) for g, v in gates.items() if v in ("fail", "warn")]
    if bad:
        return Text(", ").join(Text(text, style=style) for text, style in bad)
    return Text(f"{len(gates)} pass", style="green") if gates else Text("—")


def print_log(entries: list[dict[str, Any]], *, as_json: bool) -> None:
    if as_json:
        print_json({"releases": entries})
        return
    if not entries:
        out.print(Text("no releases yet; `genops regenerate` makes the first one"))
        return
    table = Table(title="releases")
    table.add_column("release", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    for column in ("reason", "models", "cost", "gates"):
        table.add_column(column, overflow="fold")
    table.add_column("created", no_wrap=True)
    for e in entries:
        kind = e["kind"] + (f" of {e['rollback_of']}" if e.get("rollback_of") else "")
        table.add_row(Text(e["release"]), Text(kind), Text(e["reason"] or ""),
                      Text(", ".join(e["models"]) or "—"), _log_cost(e),
                      _gates_summary(e["gates"]), e["created"][:10])
    out.print(table)


def _log_cost(entry: dict[str, Any]) -> str:
    """The release's cost; with the runs that led to it, how many runs it took."""
    earlier = entry.get("earlier_runs") or []
    text = _usd(entry["cost_usd"]) + (f" ({len(earlier) + 1} runs)" if earlier else "")
    listed = entry.get("list_usd") or 0.0
    if round(listed, 4) != round(entry.get("run_cost_usd", entry["cost_usd"]), 4):
        text += f"; {_usd(listed)} at pinned prices"  # answered by hand or replayed
    return text


_FITS = {True: Text("yes", style="green"), False: Text("no", style="bold red"),
         None: Text("unknown")}


def print_plan(plan: Any, *, as_json: bool) -> None:
    if as_json:
        print_json({"status": "planned", "plan": plan.to_dict()})
        return
    table = Table(title=f"plan ({plan.strategy}) — nothing sent, nothing spent")
    table.add_column("request", no_wrap=True)
    for column in ("rung", "model", "input", "max out", "worst $", "window", "fits"):
        table.add_column(column)
    for r in plan.requests:
        table.add_row(Text(r.label), Text(r.rung), Text(f"{r.provider} {r.model}"),
                      f"{'≈' if r.estimated else ''}{r.input_tokens:,}", f"{r.max_output_tokens:,}",
                      _usd(r.worst_usd), f"{r.context_window:,}" if r.context_window else "?",
                      _FITS[r.fits])
    out.print(table)
    verdict = Text("within", style="green") if plan.within_budget else Text("over", style="bold red")
    out.print(Text.assemble(
        f"worst case for the first rung: {_usd(plan.worst_case_usd)} — ", verdict,
        f" the per-run budget of ${plan.per_run_usd:.2f}; this month so far "
        f"{_usd(plan.month_spent_usd)} of ${plan.per_month_usd:.2f}"))
    for note in plan.notes:
        if note.startswith("warning: "):
            out.print(Text.assemble(("warning:", "yellow"), note[len("warning:"):]))
        else:
            out.print(Text.assemble(("note:", "dim"), f" {note}"))


def _release_dict(release: Any) -> dict[str, Any] | None:
    if release is None:
        return None
    return {"release": release.release, "parent": release.parent, "kind": release.kind,
            "commit": release.commit, "tree_sha256": release.tree_sha256,
            "summary": str(release.summary_path)}


def run_outcome_dict(outcome: Any) -> dict[str, Any]:
    """A run's outcome as data: the last JSON Lines record (`--jsonl`) or the `--json` document."""
    return {"status": outcome.status, "run": outcome.run_id,
            "release": _release_dict(outcome.release),
            "gates": [g.to_dict() for g in outcome.gates],
            "pending": [str(p) for p in outcome.pending],
            "responses_dir": str(outcome.responses_dir) if outcome.responses_dir else None,
            "cost_usd": outcome.cost_usd, "calls": outcome.calls}


def selection_lines(selection: dict[str, Any] | None) -> list[str]:
    """What a run regenerates and why: the selective groups with reasons, or the full reason."""
    if not selection:
        return []
    if selection.get("mode") != "selective":
        reason = selection.get("full_reason") or selection.get("reason")
        if selection.get("mode") == "none":  # nothing changed: no run (genops.release.planning)
            return [f"nothing to regenerate: {reason}"]
        lines = [f"full regeneration: {reason}" if reason else "full regeneration"]
        if selection.get("full_usd") is not None:
            lines.append(f"estimated cost {_usd(selection['full_usd'])}")
        elif selection.get("unknown"):
            lines.append(f"estimated cost unknown: {selection['unknown']}")
        return lines
    groups = selection.get("groups") or {}
    if "plan" in selection:  # a run's record: every group, regenerated or carried
        regenerated = {n: g["reasons"] for n, g in groups.items() if g["status"] == "regenerated"}
        carried = [n for n, g in groups.items() if g["status"] == "carried"]
    else:  # a dry-run estimate: only the groups it would regenerate
        regenerated, carried = groups, []
    lines = [f"selective regeneration: {len(regenerated)} group(s) regenerated"
             + (f", {len(carried)} carried byte for byte ({', '.join(carried)})" if carried else "")]
    lines += [f"  {name}: {'; '.join(why)}" for name, why in regenerated.items()]
    lines += [f"  note: {note}" for note in selection.get("notes", [])]
    if selection.get("estimated_usd") is not None:
        ratio = selection.get("ratio")
        full = selection.get("full_usd")
        lines.append(f"estimated cost {_usd(selection['estimated_usd'])} against "
                     + (f"{_usd(full)} for a full run" if full is not None
                        else f"an unknown cost for a full run ({selection.get('unknown')})")
                     + (f" ({ratio:.0%})" if ratio is not None else ""))
    elif selection.get("unknown"):
        lines.append(f"estimated cost unknown: {selection['unknown']}")
    return lines


def print_run_outcome(outcome: Any, *, as_json: bool) -> None:
    selection = getattr(outcome, "scope", None)
    if outcome.status == "planned":
        if as_json:
            print_json({"status": "planned", "plan": outcome.plan.to_dict(),
                        "selection": selection})
            return
        print_plan(outcome.plan, as_json=as_json)
        for line in selection_lines(selection):
            out.print(line, markup=False, highlight=False)
        return
    is_patch = hasattr(outcome, "diff")  # genops.release.patch_run.PatchOutcome
    if as_json:
        print_json({**run_outcome_dict(outcome), "selection": selection,
                    **(patch_render.patch_json(outcome) if is_patch else {})})
        return
    if is_patch:
        patch_render.print_patch_result(outcome)
    if outcome.gates:
        err.print(gate_table(outcome.gates))
    for line in selection_lines(selection):
        out.print(line, markup=False, highlight=False)
    if outcome.status == "awaiting":
        out.print(Text.assemble(("awaiting responses", "yellow"), f" for run {outcome.run_id}: "
                                f"{len(outcome.pending)} request(s)"))
        for path in outcome.pending:
            out.print(Text(f"  {path}"))
        out.print(Text(f"answer each one in {outcome.responses_dir}/ under the same file name "
                       f"(the whole answer, verbatim), then run `genops resume {outcome.run_id}`"))
    elif outcome.status == "unchanged" and outcome.run_id is None:
        out.print(Text("nothing sent and nothing promoted; `genops regenerate --full` "
                       "regenerates anyway"))
    elif outcome.status == "unchanged":
        out.print(Text(f"nothing to promote: run {outcome.run_id} rebuilt the current release's "
                       f"tree from unchanged inputs ({outcome.calls} calls, "
                       f"{_usd(outcome.cost_usd)})"))
    elif outcome.release is not None:
        r = outcome.release
        out.print(Text.assemble((f"promoted {r.release}", "green"),
                                f" ({r.kind}, parent {r.parent or 'none'}) · tree "
                                f"{r.tree_sha256[:16]} · commit {r.commit[:12]}"
                                + (f" · tag {r.tag}" if r.tag else "")))
        out.print(Text(f"cost {_usd(outcome.cost_usd)} over {outcome.calls} calls · reviewer "
                       f"summary: {r.summary_path}"))
    else:
        out.print(Text(f"run {outcome.run_id}: {outcome.status}"))


def gate_failure_dict(exc: Any) -> dict[str, Any]:
    """The verdicts behind a GateFailed as data."""
    results = list(getattr(exc, "results", []) or [])
    return {"status": "gates_failed", "error": exc.message, "hint": exc.hint,
            "exit_code": int(exc.exit_code), "gates": [r.to_dict() for r in results]}


def print_gate_failure(exc: Any, *, as_json: bool) -> None:
    """The verdicts behind a GateFailed, before the error line itself."""
    results = list(getattr(exc, "results", []) or [])
    if as_json:
        print_json(gate_failure_dict(exc))
    elif results:
        print_gates(results, as_json=False)


def print_replay(outcome: Any, *, as_json: bool) -> None:
    if as_json:
        print_json(outcome.to_dict())
        return
    if outcome.reproduced:
        out.print(Text.assemble(("reproduced byte-for-byte", "green"),
                                f": {outcome.release} ({outcome.kind}), {outcome.file_count} "
                                f"files, tree sha256 {outcome.actual_tree}"))
    else:
        path, why = outcome.first_difference or ("?", "tree hashes differ")
        out.print(Text.assemble(("not reproduced", "bold red"),
                                f": {outcome.release} — first difference: {path}: {why}"))
        out.print(Text(f"  expected tree {outcome.expected_tree}\n"
                       f"  rebuilt tree  {outcome.actual_tree}"))
    if outcome.narrative is not None:
        out.print(Text.assemble(("summary narrative: ", "dim"),
                                (outcome.narrative, "green" if outcome.narrative == "reproduced"
                                 else "bold red"), " (answered from the archive)"))
    if outcome.inputs_changed:
        out.print(Text.assemble(("inputs at the tag differ from the manifest:", "yellow"),
                                " " + ", ".join(outcome.inputs_changed)))
    if outcome.gates:
        out.print(gate_table(outcome.gates))
    out.print(Text(f"rebuilt in {outcome.directory} from {outcome.calls} archived answers, "
                   "offline", style="dim"))


def print_runs(rows: list[dict[str, Any]], *, as_json: bool) -> None:
    """`genops runs`: one line per run, newest first, with what it waits for."""
    if as_json:
        print_json({"runs": rows})
        return
    if not rows:
        out.print(Text("no runs yet; `genops regenerate` starts one"))
        return
    table = Table(title="runs (newest first)")
    table.add_column("run", no_wrap=True)
    for column in ("kind", "stage", "base", "release", "waiting for"):
        table.add_column(column, overflow="fold")
    for row in rows:
        base = row["base"] or ("none" if row["base_known"] else "?")
        stage = row["stage"] + (f" · {row['may_have_been_billed']} may have been billed"
                                if row["may_have_been_billed"] else "")
        table.add_row(Text(row["run"]), Text(row["kind"]), Text(stage),
                      Text(base + ("" if row["on_current_release"] or not row["resumable"]
                                   else " (old)")),
                      Text(row["release"] or "—"),
                      Text("\n".join(w.rsplit("/", 1)[-1] for w in row["waiting"]) or "—"))
    out.print(table)
    waiting = next((r for r in rows if r["waiting"]), None)
    if waiting is not None:
        folder = waiting["waiting"][0].rsplit("/requests/", 1)[0]
        out.print(Text(f"requests wait in {folder}/requests/; answers go to {folder}/responses/"))


def print_cancelled(run: Any, *, as_json: bool) -> None:
    if as_json:
        print_json({"run": run.run_id, "stage": run.stage})
        return
    out.print(Text(f"cancelled run {run.run_id}; `genops resume` will not take it. Its folder "
                   f"{run.dir} stays for inspection."))


def print_resume_start(run: Any, *, explicit: bool, resend: int) -> None:
    """Before a resume: which run it took (when chosen implicitly) and what it will re-send."""
    if not explicit:
        err.print(Text(f"resuming run {run.run_id} ({run.kind}, stage {run.stage}, started on "
                       f"{run.base or 'no release'})"))
    if resend:
        err.print(Text.assemble((f"{resend} call(s) of run {run.run_id} may have been billed",
                                 "yellow"), " before it stopped (sent, no answer recorded); "
                                "re-sending them now. `genops cost` lists them."))
