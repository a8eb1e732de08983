"""prompts/*.j2: jinja2 templates rendered with StrictUndefined, so a missing variable is an error.

Templates are checked at load time against the variables genops provides (`TEMPLATE_VARIABLES`),
so a typo in a template fails `genops` before any request is rendered or paid for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta

from genops.errors import ConfigError

# The variables every template may use; the synthesis layer always provides all of them.
TEMPLATE_VARIABLES = frozenset({
    "project", "requirements", "principles", "specs", "adrs", "release", "files", "api_summary",
    "blueprint", "group", "dependencies", "file_contents", "instruction", "protocol", "error",
    "output_dir", "diff", "package", "tail", "selection",
})


def make_environment(prompt_dir: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(prompt_dir)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def _undefined_line(source: str, name: str) -> int | None:
    for lineno, line in enumerate(source.splitlines(), start=1):
        if name in line:
            return lineno
    return None


def load_templates(root: Path) -> dict[str, str]:
    """Every prompts/*.j2 by stem, checked for syntax and for variables genops does not provide."""
    prompt_dir = root / "prompts"
    if not prompt_dir.is_dir():
        return {}
    env = make_environment(prompt_dir)
    templates: dict[str, str] = {}
    for path in sorted(prompt_dir.glob("*.j2")):
        rel = path.relative_to(root).as_posix()
        source = path.read_text(encoding="utf-8")
        try:
            parsed = env.parse(source)
        except jinja2.TemplateSyntaxError as exc:
            raise ConfigError(rel, f"template syntax error: {exc.message}", line=exc.lineno) from None
        unknown = sorted(meta.find_undeclared_variables(parsed) - TEMPLATE_VARIABLES)
        if unknown:
            name = unknown[0]
            raise ConfigError(rel, f"template uses undefined variable {name!r}",
                              line=_undefined_line(source, name),
                              hint="available: " + ", ".join(sorted(TEMPLATE_VARIABLES)))
        templates[path.stem] = source
    return templates


def render(root: Path, name: str, context: dict[str, Any]) -> str:
    """Render prompts/<name>.j2; an undefined variable at render time is a ConfigError."""
    env = make_environment(root / "prompts")
    rel = f"prompts/{name}.j2"
    try:
        return env.get_template(f"{name}.j2").render(**context)
    except jinja2.TemplateNotFound:
        raise ConfigError(rel, "template not found", hint="run `genops init` to see the defaults") from None
    except jinja2.UndefinedError as exc:
        raise ConfigError(rel, f"template error: {exc.message}") from None
