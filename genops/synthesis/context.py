"""Template context and message building for synthesis requests.

Every request starts with the same shared prefix, so provider prompt caching applies:

    system   system.j2    role, rules, the file protocol
    user     context.j2   specs, ADRs, the previous release's files and API, the blueprint
                          (marked `cache_prefix=True`: the end of the cacheable prefix)
    user     <task>.j2    blueprint.j2 | group.j2 | single.j2 (per-request instructions)

Templates come from the workspace's prompts/<name>.j2 when it has one, else from
genops/workspace/default_prompts/. Rendering is byte-deterministic for the same inputs: every
collection is sorted or in source order, and nothing machine-specific (absolute paths, times)
reaches a prompt, because the archive is keyed by the request hash and replay depends on it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import jinja2
import yaml

from genops.calls import Message
from genops.errors import ConfigError
from genops.protocol.files import LEGACY_PROTOCOL_HELP, render_protocol_help
from genops.synthesis.apisummary import api_summary, list_tree, read_tree
from genops.synthesis.blueprint import Blueprint, Group
from genops.workspace import Workspace
from genops.workspace.prompts import DEFAULT_FOLDER, DEFAULT_PROMPTS, TEMPLATE_VARIABLES, make_environment, render_with

TASK_TEMPLATES = ("system", "context", "blueprint", "group", "single", "repair", "continue",
                  "patch")

_default_env = make_environment(jinja2.FileSystemLoader(str(DEFAULT_PROMPTS)))


def render_template(ws: Workspace, name: str, context: dict[str, Any]) -> str:
    """prompts/<name>.j2 from the workspace if present, else the packaged default."""
    if name in ws.templates:
        return ws.render(name, context)
    if not (DEFAULT_PROMPTS / f"{name}.j2").is_file():
        raise ConfigError(f"prompts/{name}.j2", "template not found (no workspace template and "
                          "no packaged default)")
    return render_with(_default_env, DEFAULT_FOLDER, name, context)


def _adr_dict(adr: Any) -> dict[str, Any]:
    return {
        "id": adr.id, "title": adr.title, "status": adr.status, "context": adr.context,
        "decision": adr.decision, "consequences": adr.consequences,
        "requirements": list(adr.requirements), "rules": list(adr.rules),
        "rules_yaml": yaml.safe_dump(adr.rules, sort_keys=True, allow_unicode=True) if adr.rules
        else "",
    }


def _recorded_stores(root: Path, release: str | None) -> dict[str, Any]:
    """What the current release's migrations gate recorded per store (version, schema)."""
    path = root / ".genops" / "releases" / (release or "-") / "manifest.json"
    if not release or not path.is_file():
        return {}
    gates = json.loads(path.read_text(encoding="utf-8")).get("gates", [])
    entry: dict[str, Any] = next((g for g in gates if g.get("gate") == "migrations"), {})
    stores = entry.get("facts", {}).get("stores", {})
    return stores if isinstance(stores, dict) else {}


def migration_context(ws: Workspace, previous_tree: Path | None,
                      release: str | None) -> dict[str, Any]:
    """The `migrations` template variable: the contract's commands and, per declared store, its
    migration files in the current release and the version and schema its gate recorded.

    Read from committed files only (genops.toml, the release tree, its manifest), so rendering
    stays byte-deterministic for replay; empty `stores` when the workspace declares none."""
    cfg = ws.config.gates.migrations
    if not cfg.stores:
        return {"stores": [], "commands": {}, "contract": ""}
    recorded = _recorded_stores(Path(ws.root), release)
    stores = []
    for store in cfg.stores:
        folder = previous_tree / store.migrations if previous_tree and store.migrations else None
        files = sorted(p.name for p in folder.iterdir() if p.is_file()) \
            if folder is not None and folder.is_dir() else []
        facts = recorded.get(store.name, {})
        stores.append({"name": store.name, "path": store.path, "folder": store.migrations or "",
                       "files": files, "version": str(facts.get("to", "")),
                       "schema": str(facts.get("schema", ""))})
    commands = {verb: cfg.command(verb) for verb in ("up", "down", "version", "schema", "seed")}
    return {"stores": stores, "commands": commands, "contract": cfg.contract}


def group_dict(group: Group) -> dict[str, Any]:
    return group.model_dump()


def example_path(files: list[str]) -> str | None:
    """The real file a protocol example names: a module of the current release (not a package's
    `__init__.py`), else any of its files; None on a first release, which has no real path yet
    (the example then shows placeholders). One per run, so the shared prefix stays cacheable."""
    ordered = sorted(files)
    modules = [f for f in ordered if f.endswith(".py") and not f.endswith("__init__.py")]
    found = modules or ordered
    return found[0] if found else None


