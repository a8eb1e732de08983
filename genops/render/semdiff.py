"""The one place a semantic diff is formatted: text (rich), markdown, json, github annotations, SARIF.

Every renderer takes a `DiffResult` and returns a string; `prefix` (e.g. "generated/") turns
tree-relative files into repository paths where a consumer needs them (annotations, SARIF).
"""

from __future__ import annotations

import io
import json
from collections import Counter
from typing import Any

from rich.console import Console
from rich.text import Text

import genops
from genops.semdiff.changes import Category, Change, DiffResult
from genops.semdiff.classify import sections

FORMATS = ("text", "markdown", "json", "github", "sarif")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
DETAILS_AFTER = 20  # markdown sections longer than this fold into <details>
TITLES = {Category.ERROR: "Errors", Category.API: "API", Category.BEHAVIOUR: "Behaviour",
          Category.ARCHITECTURE: "Architecture", Category.DEPENDENCY: "Dependencies",
          Category.COSMETIC: "Cosmetic"}
STYLES = {Category.ERROR: "bold red", Category.API: "yellow", Category.BEHAVIOUR: "cyan",
          Category.ARCHITECTURE: "magenta", Category.DEPENDENCY: "blue", Category.COSMETIC: "dim"}


def render(result: DiffResult, fmt: str, *, prefix: str = "", color: bool = False, width: int = 120) -> str:
    """Render a diff in one of FORMATS."""
    if fmt == "text":
        return to_text(result, color=color, width=width)
    if fmt == "markdown":
        return to_markdown(result)
    if fmt == "json":
        return json.dumps(result.to_json(), indent=2) + "\n"
    if fmt == "github":
        return to_github(result, prefix=prefix)
    if fmt == "sarif":
        return json.dumps(to_sarif(result, prefix=prefix), indent=2) + "\n"
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def _sections(result: DiffResult) -> list[tuple[str, Category | None, list[Change]]]:
    """Breaking changes first, then the rest by category (the one classification, genops.semdiff.classify)."""
    return [("Breaking" if category is None else TITLES[category], category, changes)
            for category, changes in sections(result)]


def _subject(change: Change) -> str:
    """Path plus the parameter, target or new path a change is about."""
    text = change.path
    if change.parameter:
        text += f"({change.parameter})"
    if change.target:
        text += f" -> {change.target}"
    if change.new_path:
        text += f" -> {change.new_path}"
    return text


Group = tuple[Change | None, str | None, list[Change]]  # (a change, or None; origin; its inherited copies)


def _grouped(changes: list[Change]) -> list[Group]:
    """Inherited breakages gathered under their origin: right after the origin's own change when it is in
    the list (same path), else under a heading of their own where the first of them stood."""
    heirs: dict[str, list[Change]] = {}
    for change in changes:
        if change.origin is not None:
            heirs.setdefault(change.origin, []).append(change)
    leads = {c.path for c in changes if c.origin is None and c.path in heirs}
    groups: list[Group] = []
    for change in changes:
        if change.origin is None:
            groups.append((change, change.path, heirs.get(change.path, []) if change.path in leads else []))
        elif change.origin not in leads and heirs[change.origin][0] is change:
            groups.append((None, change.origin, heirs[change.origin]))
    return groups


def _heirs_title(origin: str | None, heirs: list[Change], standalone: bool) -> str:
    """How an origin's inherited breakages are introduced."""
    count = f"{len(heirs)} public subclass{'es' if len(heirs) != 1 else ''}"
    return (f"{origin}: " if standalone else "") + f"inherited, so also gone from {count}:"


def _where(change: Change, prefix: str = "") -> str:
    """file:line, or nothing."""
    if not change.file:
        return ""
    return f"{prefix}{change.file}:{change.line}" if change.line else f"{prefix}{change.file}"


def _noise_line(result: DiffResult) -> str:
    """The reviewer's noise meter in one sentence."""
    s = result.stats
    return (f"{s.files_textually_changed:,} files and {s.text_lines_changed:,} lines changed as text; "
            f"{s.semantic_changes:,} semantic changes ({len(result.breaking):,} breaking)")


def to_text(result: DiffResult, *, color: bool = False, width: int = 120) -> str:
    """Rich text grouped by category, breaking first; cosmetic changes are only counted."""
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=color, no_color=not color, width=width, highlight=False,
                      soft_wrap=True)
    console.print(Text(f"semantic diff {result.old_label} -> {result.new_label}", style="bold"))
    console.print(Text(_noise_line(result), style="dim"))
    if not result.changes:
        console.print("no changes")
    for title, category, changes in _sections(result):
        console.print()
        style = "bold red" if category is None else STYLES[category]
        console.print(Text(f"{title} ({len(changes)})", style=f"bold {style}".strip()))
        if category is Category.COSMETIC:
            counts = Counter(c.kind.value for c in changes)
            console.print("  " + ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())))
            continue
        for lead, origin, heirs in _grouped(changes):
            if lead is not None:
                console.print(_text_line(lead, style))
            if heirs:
                console.print(Text("    " + _heirs_title(origin, heirs, lead is None), style=style))
                width_path = max(len(h.path) for h in heirs)
                for heir in sorted(heirs, key=lambda h: h.path):
                    console.print(Text(f"      {heir.path:<{width_path}}  {_where(heir)}".rstrip()))
    return buffer.getvalue()


