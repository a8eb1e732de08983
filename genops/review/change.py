"""What the review panel is shown of a change, and whether the change is high risk.

High risk follows `[review.high_risk]`: a breaking change, a changed module that an accepted ADR
grants a power (the `except` of an import or call rule), a dependency change (one the semantic
diff reports, or any change in a dependency file of the tree: a requirement's name, specifier,
URL, path, extras or markers, an index, a build requirement; or a URL or out-of-tree path
dependency the tree declares, see `genops.review.risk.dependency_file_changes`), or more than
`changed_share` of the tree's files changed. The context is the semantic diff (without added
modules and cosmetic noise), the ranked risks, the riskiest code (body diffs, then the newest
content of the riskiest files, up to `max_code_lines`), the touched requirements and the ADRs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genops.review.architecture import active_adrs
from genops.review.risk import body_excerpts, dependency_file_changes, rank_risks
from genops.store.tree import tree_files
from genops.synthesis.apisummary import list_tree
from genops.workspace import Workspace

NOISE = ("module_added", "docstring_changed", "formatting_only")


def changed_files(old: Path | None, new: Path) -> tuple[int, int]:
    """(files added, removed or changed; files in the new tree)."""
    before = tree_files(old) if old is not None and old.is_dir() else {}
    after = tree_files(new)
    moved = {p for p in set(before) | set(after) if before.get(p) != after.get(p)}
    return len(moved), max(1, len(after))


def high_risk(cfg: Any, diff: dict[str, Any], risks: list[dict[str, Any]],
              changed: int, total: int,
              dependency_files: list[tuple[str, str]] | None = None) -> list[str]:
    """Why the change is high risk by the configured rules ([] when it is not);
    `dependency_files` are the (file, reason) of `dependency_file_changes`."""
    changes = diff.get("changes", [])
    reasons = []
    breaking = [c for c in changes if c.get("breaking")]
    if cfg.breaking and breaking:
        reasons.append(f"{len(breaking)} breaking change(s)")
    privileged = [r["file"] for r in risks if any("allows only it" in x for x in r["reasons"])]
    if cfg.adr_modules and privileged:
        reasons.append("ADR-privileged module(s) changed: " + ", ".join(privileged))
    deps = len([c for c in changes if c.get("category") == "dependency"])
    files = sorted({file for file, _ in dependency_files or []})
    if cfg.dependencies and (deps or files):
        count = deps + len(dependency_files or [])
        reasons.append(f"{count} dependency change(s)"
                       + (f" in {', '.join(files)}" if files else ""))
    if changed / total > cfg.changed_share:
        reasons.append(f"{changed} of {total} files changed (over {cfg.changed_share:.0%})")
    return reasons


def _change_line(c: dict[str, Any]) -> str:
    loc = c.get("location") or {}
    where = f" [{loc.get('file')}:{loc.get('line')}]" if loc.get("file") else ""
    extra = f" -> {c['target']}" if c.get("target") else ""
    return (f"- {c.get('kind')}{' (BREAKING)' if c.get('breaking') else ''}: "
            f"{c.get('path')}{extra}: {c.get('detail')}{where}")


def _code(new_tree: Path, risks: list[dict[str, Any]], bodies: list[dict[str, Any]],
          budget: int) -> list[dict[str, str]]:
    """Body diffs first, then whole risky files with line numbers, until `budget` lines."""
    shown: list[dict[str, str]] = []
    for body in bodies:
        if budget <= 0:
            break
        lines = body["diff"][:budget]
        budget -= len(lines)
        shown.append({"path": f"{body['file']} ({body['path']}, diff)", "content": "\n".join(lines)})
    for risk in risks:
        path = new_tree / risk["file"]
        if budget <= 0 or not risk["file"].endswith(".py") or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()[:budget]
        budget -= len(text)
        numbered = "\n".join(f"{n:4d}  {line}" for n, line in enumerate(text, start=1))
        shown.append({"path": risk["file"], "content": numbered})
    return shown


def change_context(ws: Workspace, diff: dict[str, Any], old: Path | None, new: Path,
                   touched: list[str]) -> tuple[dict[str, Any], list[str]]:
    """(template context for review.j2, high-risk reasons) of the change from `old` to `new`."""
    adrs = active_adrs(ws.adrs)
    changes = [c for c in diff.get("changes", []) if c.get("kind") not in NOISE]
    risks = rank_risks(diff.get("changes", []), adrs, old, new)
    bodies = body_excerpts(changes, old, new)
    moved, total = changed_files(old, new)
    reasons = high_risk(ws.config.review.high_risk, diff, risks, moved, total,
                        dependency_file_changes(old, new, diff.get("changes", [])))
    risk_text = "\n".join(f"- {r['file']} (risk {r['score']}): {'; '.join(r['reasons'])}"
                          for r in risks[:10])
    summary = "\n".join(_change_line(c) for c in changes[:200]) or "(no semantic change)"
    requirements = [{"id": r.id, "text": r.text} for r in ws.requirements if r.id in set(touched)] \
        if touched else [{"id": r.id, "text": r.text} for r in ws.requirements]
    context = {
        "project": ws.config.project.name,
        "diff": f"{summary}\n\nRanked risks:\n{risk_text or '(none)'}",
        "file_contents": _code(new, risks, bodies, ws.config.review.panel.max_code_lines),
        "requirements": requirements,
        "adrs": [{"id": a.id, "title": a.title, "decision": a.decision.strip(),
                  "rules": list(a.rules)} for a in adrs],
        "instruction": ("High risk: " + "; ".join(reasons)) if reasons else "",
        "files": list_tree(new),
    }
    return context, reasons