def base_context(ws: Workspace, previous_tree: Path | None, *,
                 release: str | None = None) -> dict[str, Any]:
    """Every template variable, filled from the workspace and the previous tree.

    Per-request variables (`blueprint`, `group`, `dependencies`, `file_contents`, `instruction`,
    `error`, `tail`) start empty; `request_context` fills them.
    """
    project = ws.config.project
    files = list_tree(previous_tree) if previous_tree is not None else []
    previous_sources = read_tree(previous_tree, [f for f in files if f.endswith(".py")]) \
        if previous_tree is not None else {}
    context: dict[str, Any] = {
        "project": project.model_dump(),
        "requirements": [{"id": r.id, "text": r.text, "file": r.file, "line": r.line}
                         for r in ws.requirements],
        "principles": ws.principles,
        "specs": {path: ws.spec_texts[path] for path in sorted(ws.spec_texts)},
        "adrs": [_adr_dict(a) for a in ws.active_adrs()],
        "release": release or "",
        "files": files,
        "api_summary": api_summary(previous_sources),
        "blueprint": None,
        "group": None,
        "dependencies": [],
        "file_contents": {},
        "instruction": "",
        "protocol": LEGACY_PROTOCOL_HELP,
        "file_protocol": render_protocol_help(example_path(files)),
        "error": "",
        "tail": "",
        "output_dir": project.output,
        "diff": "",
        "gates": "",  # the summary narrative's gate verdicts (genops.review.narrative)
        "package": project.package or "",
        "migrations": migration_context(ws, previous_tree, release),
        "selection": [],
        "interfaces": list(ws.extra.get("interfaces", [])),
    }
    missing = TEMPLATE_VARIABLES - context.keys()
    assert not missing, f"synthesis context lacks template variables {sorted(missing)}"
    return context


def dependency_interfaces(blueprint: Blueprint, group: Group,
                          generated: dict[str, str]) -> list[dict[str, Any]]:
    """The public interfaces of every group `group` depends on (transitively), from their files."""
    deps = []
    for dep in blueprint.closure(group.name):
        sources = {path: generated[path] for path in dep.files if path in generated}
        deps.append({"name": dep.name, "description": dep.description, "files": list(dep.files),
                     "interface": api_summary(sources)})
    return deps


def request_context(base: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """The base context with per-request variables set; unknown names are a programming error."""
    unknown = overrides.keys() - base.keys()
    assert not unknown, f"unknown template variables {sorted(unknown)}"
    return {**base, **overrides}


def shared_prefix(ws: Workspace, context: dict[str, Any]) -> tuple[Message, Message]:
    """The system message and the cacheable context message every request starts with.

    With a blueprint in the context (group requests), the context message also carries a cache
    breakpoint where the blueprint request's context ended (`cache_split`), so every group reads
    the cache entry the blueprint request wrote instead of writing its own.
    """
    consumed = interfaces_text(context.get("interfaces"))  # first: the blueprint split holds
    text = consumed + render_template(ws, "context", context)
    split = 0
    if context.get("blueprint") is not None:
        before = consumed + render_template(ws, "context", {**context, "blueprint": None})
        if before and len(before) < len(text) and text.startswith(before):
            split = len(before)
    return (Message("system", render_template(ws, "system", context)),
            Message("user", text, cache_prefix=True, cache_split=split))


def interfaces_text(interfaces: list[dict[str, Any]] | None) -> str:
    """The interfaces a federation member consumes, as read-only context (empty for none, so the
    requests of every other workspace render as before)."""
    if not interfaces:
        return ""
    out = ["## Interfaces this system consumes (read-only)", "",
           "Other members of the federation publish these interfaces. Call them as shown; never "
           "write their packages (" + ", ".join(sorted({m.split('.')[0] for i in interfaces
                                                        for m in i["python"]})) + ") into "
           "this tree: paths under them are refused.", ""]
    for item in interfaces:
        out.append(f"### {item['provider']} {item['version']} (this member accepts "
                   f"{item['range'] or 'any version'})")
        if item["python"]:
            out += ["", "Python modules: " + ", ".join(item["python"]), "", "```python",
                    item["surface"].rstrip(), "```"]
        for name, body in item["schemas"].items():
            out += ["", f"Message schema `{name}`:", "", "```json", body.rstrip(), "```"]
        out.append("")
    return "\n".join(out) + "\n"


def prefix_cache_key(prefix: tuple[Message, ...]) -> str:
    """A stable name for a shared prefix (recorded in each request, and so in its archive key)."""
    digest = hashlib.sha256()
    for message in prefix:
        digest.update(message.role.encode() + b"\0" + message.content.encode("utf-8") + b"\0")
    return "genops-" + digest.hexdigest()[:32]



def task_messages(ws: Workspace, task: str, context: dict[str, Any]) -> tuple[Message, ...]:
    """Shared prefix + the rendered task template (`blueprint`, `group`, `single`, `patch`)."""
    return (*shared_prefix(ws, context), Message("user", render_template(ws, task, context)))


def previous_contents(previous_tree: Path | None, paths: list[str]) -> dict[str, str]:
    """The previous release's text of `paths` that exist there (sorted), for stable regeneration."""
    if previous_tree is None:
        return {}
    existing = [p for p in sorted(paths) if (previous_tree / p).is_file()]
    return read_tree(previous_tree, existing)
