"""The code model: what one Python file declares, and where it sits in a tree.

`FileModel` depends only on a file's bytes, so it is cached by content hash and shared by every
path that holds the same bytes; `Module` adds the location (dotted name, file, package-ness).
Everything normalized (defaults, annotations, values) is `ast.unparse` text, and every body is a
short hash of `ast.dump` without docstrings, so formatting, comments and quote style never show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from genops.semdiff.imports import place, resolve_relative

POSITIONAL_ONLY = "positional_only"
POSITIONAL_OR_KEYWORD = "positional_or_keyword"
VAR_POSITIONAL = "var_positional"
KEYWORD_ONLY = "keyword_only"
VAR_KEYWORD = "var_keyword"
POSITIONAL = frozenset({POSITIONAL_ONLY, POSITIONAL_OR_KEYWORD})
VARIADIC = frozenset({VAR_POSITIONAL, VAR_KEYWORD})

CLASS = "class"
FUNCTION = "function"
ATTRIBUTE = "attribute"
MODULE = "module"

MODEL_VERSION = 5  # bump when FileModel's meaning changes, so old cache entries are ignored

Field = tuple[str, "str | None", "str | None", str, "str | None"]
"""A class-level field as a generated constructor takes it: (name, annotation, default, flags, alias).
`default` is None when there is none; flags: "n" left out of `__init__`, "k" keyword-only, "c" a
ClassVar, "a" declared by a field call (`dataclasses.field`, `attr.ib`, `attrs.field`, pydantic `Field`)."""


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of a function, as a caller sees it."""

    name: str
    kind: str
    default: str | None = None
    annotation: str | None = None

    @property
    def required(self) -> bool:
        """A caller must pass it: no default and not variadic."""
        return self.default is None and self.kind not in VARIADIC

    def render(self) -> str:
        """Source-like text (`timeout: float = 5.0`) for reports."""
        star = "*" if self.kind == VAR_POSITIONAL else "**" if self.kind == VAR_KEYWORD else ""
        text = f"{star}{self.name}"
        if self.annotation is not None:
            text += f": {self.annotation}"
        if self.default is not None:
            text += f" = {self.default}" if self.annotation is not None else f"={self.default}"
        return text


@dataclass(slots=True)
class Obj:
    """A class, function, method or attribute; `qualname` is dotted inside its module."""

    qualname: str
    kind: str
    line: int
    params: tuple[Param, ...] = ()
    returns: str | None = None
    bases: tuple[str, ...] = ()
    value: str | None = None
    annotation: str | None = None
    body: str = ""  # hash of the normalized body (functions, class-level code) or value (attributes)
    content: str = ""  # hash used to pair a removed object with an added one (renames and moves)
    doc: str | None = None  # hash of the normalized docstring
    labels: tuple[str, ...] = ()
    trivial: bool = False  # body too small to pair renames on
    fields: tuple[Field, ...] = ()  # a class's own fields, for a dataclass-like constructor (see resolve.py)

    @property
    def name(self) -> str:
        """The last component of the qualified name."""
        return self.qualname.rpartition(".")[2]

    def signature(self) -> str:
        """A one-line rendering for reports."""
        if self.kind == FUNCTION:
            params = ", ".join(p.render() for p in self.params)
            ret = f" -> {self.returns}" if self.returns is not None else ""
            prefix = "async def" if "async" in self.labels else "def"
            return f"{prefix} {self.name}({params}){ret}"
        if self.kind == CLASS:
            return f"class {self.name}({', '.join(self.bases)})" if self.bases else f"class {self.name}"
        ann = f": {self.annotation}" if self.annotation is not None else ""
        if "property" in self.labels:
            return f"@property {self.name}{ann}"
        return f"{self.name}{ann} = {self.value}" if self.value is not None else f"{self.name}{ann}"


RawImport = tuple[int, str | None, tuple[str, ...], int, bool]
"""(level, module as written, imported names for `from` imports, line, at module top level)."""


@dataclass(slots=True)
class FileModel:
    """What a file's bytes declare; location-free so one cache entry serves every copy."""

    objects: dict[str, Obj] = field(default_factory=dict)
    aliases: dict[str, tuple[int, str, int]] = field(default_factory=dict)  # name -> (level, dotted, line)
    wildcards: tuple[tuple[int, str, int], ...] = ()
    exports: tuple[str, ...] | None = None  # `__all__`; "@name" entries refer to another `__all__`
    imports: tuple[RawImport, ...] = ()
    body: str = ""  # hash of module-level code that is not a member
    content: str = ""
    doc: str | None = None
    errors: tuple[tuple[str, int, str], ...] = ()  # (kind, line, message)
    version: int = MODEL_VERSION

    @property
    def parsed(self) -> bool:
        """False when the file could not be parsed, so its members are unknown, not absent."""
        return not any(kind == "syntax_error" for kind, _, _ in self.errors)


@dataclass
class Module:
    """A FileModel placed in a tree: the same bytes at another path is another module."""

    name: str
    file: str
    sha: str
    model: FileModel
    is_package: bool

    @classmethod
    def at(cls, file: str, sha: str, model: FileModel, package: str = "") -> Module:
        """Place a model at a POSIX path relative to the tree root (a root that is the package `package`)."""
        return cls(place(file, package), file, sha, model, file.rsplit("/", 1)[-1] == "__init__.py")

    @cached_property
    def alias_targets(self) -> dict[str, tuple[str, int]]:
        """Module-level imported names -> (absolute dotted target, line)."""
        out: dict[str, tuple[str, int]] = {}
        for name, (level, dotted, line) in self.model.aliases.items():
            target = self._absolute(level, dotted)
            if target is not None:
                out[name] = (target, line)
        return out

    @cached_property
    def wildcard_targets(self) -> list[tuple[str, int]]:
        """Modules star-imported at module level, made absolute, with their lines."""
        out = []
        for level, dotted, line in self.model.wildcards:
            target = self._absolute(level, dotted)
            if target is not None:
                out.append((target, line))
        return out

    def raw_imports(self) -> list[tuple[str, int, tuple[str, ...], bool]]:
        """Every import as (absolute base module, line, names, top level); relative ones resolved."""
        out = []
        for level, dotted, names, line, top in self.model.imports:
            base = self._absolute(level, dotted or "") if level else dotted
            if base is None or (not base and not names):
                continue
            out.append((base, line, names, top))
        return out

    def _absolute(self, level: int, dotted: str) -> str | None:
        """Absolute form of a possibly relative dotted name."""
        if not level:
            return dotted
        return resolve_relative(self.name, self.is_package, level, dotted or None)
