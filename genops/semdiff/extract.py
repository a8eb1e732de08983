"""Turn one file's bytes into a FileModel with the stdlib `ast`, following griffe's visiting rules.

Like griffe's static visitor: members are the defs, classes and simple assignments found at module
or class level, including inside `if`/`try`/`for`/`with` blocks; `self.x = ...` in a class's
`__init__` makes an instance attribute; `@property` (and the stdlib cached properties) make an
attribute; `@overload` stubs are not members; a later definition replaces an earlier one except an
assignment under `if`/`except` that would replace an existing member. A class also records how a
generated constructor would read it: its style label (`dataclass`, `attrs`, `pydantic`, with the
decorator's `kw_only`/`init`/`auto_attribs` options) and its own fields in order (see resolve.py).
"""

from __future__ import annotations

import ast
import copy
import hashlib
import inspect
import io
import tokenize
from collections.abc import Sequence

from genops.semdiff.model import (
    ATTRIBUTE,
    CLASS,
    FUNCTION,
    KEYWORD_ONLY,
    POSITIONAL_ONLY,
    POSITIONAL_OR_KEYWORD,
    VAR_KEYWORD,
    VAR_POSITIONAL,
    Field,
    FileModel,
    Obj,
    Param,
    RawImport,
)

PROPERTY_DECORATORS = frozenset({"property", "functools.cached_property", "cached_property.cached_property"})
OVERLOAD_DECORATORS = frozenset({"typing.overload", "typing_extensions.overload"})
LABEL_DECORATORS = {"staticmethod": "staticmethod", "classmethod": "classmethod"}
COMPOUND: tuple[type[ast.stmt], ...] = (ast.If, ast.Try, ast.For, ast.AsyncFor, ast.While, ast.With,
                                         ast.AsyncWith, ast.Match, *([ast.TryStar] if hasattr(ast, "TryStar") else []))
DATACLASS_DECORATORS = frozenset({"dataclasses.dataclass", "pydantic.dataclasses.dataclass"})
ATTRS_DECORATORS = {  # decorator -> its auto_attribs default: None detects, as attrs does
    **dict.fromkeys(("attr.define", "attr.frozen", "attr.mutable", "attrs.define", "attrs.frozen",
                     "attrs.mutable"), None),
    **dict.fromkeys(("attr.s", "attr.attrs", "attr.attributes"), False), "attr.dataclass": True}
PYDANTIC_BASES = frozenset({"pydantic.BaseModel", "pydantic.main.BaseModel", "pydantic.v1.BaseModel",
                            "pydantic.v1.main.BaseModel"})
FIELD_CALLS = frozenset({"field", "Field", "ib", "attrib"})  # dataclasses/attrs/pydantic field declarations
VALUE_DISPLAY_LIMIT = 120
TRIVIAL_DUMP = 60  # normalized bodies shorter than this (`pass`, `...`, `return x`) never pair a rename


def digest(text: str) -> str:
    """A short stable hash of normalized text (the cache and comparisons only need identity)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=10).hexdigest()


_SKIP_FIELDS = frozenset({"ctx", "type_comment", "kind"})  # no meaning for behaviour (`kind` is the u"" prefix)
_FIELDS: dict[type, tuple[str, ...]] = {}
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _norm(node: ast.AST, out: list[str]) -> None:
    """Append a position-free serialization of a node (3x faster than `ast.dump`, same identity)."""
    cls = type(node)
    fields = _FIELDS.get(cls)
    if fields is None:
        fields = _FIELDS[cls] = tuple(f for f in cls._fields if f not in _SKIP_FIELDS)
    out.append(cls.__name__)
    for name in fields:
        value = getattr(node, name, None)
        if name == "body" and cls in _DEFS and isinstance(value, list):
            value = docstring(value)[1]  # nested docstrings are documentation, not behaviour
        if isinstance(value, ast.AST):
            _norm(value, out)
        elif isinstance(value, list):
            out.append("[")
            for item in value:
                if isinstance(item, ast.AST):
                    _norm(item, out)
                else:
                    out.append(repr(item))
            out.append("]")
        else:
            out.append(repr(value))
    out.append(")")


def norm(*groups: Sequence[ast.AST]) -> str:
    """Normalized text of node lists: equal exactly when the code is equal but for formatting."""
    out: list[str] = []
    for group in groups:
        for node in group:
            _norm(node, out)
        out.append("|")
    return "\x00".join(out)


def decode(data: bytes) -> tuple[str, tuple[str, int, str] | None]:
    """Decode source as Python would; fall back to latin-1 and say so when that fails."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return data.decode(encoding), None
    except (SyntaxError, LookupError, UnicodeDecodeError) as error:
        return data.decode("latin-1"), ("encoding_fallback", 1, f"not valid source encoding ({error}); read as latin-1")


