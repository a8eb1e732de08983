"""The reference shipped inside the package: `genops help TOPIC` works for a pip-installed user.

Hints name `genops help <topic>`, never a docs/ file a pip user lacks. The topic files in this
folder are copies of docs/ and README sections (the sources people edit); `python -m genops.help`
refreshes them from a source checkout, and a test fails when they drift.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from genops.errors import UsageError


@dataclass(frozen=True)
class Topic:
    """One help topic: where its text comes from in the source tree, and what it covers."""

    name: str
    summary: str
    source: str  # a file of the repository
    sections: tuple[str, ...] = ()  # headings of that file to take (all of it when empty)


TOPICS: tuple[Topic, ...] = (
    Topic("config", "every genops.toml key and the ADR file schema", "README.md",
          ("### Configuration (`genops.toml`)", "### ADR schema (`adr/ADR-NNNN-slug.yaml`)")),
    Topic("rules", "ADR rule kinds, waivers, the gates and `genops check`", "docs/governance.md"),
    Topic("output", "output conventions, --json / --jsonl and exit codes", "README.md",
          ("## Output and exit codes",)),
    Topic("providers", "providers, keys and the model catalog", "README.md",
          ("## Providers and keys",)),
    Topic("releases", "manifests, replay, rollback and audit packs", "docs/releases.md"),
    Topic("synthesis", "how requests are built, continued, cached and archived",
          "docs/synthesis.md"),
    Topic("semdiff", "the semantic diff's categories and kinds", "docs/semdiff.md"),
    Topic("patch", "targeted patches: instructions, edit blocks, repairs, on_budget = \"patch\"",
          "docs/patch.md"),
    Topic("review", "the review panel, reviewer summaries and ARCHITECTURE.md", "docs/review.md"),
    Topic("federation", "federations: members, interfaces, federation releases, partition "
          "plans, CI fan-out", "docs/federation.md"),
)
BY_NAME = {topic.name: topic for topic in TOPICS}


def topic_text(name: str) -> str:
    """The shipped text of topic `name`."""
    if name not in BY_NAME:
        raise UsageError(f"no help topic {name!r}",
                         hint="topics: " + ", ".join(t.name for t in TOPICS))
    return resources.files("genops.help").joinpath(f"{name}.md").read_text(encoding="utf-8")


def _section(text: str, heading: str) -> str:
    """`heading` and everything under it, up to the next heading of the same or a higher level."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = text.splitlines()
    start = lines.index(heading)
    end = len(lines)
    for index in range(start + 1, len(lines)):
        match = re.match(r"^(#+) ", lines[index])
        if match and len(match.group(1)) <= level and not _in_fence(lines, index):
            end = index
            break
    return "\n".join(lines[start:end]).strip() + "\n"


def _in_fence(lines: list[str], index: int) -> bool:
    return sum(line.startswith("```") for line in lines[:index]) % 2 == 1


def source_text(repo: Path, topic: Topic) -> str:
    """What topic `topic` should contain, from the source checkout at `repo`."""
    text = (repo / topic.source).read_text(encoding="utf-8")
    if not topic.sections:
        return text
    return "\n".join(_section(text, heading) for heading in topic.sections)


def refresh(repo: Path) -> list[str]:
    """Rewrite the shipped topic files from the source checkout; the names of those that changed."""
    folder = Path(__file__).parent
    changed = []
    for topic in TOPICS:
        text = source_text(repo, topic)
        path = folder / f"{topic.name}.md"
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(topic.name)
    return changed
