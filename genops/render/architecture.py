"""ARCHITECTURE.md: the ADRs and their rules, the module graph as mermaid, the requirement map.

Input is `genops.review.architecture.ArchitectureFacts`; output is markdown, byte-identical for
the same facts (everything is sorted before it gets here). No prose a model wrote reaches it, but
module and file names do (the model chose the tree's paths): they are shown as code spans that
cannot be closed (`genops.render.release.code_span`), mermaid labels as entity codes, so a name
cannot carry HTML, a link or a table cell into the document.
"""

from __future__ import annotations

import re
from typing import Any

from genops.render.release import code_span

HEADER = ("Rendered by genops on every release from the ADRs in `adr/`, the import graph of the "
          "released tree and the requirement traceability. Do not edit it: `genops check` fails "
          "when it is stale and `genops architecture --write` renders it again.")


def node_id(module: str) -> str:
    """A mermaid-safe node id for a dotted module name."""
    return "m_" + re.sub(r"[^A-Za-z0-9_]", "_", module)


def label(text: str) -> str:
    """Text for a quoted mermaid label: anything but letters, digits and `_ . · -` and spaces as
    a mermaid entity code (`#60;`), so a name cannot end the label or carry markup."""
    return re.sub(r"[^A-Za-z0-9_.· -]", lambda m: f"#{ord(m.group())};", text)


def _value(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_value(v) if not isinstance(v, list) else "[" + " | ".join(map(str, v)) + "]"
                         for v in value)
    return str(value)


def rule_text(rule: dict[str, Any]) -> str:
    """One line per rule: its kind, its name and its settings."""
    name = f" ({rule['name']})" if rule.get("name") else ""
    if rule.get("kind") == "layers":
        layers = [" \\| ".join(x) if isinstance(x, list) else str(x) for x in rule.get("layers", [])]
        return f"`layers`{name}: highest first, " + " → ".join(f"`{x}`" for x in layers)
    rest = "; ".join(f"{k}: `{_value(v)}`" for k, v in rule.items() if k not in ("kind", "name"))
    return f"`{rule.get('kind')}`{name}: {rest}"


def decisions(adrs: list[dict[str, Any]]) -> list[str]:
    """Accepted ADRs with their rules; proposed and superseded ones listed with their links."""
    lines = ["## Decisions", ""]
    for adr in [a for a in adrs if a["status"] == "accepted"]:
        lines.append(f"### {adr['id']}: {adr['title']}")
        lines.append("")
        lines.append(f"[`{adr['file']}`]({adr['file']})"
                     + (f" · supersedes {', '.join(adr['supersedes'])}" if adr["supersedes"] else "")
                     + (f" · requirements {', '.join(adr['requirements'])}" if adr["requirements"] else ""))
        lines.append("")
        lines += [f"- {rule_text(r)}" for r in adr["rules"]] or ["- (no checkable rule)"]
        lines.append("")
    others = [a for a in adrs if a["status"] != "accepted"]
    if others:
        lines += ["### Not in force", ""]
        for adr in others:
            link = f", superseded by {adr['superseded_by']}" if adr.get("superseded_by") else ""
            lines.append(f"- {adr['id']}: {adr['title']} ({adr['status']}{link}) "
                         f"[`{adr['file']}`]({adr['file']})")
        lines.append("")
    return lines


def mermaid(facts: Any) -> list[str]:
    """Packages as subgraphs, layered modules labelled, cycle members and edges in red."""
    in_cycle = {m for c in facts.cycles for m in c}
    lines = ["```mermaid", "flowchart TD"]
    packages: dict[str, list[Any]] = {}
    for module in facts.modules:
        packages.setdefault(module.package, []).append(module)
    for package, members in sorted(packages.items()):
        lines.append(f'  subgraph {node_id(package)}_pkg["{label(package)}"]')
        for m in members:
            shown = m.name + (f" · {m.layer.split()[-1]}" if m.layer else "")
            lines.append(f'    {node_id(m.name)}["{label(shown)}"]')
        lines.append("  end")
    red = []
    for index, (src, dst) in enumerate(facts.edges):
        lines.append(f"  {node_id(src)} --> {node_id(dst)}")
        if src in in_cycle and dst in in_cycle:
            red.append(str(index))
    layered = [node_id(m.name) for m in facts.modules if m.layer]
    if layered:
        lines += ["  classDef layered stroke:#1f6feb,stroke-width:2px",
                  f"  class {','.join(layered)} layered"]
    if in_cycle:
        lines += ["  classDef cycle fill:#ffd7d5,stroke:#cf222e,stroke-width:2px",
                  f"  class {','.join(node_id(m) for m in sorted(in_cycle))} cycle",
                  f"  linkStyle {','.join(red)} stroke:#cf222e,stroke-width:2px"]
    return lines + ["```", ""]


def module_graph(facts: Any) -> list[str]:
    lines = ["## Module graph", ""]
    if not facts.modules:
        return lines + ["The released tree has no Python module.", ""]
    layers = "; ".join(f"{r['adr']} ({r['name']}): " + " → ".join(
        f"L{i} " + " \\| ".join(layer) for i, layer in enumerate(r["layers"], start=1))
        for r in facts.layers)
    lines.append(f"{len(facts.modules)} modules, {len(facts.edges)} internal import edges, "
                 f"{len(facts.cycles)} cycle(s); {facts.test_files} test files not drawn.")
    if layers:
        lines.append(f"Layers marked `Ln` (blue border) are placed by a rule: {layers}.")
    lines.append("")
    lines += mermaid(facts)
    if facts.cycles:
        lines += ["Cycles (red): " + "; ".join(" ↔ ".join(code_span(m) for m in c)
                                              for c in facts.cycles), ""]
    lines += ["| module | file | lines | layer | third-party imports |", "|---|---|---|---|---|"]
    lines += [f"| {code_span(m.name, table=True)} | {code_span(m.file, table=True)} | {m.lines} | "
              f"{m.layer or '—'} | {', '.join(m.third_party) or '—'} |" for m in facts.modules]
    return lines + [""]


def requirement_map(facts: Any) -> list[str]:
    lines = ["## Requirements to modules", ""]
    if not facts.requirements:
        return lines + ["No traceability evidence for this release.", ""]
    lines += ["| requirement | implemented in | tested |", "|---|---|---|"]
    lines += [f"| {r['id']} | {', '.join(code_span(m, table=True) for m in r['modules']) or '—'} | "
              f"{'yes' if r['tested'] else 'no'} |" for r in facts.requirements]
    return lines + [""]


def architecture_markdown(facts: Any) -> str:
    """The whole ARCHITECTURE.md."""
    release = f" (release {facts.release})" if facts.release else ""
    lines = [f"# Architecture of {facts.project}{release}", "", HEADER, ""]
    lines += decisions(facts.adrs) + module_graph(facts) + requirement_map(facts)
    return "\n".join(lines).rstrip() + "\n"