def extract(data: bytes) -> FileModel:
    """The FileModel of a Python file's bytes; a file that does not parse yields an error entry."""
    text, decode_error = decode(data)
    errors = [decode_error] if decode_error else []
    try:
        tree = ast.parse(text)
    except SyntaxError as error:
        errors.append(("syntax_error", error.lineno or 1, error.msg))
        return FileModel(errors=tuple(errors))
    except (ValueError, RecursionError, MemoryError) as error:
        errors.append(("syntax_error", 1, str(error) or type(error).__name__))
        return FileModel(errors=tuple(errors))
    try:
        model = _Extractor().module(tree)
    except RecursionError:
        errors.append(("syntax_error", 1, "code nested too deeply to analyse"))
        return FileModel(errors=tuple(errors))
    model.errors = tuple(errors)
    return model


def docstring(body: list[ast.stmt]) -> tuple[str | None, list[ast.stmt]]:
    """Split a body into its normalized docstring (or None) and the statements after it."""
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        lines = [line.rstrip() for line in inspect.cleandoc(body[0].value.value).strip().splitlines()]
        return "\n".join(lines), body[1:]
    return None, body


def dotted(node: ast.expr) -> str | None:
    """`a.b.c` for a Name/Attribute chain (calls unwrapped), else None."""
    if isinstance(node, ast.Call):
        node = node.func
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def unparse(node: ast.AST | None) -> str | None:
    """Canonical source text of an expression (quotes, spacing and line breaks normalized)."""
    return None if node is None else ast.unparse(node)


def short(text: str | None) -> str | None:
    """Clip long values for display; comparisons use the body hash instead."""
    if text is None or len(text) <= VALUE_DISPLAY_LIMIT:
        return text
    return text[: VALUE_DISPLAY_LIMIT - 1] + "…"


def parameters(args: ast.arguments) -> tuple[Param, ...]:
    """The parameters in declaration order with griffe's kinds."""
    out: list[Param] = []
    positional = [*args.posonlyargs, *args.args]
    offset = len(positional) - len(args.defaults)
    for index, arg in enumerate(positional):
        kind = POSITIONAL_ONLY if index < len(args.posonlyargs) else POSITIONAL_OR_KEYWORD
        default = args.defaults[index - offset] if index >= offset else None
        out.append(Param(arg.arg, kind, unparse(default), unparse(arg.annotation)))
    if args.vararg:
        out.append(Param(args.vararg.arg, VAR_POSITIONAL, None, unparse(args.vararg.annotation)))
    for arg, kw_default in zip(args.kwonlyargs, args.kw_defaults, strict=False):
        out.append(Param(arg.arg, KEYWORD_ONLY, unparse(kw_default), unparse(arg.annotation)))
    if args.kwarg:
        out.append(Param(args.kwarg.arg, VAR_KEYWORD, None, unparse(args.kwarg.annotation)))
    return tuple(out)


def target_names(node: ast.Assign | ast.AnnAssign) -> list[str]:
    """Names assigned by a plain or annotated assignment (`x = ...`, `self.x = ...`), as griffe reads them."""
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    names = []
    for target in targets:
        name = dotted(target) if isinstance(target, (ast.Name, ast.Attribute)) else None
        if name:
            names.append(name)
    return names


def all_entries(node: ast.expr | None) -> list[str] | None:
    """`__all__` entries: literal names, and "@ref" for names whose own `__all__` gets spliced in."""
    if node is None:
        return []
    if isinstance(node, ast.Constant):
        return [node.value] if isinstance(node.value, str) else None
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        out: list[str] = []
        for element in node.elts:
            sub = all_entries(element.value if isinstance(element, ast.Starred) else element)
            if sub is None:
                return None
            out.extend(sub)
        return out
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = all_entries(node.left), all_entries(node.right)
        return None if left is None or right is None else left + right
    if isinstance(node, (ast.Name, ast.Attribute)):
        name = dotted(node)
        return [f"@{name}"] if name else None
    return None


