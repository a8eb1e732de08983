"""prompts/*.j2: jinja2 templates rendered in jinja2's sandbox with StrictUndefined.

Templates are checked at load time against the variables genops provides (`TEMPLATE_VARIABLES`),
so a typo in a template fails `genops` before any request is rendered or paid for. They render in
`ImmutableSandboxedEnvironment` from the sources loaded (nothing is re-read from disk), and an
attribute or item starting with `_` is refused at load: the known escapes (`cycler.__init__.
__globals__`, `self._TemplateReference__context`, `''.__class__.__mro__`...) all need one, and
whatever reaches the sandbox at render time is refused there. A template cannot reach `os`, the
process environment or any file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from genops.errors import ConfigError
from genops.workspace.inputs import check_inside

# The variables every template may use; the synthesis layer always provides all of them.
# The templates genops ships: used where a workspace's prompts/ has none, copied by `genops init`.
DEFAULT_PROMPTS = Path(__file__).parent / "default_prompts"
DEFAULT_FOLDER = "genops/workspace/default_prompts"  # how errors name a shipped template

TEMPLATE_VARIABLES = frozenset({
    "project", "requirements", "principles", "specs", "adrs", "release", "files", "api_summary",
    "blueprint", "group", "dependencies", "file_contents", "instruction", "protocol",
    "file_protocol", "error", "output_dir", "diff", "package", "tail", "selection", "migrations",
    "gates", "interfaces",
})
# jinja2's default globals a prompt has no use for; `lipsum` only serves as an escape handle.
_DROPPED_GLOBALS = ("lipsum",)
_HINT = "templates may use genops' variables and jinja2 filters, nothing starting with '_'"


def make_environment(loader: jinja2.BaseLoader) -> jinja2.Environment:
    """The one way genops builds a template environment: sandboxed, strict, no autoescape."""
    env = ImmutableSandboxedEnvironment(loader=loader, undefined=jinja2.StrictUndefined,
                                        keep_trailing_newline=True, autoescape=False)
    for name in _DROPPED_GLOBALS:
        env.globals.pop(name, None)
    return env


def source_loader(sources: dict[str, str], folder: str = "prompts") -> jinja2.BaseLoader:
    """Templates from loaded sources (`stem -> text`); tracebacks name `<folder>/<stem>.j2`."""
    def load(name: str) -> tuple[str, str, Callable[[], bool]] | None:
        stem = name.removesuffix(".j2")
        if stem not in sources:
            return None
        return sources[stem], f"{folder}/{stem}.j2", lambda: True

    return jinja2.FunctionLoader(load)


def _undefined_line(source: str, name: str) -> int | None:
    for lineno, line in enumerate(source.splitlines(), start=1):
        if name in line:
            return lineno
    return None


def _private_names(parsed: nodes.Template) -> Iterator[tuple[str, int]]:
    """Every `_name` a template reaches for: `.x`, `['x']` and `|attr('x')` with a leading `_`."""
    for node in parsed.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        name: object = None
        if isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            name = node.arg.value
        elif isinstance(node, nodes.Filter) and node.name == "attr" and node.args \
                and isinstance(node.args[0], nodes.Const):
            name = node.args[0].value
        if isinstance(name, str) and name.startswith("_"):
            yield name, node.lineno


def _refusals(parsed: nodes.Template, names: frozenset[str]) -> Iterator[tuple[str, int]]:
    """What a prompt never needs and an escape does, each with its line."""
    for name, line in _private_names(parsed):
        yield f"reaches for {name!r}", line
    for node in parsed.find_all(nodes.Filter):
        if node.name == "attr" and not (node.args and isinstance(node.args[0], nodes.Const)):
            yield "uses |attr with a computed name", node.lineno
    for call in parsed.find_all(nodes.Call):
        if isinstance(call.node, nodes.Getattr) and call.node.attr in ("format", "format_map"):
            yield f"calls .{call.node.attr}() (use the |format filter)", call.lineno
    for ref in parsed.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
        target = getattr(ref, "template", None)
        if not (isinstance(target, nodes.Const) and isinstance(target.value, str)
                and target.value.removesuffix(".j2") in names):
            shown = target.value if isinstance(target, nodes.Const) else "a computed name"
            yield f"loads {shown!r}, which is not a template of this folder", ref.lineno


def check_template(env: jinja2.Environment, rel: str, source: str,
                   names: frozenset[str] = frozenset()) -> None:
    """Syntax, sandbox refusals and unknown variables, each a ConfigError naming the line."""
    try:
        parsed = env.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(rel, f"template syntax error: {exc.message}", line=exc.lineno) from None
    for what, line in _refusals(parsed, names):
        raise ConfigError(rel, f"template {what}; the sandbox refuses it", line=line, hint=_HINT)
    unknown = sorted(meta.find_undeclared_variables(parsed) - TEMPLATE_VARIABLES)
    if unknown:
        name = unknown[0]
        raise ConfigError(rel, f"template uses undefined variable {name!r}",
                          line=_undefined_line(source, name),
                          hint="available: " + ", ".join(sorted(TEMPLATE_VARIABLES)))


def load_templates(root: Path) -> dict[str, str]:
    """Every prompts/*.j2 by stem, checked for syntax, unknown variables and sandbox escapes."""
    prompt_dir = root / "prompts"
    if not prompt_dir.is_dir():
        return {}
    env = make_environment(jinja2.DictLoader({}))
    templates: dict[str, str] = {}
    paths = sorted(prompt_dir.glob("*.j2"))
    names = frozenset(p.stem for p in paths)
    for path in paths:
        rel = check_inside(root, path)
        try:
            source = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(rel, f"not UTF-8 ({exc.reason} at byte {exc.start})",
                              hint="save the file as UTF-8") from None
        check_template(env, rel, source, names)
        templates[path.stem] = source
    return templates


def _template_line(tb: TracebackType | None, filename: str) -> int | None:
    """The template line jinja's rewritten traceback points at, if it does."""
    line = None
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name == filename or name.endswith("/" + filename):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def render_with(env: jinja2.Environment, folder: str, name: str, context: dict[str, Any]) -> str:
    """Render `<name>.j2` from `env`; template errors become ConfigErrors naming file and line."""
    rel = f"{folder}/{name}.j2"
    try:
        return env.get_template(f"{name}.j2").render(**context)
    except jinja2.TemplateNotFound:
        raise ConfigError(rel, "template not found", hint="run `genops init` to see the defaults") from None
    except SecurityError as exc:
        raise ConfigError(rel, f"template refused by the sandbox: {exc}",
                          line=_template_line(exc.__traceback__, rel), hint=_HINT) from None
    except jinja2.UndefinedError as exc:
        raise ConfigError(rel, f"template error: {exc.message}",
                          line=_template_line(exc.__traceback__, rel)) from None


def render(templates: dict[str, str], name: str, context: dict[str, Any]) -> str:
    """Render a loaded workspace template in the sandbox; any template error is a ConfigError."""
    return render_with(make_environment(source_loader(templates)), "prompts", name, context)