def _text_line(change: Change, style: str) -> Text:
    """One change as a line of the text rendering."""
    line = Text("  ")
    line.append(f"{change.kind.value:<30}", style=style)
    line.append(_subject(change), style="bold")
    line.append(f"  {change.detail}")
    where = _where(change)
    if where:
        line.append(f"  {where}", style="dim")
    return line


def _md(text: str | None) -> str:
    """Escape a value for a markdown table cell."""
    if text is None:
        return ""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("`", "'")


def to_markdown(result: DiffResult) -> str:
    """The reviewer summary body: noise meter, then tables by category with breaking first."""
    s = result.stats
    meter = (f"| {s.files_textually_changed:,} files, {s.text_lines_changed:,} lines | "
             f"{s.semantic_changes:,} changes, {len(result.breaking):,} breaking |")
    lines = [f"## Semantic diff `{result.old_label}` → `{result.new_label}`", "",
             "| Text view | Semantic view |", "|---|---|", meter, ""]
    if not result.changes:
        lines.append("No semantic changes.")
    for title, category, changes in _sections(result):
        lines.append(f"### {title} ({len(changes)})")
        lines.append("")
        if category is Category.COSMETIC:
            counts = Counter(c.kind.value for c in changes)
            lines.append(", ".join(f"{n} `{kind}`" for kind, n in sorted(counts.items())) + " (not listed).")
            lines.append("")
            continue
        fold = len(changes) > DETAILS_AFTER
        if fold:
            lines += ["<details><summary>show all</summary>", ""]
        lines += ["| Kind | Path | Detail | Old | New | Location |", "|---|---|---|---|---|---|"]
        for lead, origin, heirs in _grouped(changes):
            if lead is not None:
                lines.append(f"| `{lead.kind.value}` | `{_md(_subject(lead))}` | {_md(lead.detail)} | "
                             f"{_md(lead.old)} | {_md(lead.new)} | {_md(_where(lead))} |")
            if heirs:
                ordered = sorted(heirs, key=lambda h: h.path)
                paths = ", ".join(f"`{_md(h.path)}`" for h in ordered)
                wheres = ", ".join(_md(_where(h)) for h in ordered)
                title = _md(_heirs_title(origin, heirs, True).rstrip(":"))
                lines.append(f"| `{heirs[0].kind.value}` | {paths} | {title} | {_md(heirs[0].old)} |  | {wheres} |")
        lines.append("")
        if fold:
            lines += ["</details>", ""]
    return "\n".join(lines)


def _level(change: Change) -> str:
    """Annotation level: breaking and errors fail, cosmetic is a note, the rest warns."""
    if change.breaking or change.category is Category.ERROR:
        return "error"
    return "notice" if change.category is Category.COSMETIC else "warning"


def _escape_data(text: str) -> str:
    """GitHub workflow command message escaping."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    """GitHub workflow command property escaping."""
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def to_github(result: DiffResult, *, prefix: str = "") -> str:
    """GitHub Actions workflow annotations (`::error file=..,line=..::`), cosmetic changes left out."""
    out = []
    for change in sorted(result.changes, key=Change.sort_key):
        if change.category is Category.COSMETIC:
            continue
        props = []
        if change.file:
            props.append(f"file={_escape_property(prefix + change.file)}")
            if change.line:
                props.append(f"line={change.line}")
        props.append(f"title={_escape_property(change.category.value + '/' + change.kind.value)}")
        message = f"{_subject(change)}: {change.detail}"
        out.append(f"::{_level(change)} {','.join(props)}::{_escape_data(message)}")
    return "\n".join(out) + ("\n" if out else "")


def to_sarif(result: DiffResult, *, prefix: str = "") -> dict[str, Any]:
    """A SARIF 2.1.0 log (one run, one rule per kind) for code scanning."""
    kinds = sorted({c.kind for c in result.changes}, key=lambda k: k.value)
    rules = [{"id": k.value, "name": "".join(p.title() for p in k.value.split("_")),
              "shortDescription": {"text": k.value.replace("_", " ")},
              "properties": {"category": k.category.value}} for k in kinds]
    index = {k: i for i, k in enumerate(kinds)}
    results = []
    for change in sorted(result.changes, key=Change.sort_key):
        item: dict[str, Any] = {
            "ruleId": change.kind.value, "ruleIndex": index[change.kind],
            "level": {"error": "error", "warning": "warning", "notice": "note"}[_level(change)],
            "message": {"text": f"{_subject(change)}: {change.detail}"},
            "partialFingerprints": {"genopsChange/v1": f"{change.kind.value}:{_subject(change)}"},
            "properties": {"path": change.path, "category": change.category.value, "breaking": change.breaking,
                           "old": change.old, "new": change.new},
        }
        if change.file:
            region = {"startLine": change.line} if change.line else {}
            item["locations"] = [{"physicalLocation": {"artifactLocation": {"uri": prefix + change.file},
                                                       **({"region": region} if region else {})}}]
        results.append(item)
    driver = {"name": "genops-semdiff", "version": genops.__version__, "rules": rules}
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [{"tool": {"driver": driver}, "results": results,
                                                                  "properties": {"old": result.old_label,
                                                                                 "new": result.new_label}}]}