class _Scope:
    """Members of a module or class while it is being visited (later definitions win)."""

    def __init__(self, prefix: str, is_class: bool) -> None:
        self.prefix = prefix
        self.is_class = is_class
        self.members: dict[str, Obj | str] = {}  # name -> object, or "alias" for an import
        self.nodes: dict[str, ast.stmt] = {}  # name -> the statement that defines the current member

    def set(self, name: str, member: Obj | str, node: ast.stmt) -> None:
        """Record a member, replacing any earlier one of the same name."""
        self.members.pop(name, None)  # keep definition order of the final member
        self.members[name] = member
        self.nodes[name] = node


class _Extractor:
    """One pass over a module's AST collecting members, imports, exports and body hashes."""

    def __init__(self) -> None:
        self.objects: dict[str, Obj] = {}
        self.aliases: dict[str, tuple[int, str, int]] = {}
        self.wildcards: list[tuple[int, str, int]] = []
        self.imports: list[RawImport] = []
        self.exports: list[str] | None = None
        self.exports_known = True
        self.imported: set[str] = set()  # module-level names bound by an import, even if reassigned later

    def module(self, tree: ast.Module) -> FileModel:
        """Visit a whole module."""
        doc, body = docstring(tree.body)
        scope = _Scope("", is_class=False)
        self._collect_imports(tree.body, top=True)  # before `block` puts placeholders in compound blocks
        rest = self.block(body, scope, None)
        self._finish_scope(scope)
        body_hash = digest(norm(_without_imports(rest)))  # an import edit is architecture, not behaviour
        top = sorted((name, m.content) for name, m in scope.members.items() if isinstance(m, Obj))
        exports = tuple(self.exports) if self.exports is not None and self.exports_known else None
        return FileModel(objects=self.objects, aliases=self.aliases, wildcards=tuple(self.wildcards),
                         exports=exports, imports=tuple(self.imports), body=body_hash,
                         content=digest(repr((body_hash, top))), doc=_hash_doc(doc))

    def block(self, stmts: list[ast.stmt], scope: _Scope, parent: ast.stmt | None) -> list[ast.stmt]:
        """Visit statements of a scope; return those that are not members (its 'rest' code)."""
        rest: list[ast.stmt] = []
        for stmt in stmts:
            if not self.statement(stmt, scope, parent) and not _filler(stmt):
                rest.append(stmt)
        return rest

    def statement(self, stmt: ast.stmt, scope: _Scope, parent: ast.stmt | None) -> bool:
        """Visit one statement; True when it became a member (so it leaves the rest code)."""
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return self.function(stmt, scope)
        if isinstance(stmt, ast.ClassDef):
            self.klass(stmt, scope)
            return True
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            return self.assignment(stmt, scope, parent)
        if isinstance(stmt, ast.AugAssign):
            self.augment_all(stmt, scope)
            return False
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            self.import_members(stmt, scope)
            return False
        if isinstance(stmt, COMPOUND):
            for child in _child_blocks(stmt):
                child_parent: ast.stmt | None = stmt if isinstance(stmt, ast.If) else None
                for index, sub in enumerate(child):
                    sub_parent = child_parent
                    if isinstance(stmt, ast.Try) and any(child is h.body for h in stmt.handlers):
                        sub_parent = stmt  # griffe prefers the no-exception definition
                    if self.statement(sub, scope, sub_parent):
                        child[index] = _placeholder(sub)
        return False

    def function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, scope: _Scope) -> bool:
        """A def: a function, a method, a property (attribute) or an overload stub (not a member)."""
        decorators = [self.decorator_path(d) for d in node.decorator_list]
        if any(d in OVERLOAD_DECORATORS for d in decorators):
            return False
        qualname = scope.prefix + node.name
        doc, body = docstring(node.body)
        body_text = norm(node.decorator_list, body)
        body_hash = digest(("async" if isinstance(node, ast.AsyncFunctionDef) else "") + body_text)
        existing = scope.members.get(node.name)
        if isinstance(existing, Obj) and "property" in existing.labels and (
                f"{node.name}.setter" in decorators or f"{node.name}.deleter" in decorators):
            existing.body = digest(existing.body + body_hash)  # a setter's code is the property's code
            existing.content = existing.body
            return True
        labels = tuple(sorted({LABEL_DECORATORS[d] for d in decorators if d in LABEL_DECORATORS}
                              | ({"async"} if isinstance(node, ast.AsyncFunctionDef) else set())))
        obj = Obj(qualname, FUNCTION, node.lineno, body=body_hash, content=body_hash, doc=_hash_doc(doc),
                  trivial=len(body_text) < TRIVIAL_DUMP, labels=labels)
        if any(d in PROPERTY_DECORATORS for d in decorators):  # griffe: a property is an attribute
            obj.kind, obj.annotation, obj.labels = ATTRIBUTE, unparse(node.returns), (*labels, "property")
        else:
            obj.params, obj.returns = parameters(node.args), unparse(node.returns)
        scope.set(node.name, obj, node)
        if scope.is_class and node.name == "__init__":
            self.instance_attributes(node.body, scope)
        return True

    def klass(self, node: ast.ClassDef, scope: _Scope) -> None:
        """A class: its own scope; its body hash covers decorators, keywords and non-member code."""
        qualname = scope.prefix + node.name
        doc, body = docstring(node.body)
        inner = _Scope(qualname + ".", is_class=True)
        obj = Obj(qualname, CLASS, node.lineno, bases=tuple(ast.unparse(b) for b in node.bases),
                  doc=_hash_doc(doc))
        scope.set(node.name, obj, node)
        rest = self.block(body, inner, None)
        self._finish_scope(inner)
        obj.body = digest(norm(node.decorator_list, node.keywords, rest))
        obj.labels = self.class_style(node, scope)
        if obj.labels or any(isinstance(stmt, ast.AnnAssign) for stmt in body):
            obj.fields = class_fields(body)
        members = sorted((name, m.content) for name, m in inner.members.items() if isinstance(m, Obj))
        obj.content = digest(repr((obj.body, obj.bases, members)))
        obj.trivial = not members and not rest

    def class_style(self, node: ast.ClassDef, scope: _Scope) -> tuple[str, ...]:
        """How a generated constructor reads the class: `dataclass`, `attrs` or `pydantic` (a direct
        BaseModel base, or a base of this file that is one), with the decorator's options."""
        labels: set[str] = set()
        for decorator in node.decorator_list:
            path = self.decorator_path(decorator)
            options = {k.arg: k.value for k in decorator.keywords if k.arg} if isinstance(decorator, ast.Call) else {}
            if path in DATACLASS_DECORATORS:
                labels.add("dataclass")
            elif path in ATTRS_DECORATORS:
                labels.add("attrs")
                auto = ATTRS_DECORATORS[path]
                if "auto_attribs" in options and isinstance(options["auto_attribs"], ast.Constant):
                    auto = bool(options["auto_attribs"].value)
                if auto is not None:
                    labels.add("auto_attribs" if auto else "attribs_only")
            else:
                continue
            if _constant(options.get("kw_only")) is True:
                labels.add("kw_only")
            if _constant(options.get("init")) is False:
                labels.add("no_init")
        for base in node.bases:
            path = self.decorator_path(base)
            local = scope.members.get(path)
            if path in PYDANTIC_BASES or (isinstance(local, Obj) and "pydantic" in local.labels):
                labels.add("pydantic")
        return tuple(sorted(labels))

    def assignment(self, node: ast.Assign | ast.AnnAssign, scope: _Scope, parent: ast.stmt | None) -> bool:
        """`x = v` / `x: T = v` at module or class level: an attribute (and `__all__` for exports)."""
        names = [n for n in target_names(node) if "." not in n]
        if not names:
            return False
        value = node.value
        annotation = unparse(node.annotation) if isinstance(node, ast.AnnAssign) else None
        value_hash = digest(norm([value])) if value is not None else ""
        made = False
        for name in names:
            if name in scope.members and parent is not None:
                continue  # griffe keeps the unconditional definition
            if not scope.is_class and name == "__all__":
                self.set_exports(all_entries(value))
            obj = Obj(scope.prefix + name, ATTRIBUTE, node.lineno, value=short(unparse(value)),
                      annotation=annotation, body=value_hash, content=value_hash,
                      trivial=value is None or len(value_hash) == 0 or isinstance(value, ast.Constant))
            scope.set(name, obj, node)
            made = True
        return made

    def instance_attributes(self, body: list[ast.stmt], scope: _Scope, conditional: bool = False) -> None:
        """`self.x = ...` anywhere in `__init__` (not in nested defs): instance attributes."""
        for stmt in body:
            if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                annotation = unparse(stmt.annotation) if isinstance(stmt, ast.AnnAssign) else None
                for name in target_names(stmt):
                    attr = name[5:] if name.startswith("self.") else ""
                    existing = scope.members.get(attr)
                    if not attr or "." in attr or (existing is not None and conditional):
                        continue
                    if isinstance(existing, Obj) and existing.kind == ATTRIBUTE:
                        continue  # a class-level attribute keeps its value; griffe only relabels it
                    scope.set(attr, Obj(scope.prefix + attr, ATTRIBUTE, stmt.lineno, annotation=annotation,
                                        labels=("instance",), trivial=True), stmt)
            elif isinstance(stmt, COMPOUND):
                for child in _child_blocks(stmt):
                    handler = isinstance(stmt, ast.Try) and any(child is h.body for h in stmt.handlers)
                    self.instance_attributes(child, scope, isinstance(stmt, ast.If) or handler)

    def import_members(self, node: ast.Import | ast.ImportFrom, scope: _Scope) -> None:
        """Imports make alias members (griffe's rules, including its `from . import x` skip)."""
        for alias in node.names:
            if isinstance(node, ast.Import):
                local = alias.asname or alias.name.split(".", 1)[0]
                target = alias.name if alias.asname else local
                level = 0
            else:
                level = node.level
                if alias.name == "*":
                    if not scope.is_class:
                        self.wildcards.append((level, node.module or "", node.lineno))
                    continue
                if not node.module and level == 1 and not alias.asname:
                    continue  # `from . import b`: griffe keeps the submodule itself as the member
                local = alias.asname or alias.name
                target = f"{node.module}.{alias.name}" if node.module else alias.name
            scope.set(local, "alias", node)
            if not scope.is_class:
                self.aliases[local] = (level, target, node.lineno)
                self.imported.add(local)

    def set_exports(self, entries: list[str] | None) -> None:
        """Record `__all__ = ...`; an unreadable one makes exports unknown (griffe then has none)."""
        if entries is None:
            self.exports, self.exports_known = [], False
        else:
            self.exports, self.exports_known = list(entries), True

    def augment_all(self, node: ast.AugAssign, scope: _Scope) -> None:
        """`__all__ += [...]`."""
        if scope.is_class or not isinstance(node.target, ast.Name) or node.target.id != "__all__" \
                or not isinstance(node.op, ast.Add) or self.exports is None:
            return
        entries = all_entries(node.value)
        if entries is not None:
            self.exports.extend(entries)

    def decorator_path(self, node: ast.expr) -> str:
        """The decorator's dotted path with its first name resolved through the imports seen so far."""
        path = dotted(node) or ""
        head, _, tail = path.partition(".")
        if head in self.aliases and self.aliases[head][0] == 0:
            target = self.aliases[head][1]
            return f"{target}.{tail}" if tail else target
        return path

    def _finish_scope(self, scope: _Scope) -> None:
        """Publish a scope's final object members into the flat qualname index."""
        if not scope.is_class:  # an import later replaced by a def is no alias any more
            self.aliases = {k: v for k, v in self.aliases.items() if scope.members.get(k) == "alias"}
        for name, member in scope.members.items():
            if isinstance(member, Obj):
                if not scope.is_class and name in self.imported:  # griffe: imported names stay private
                    member.labels = tuple(sorted({*member.labels, "imported"}))
                self.objects[scope.prefix + name] = member

    def _collect_imports(self, stmts: list[ast.stmt], top: bool) -> None:
        """Every import statement in the file (statements only, never expressions, for speed);
        `top` says whether it runs at import time (not in a def, not under `if TYPE_CHECKING:`)."""
        for stmt in stmts:
            if isinstance(stmt, ast.Import):
                for alias in stmt.names:
                    self.imports.append((0, alias.name, (), stmt.lineno, top))
            elif isinstance(stmt, ast.ImportFrom):
                names = tuple(a.name for a in stmt.names)
                self.imports.append((stmt.level, stmt.module, names, stmt.lineno, top))
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self._collect_imports(stmt.body, False)
            elif isinstance(stmt, ast.ClassDef):
                self._collect_imports(stmt.body, top)
            elif isinstance(stmt, ast.If) and dotted(stmt.test) in {"TYPE_CHECKING", "typing.TYPE_CHECKING"}:
                self._collect_imports(stmt.body, False)
                self._collect_imports(stmt.orelse, top)
            elif isinstance(stmt, COMPOUND):
                for block in _child_blocks(stmt):
                    self._collect_imports(block, top)


def class_fields(body: list[ast.stmt]) -> tuple[Field, ...]:
    """A class body's own fields in order: annotated names, and names assigned a field call (attrs)."""
    out: list[Field] = []
    keyword_only = False
    for stmt in body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            annotation = ast.unparse(stmt.annotation)
            head = annotation.split("[", 1)[0].strip()
            if head in ("KW_ONLY", "dataclasses.KW_ONLY"):
                keyword_only = True  # the sentinel: later fields are keyword-only
                continue
            default, flags, alias = _field_value(stmt.value)
            flags += "c" if head.rpartition(".")[2] == "ClassVar" else ""
            out.append((stmt.target.id, annotation, default, flags + ("k" if keyword_only else ""), alias))
        elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name) \
                and _field_call(stmt.value):
            default, flags, alias = _field_value(stmt.value)
            out.append((stmt.targets[0].id, None, default, flags, alias))
    return tuple(out)


def _field_call(node: ast.expr | None) -> bool:
    """`field(...)`, `attr.ib(...)`, `attrs.field(...)`, `Field(...)`: a field declaration."""
    return isinstance(node, ast.Call) and (dotted(node.func) or "").rpartition(".")[2] in FIELD_CALLS


def _field_value(node: ast.expr | None) -> tuple[str | None, str, str | None]:
    """(default as source text or None, flags, alias) of a field's assigned value."""
    if node is None:
        return None, "", None
    if not isinstance(node, ast.Call) or not _field_call(node):
        return unparse(node), "", None
    options = {k.arg: k.value for k in node.keywords if k.arg}
    default = None
    if "default" in options:
        default = unparse(options["default"])
    elif "default_factory" in options or "factory" in options:
        default = f"{unparse(options.get('default_factory') or options['factory'])}()"
    elif node.args and (dotted(node.func) or "").rpartition(".")[2] in ("Field", "ib", "attrib"):
        default = unparse(node.args[0])  # pydantic's and attrs' first positional is the default
    if default == "...":
        default = None  # pydantic's `Field(...)`: required
    flags = "a" + ("n" if _constant(options.get("init")) is False else "") \
        + ("k" if _constant(options.get("kw_only")) is True else "")
    alias = _constant(options.get("alias"))
    return default, flags, alias if isinstance(alias, str) else None


def _constant(node: ast.expr | None) -> object:
    """A literal option's value (`kw_only=True`), or None."""
    return node.value if isinstance(node, ast.Constant) else None


def _without_imports(stmts: list[ast.stmt]) -> list[ast.stmt]:
    """Module-level code minus its import statements, also inside `if`/`try`/`with` blocks (the blocks are
    copied, not changed): what the module does when imported, apart from what it imports."""
    out: list[ast.stmt] = []
    for stmt in stmts:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(stmt, COMPOUND):
            stmt = copy.copy(stmt)
            for name in ("body", "orelse", "finalbody"):
                if getattr(stmt, name, None):
                    setattr(stmt, name, _without_imports(getattr(stmt, name)))
            if getattr(stmt, "handlers", None):
                stmt.handlers = [_handler_without_imports(h) for h in stmt.handlers]  # type: ignore[attr-defined]
        out.append(stmt)
    return out


def _handler_without_imports(handler: ast.excepthandler) -> ast.excepthandler:
    """An `except` clause minus its imports."""
    handler = copy.copy(handler)
    handler.body = _without_imports(handler.body)  # type: ignore[attr-defined]
    return handler


def _filler(stmt: ast.stmt) -> bool:
    """`pass` and `...` placeholders do nothing; a class losing its last method must not change them."""
    return isinstance(stmt, ast.Pass) or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
                                         and stmt.value.value is Ellipsis)


def _hash_doc(doc: str | None) -> str | None:
    """Docstrings are compared by hash of their normalized text."""
    return None if doc is None else digest(doc)


def _child_blocks(stmt: ast.stmt) -> list[list[ast.stmt]]:
    """The statement lists nested directly in a compound statement."""
    blocks = [getattr(stmt, name) for name in ("body", "orelse", "finalbody") if getattr(stmt, name, None)]
    for handler in getattr(stmt, "handlers", ()):
        blocks.append(handler.body)
    for case in getattr(stmt, "cases", ()):
        blocks.append(case.body)
    return blocks


def _placeholder(stmt: ast.stmt) -> ast.stmt:
    """Stands for a member inside a compound block, so the block's hash ignores the member's body."""
    if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
        name = ",".join(target_names(stmt))
    else:
        name = getattr(stmt, "name", "?")
    return ast.Expr(ast.Name(id=f"<member {name}>", ctx=ast.Load()))
