"""Cross-module facts of one tree: members, `__all__`, aliases, inheritance and the public API.

The public API follows griffe's reading (the reference for `breaking`): a module is public unless
a component of its name starts with `_`; in a public module a member is public if listed in a
non-empty `__all__`, otherwise if its name is not private (`_x`, dunders stay public) and it was
not imported (star-imported names count as defined); a public class's members are public unless
private-named, inherited ones included; a public alias makes its target public wherever it lives.

A class without an `__init__` of its own whose constructor is generated from its fields (a
dataclass, an attrs class, a pydantic model) has that constructor as its signature
(`constructor`): like griffe's dataclasses extension, the fields of every such class in its MRO,
bases first, a redefined field keeping its first place, keyword-only fields last; attrs names a
private field `_x` as `x` (or its alias); a pydantic model takes its public fields by keyword only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from genops.semdiff.model import CLASS, FUNCTION, KEYWORD_ONLY, POSITIONAL_OR_KEYWORD, Field, Module, Obj, Param

_DOTTED = re.compile(r"^[A-Za-z_][\w.]*$")
MAX_ALIAS_DEPTH = 25
STYLES = ("dataclass", "attrs", "pydantic")
SELF = Param("self", POSITIONAL_OR_KEYWORD)

Ref = tuple[str, str]  # (module name, qualname in it; "" for the module itself)


@dataclass(frozen=True, slots=True)
class Member:
    """A name in a module's namespace: a defined object, an import, or a submodule."""

    kind: str  # "object" | "alias" | "module"
    target: str  # qualname, absolute dotted path, or module name
    line: int
    imported: bool = False  # explicit import (private by default); star-imports are not


def is_private(name: str) -> bool:
    """`_x` is private; dunders are special, hence public."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def join(module: str, qualname: str) -> str:
    """The dotted path of an object."""
    return f"{module}.{qualname}" if qualname else module


class TreeIndex:
    """Lazy, memoized lookups over a tree's modules."""

    def __init__(self, modules: dict[str, Module], public_refs: set[Ref] | None = None) -> None:
        self.modules = modules
        if public_refs is not None:
            self.__dict__["public_refs"] = public_refs  # precomputed (cached per tree state)
        self.submodules: dict[str, dict[str, str]] = {}
        for name in modules:
            parent, _, short = name.rpartition(".")
            if parent:
                self.submodules.setdefault(parent, {})[short] = name
        self._members: dict[str, dict[str, Member]] = {}
        self._exports: dict[str, list[str] | None] = {}
        self._children: dict[str, dict[str, list[str]]] = {}
        self._mro: dict[Ref, list[Ref] | None] = {}
        self._all: dict[Ref, dict[str, Ref]] = {}
        self._in_progress: set[str] = set()
        self._trail: set[str] | None = None  # modules consulted by the resolution under way
        self._trails: dict[Ref, frozenset[str]] = {}

    def children(self, module: str) -> dict[str, list[str]]:
        """Member names by parent qualname ("" for module level), in definition order."""
        cached = self._children.get(module)
        if cached is None:
            cached = {}
            for qualname in self.modules[module].model.objects:
                parent, _, name = qualname.rpartition(".")
                cached.setdefault(parent, []).append(name)
            self._children[module] = cached
        return cached

    def exports(self, module: str, seen: frozenset[str] = frozenset()) -> list[str] | None:
        """`__all__` with references to other modules' `__all__` spliced in (griffe's expansion)."""
        if module in self._exports:
            return self._exports[module]
        raw = self.modules[module].model.exports
        if raw is None:
            self._exports[module] = None
            return None
        out: list[str] = []
        aliases = self.modules[module].alias_targets
        for entry in raw:
            if not entry.startswith("@"):
                out.append(entry)
                continue
            head, _, tail = entry[1:].partition(".")
            canonical = aliases[head][0] + (f".{tail}" if tail else "") if head in aliases else f"{module}.{entry[1:]}"
            source = canonical.rsplit(".", 1)[0]
            if source in self.modules and source not in seen and source != module:
                out.extend(e for e in self.exports(source, seen | {module}) or [] if e not in out)
        self._exports[module] = out
        return out

    def members(self, module: str) -> dict[str, Member]:
        """A module's namespace: defs and assignments, imports, star-imports, then submodules."""
        if self._trail is not None:
            self._trail.add(module)
        cached = self._members.get(module)
        if cached is not None:
            return cached
        mod = self.modules[module]
        objects = mod.model.objects
        result: dict[str, Member] = {n: Member("object", n, objects[n].line, imported="imported" in objects[n].labels)
                                     for n in self.children(module).get("", ())}
        for name, (target, line) in mod.alias_targets.items():
            result[name] = Member("alias", target, line, imported=True)
        self._in_progress.add(module)
        for target, line in mod.wildcard_targets:
            if target in self.modules and target not in self._in_progress:
                for name in self.wildcard_exposed(target):
                    previous = result.get(name)
                    if previous is None or previous.line < line:
                        result[name] = Member("alias", f"{target}.{name}", line)
        self._in_progress.discard(module)
        for short, full in self.submodules.get(module, {}).items():
            result[short] = Member("module", full, 0)
        self._members[module] = result
        return result

    def wildcard_exposed(self, module: str) -> list[str]:
        """Names `from module import *` brings in."""
        members = self.members(module)
        exports = self.exports(module)
        if exports is not None:
            return [n for n in exports if n in members]
        imported = self.modules[module].alias_targets
        return [n for n, m in members.items()
                if not n.startswith("_") and (m.kind != "module" or n in imported)]

    def resolve(self, path: str, depth: int = 0) -> Ref | None:
        """Follow a dotted path through submodules and aliases to what it names in this tree."""
        if depth > MAX_ALIAS_DEPTH:
            return None
        parts = path.split(".")
        for cut in range(len(parts), 0, -1):
            module = ".".join(parts[:cut])
            if module in self.modules:
                return self.resolve_in(module, parts[cut:], depth)
        return None

    def resolve_in(self, module: str, rest: list[str], depth: int = 0) -> Ref | None:
        """Resolve `rest` (a list of names) inside a module's namespace."""
        if not rest:
            return (module, "")
        member = self.members(module).get(rest[0])
        if member is None:
            return None
        if member.kind == "module":
            return self.resolve_in(member.target, rest[1:], depth)
        if member.kind == "alias":
            return self.resolve(".".join([member.target, *rest[1:]]), depth + 1)
        objects = self.modules[module].model.objects
        qualname = rest[0]
        for part in rest[1:]:
            candidate = f"{qualname}.{part}"
            if candidate in objects:
                qualname = candidate
                continue
            if objects[qualname].kind != CLASS:
                return None
            owner = self.all_members((module, qualname)).get(part)  # inherited from a base
            if owner is None:
                return None
            module, qualname = owner[0], f"{owner[1]}.{part}"
            objects = self.modules[module].model.objects
        return (module, qualname)

    def kind_of(self, ref: Ref) -> str:
        """`module` or the object's kind."""
        module, qualname = ref
        return "module" if not qualname else self.modules[module].model.objects[qualname].kind

    def bases(self, ref: Ref) -> list[Ref]:
        """A class's bases that are classes of this tree, in order (and which modules decided that)."""
        module, qualname = ref
        outer, self._trail = self._trail, {module}
        out: list[Ref] = []
        try:
            for text in self.modules[module].model.objects[qualname].bases:
                name = text.split("[", 1)[0].strip()
                if not _DOTTED.match(name):
                    continue
                found = self.resolve_in(module, name.split("."))
                if found and found[1] and found != ref and self.kind_of(found) == CLASS:
                    out.append(found)
        finally:
            trail, self._trail = self._trail, outer
            if outer is not None:
                outer |= trail
        self._trails[ref] = frozenset(trail)
        return out

    def lineage(self, ref: Ref) -> set[str]:
        """Modules whose content decides a class's inherited members (its MRO and base lookups)."""
        modules: set[str] = set()
        for cls in self.mro(ref) or [ref]:
            modules |= self._trails.get(cls, frozenset({cls[0]}))
        return modules

    def mro(self, ref: Ref, seen: tuple[Ref, ...] = ()) -> list[Ref] | None:
        """C3 linearization (the class first); None when inconsistent or cyclic, as griffe gives up."""
        if ref in self._mro:
            return self._mro[ref]
        if ref in seen:
            return None
        bases = self.bases(ref)
        result: list[Ref] | None = [ref]
        if bases:
            lines = [self.mro(b, (*seen, ref)) for b in bases]
            complete = [line for line in lines if line is not None]
            merged = _c3_merge([*complete, bases]) if len(complete) == len(lines) else None
            result = None if merged is None else [ref, *merged]
        self._mro[ref] = result
        return result

    def all_members(self, ref: Ref) -> dict[str, Ref]:
        """A class's own and inherited member names -> the class that defines each (griffe's order)."""
        cached = self._all.get(ref)
        if cached is not None:
            return cached
        result: dict[str, Ref] = {}
        for owner in reversed(self.mro(ref) or [ref]):
            owner_module, owner_qualname = owner
            for name in self.children(owner_module).get(owner_qualname, ()):
                result[name] = owner
        self._all[ref] = result
        return result

    def obj(self, ref: Ref) -> Obj:
        """The object a (module, qualname) reference names."""
        return self.modules[ref[0]].model.objects[ref[1]]

    @cached_property
    def styled(self) -> dict[Ref, str]:
        """Classes labelled with a generated-constructor style (their own decorator, or a pydantic base) -> it."""
        out: dict[Ref, str] = {}
        for name, module in self.modules.items():
            for qualname, obj in module.model.objects.items():
                if obj.kind == CLASS and obj.labels:
                    style = next((s for s in STYLES if s in obj.labels), None)
                    if style is not None:
                        out[(name, qualname)] = style
        return out

    @cached_property
    def _generated_names(self) -> set[str]:
        """Short names of the styled classes and of every class with a base of such a name, transitively: a cheap
        over-approximation that spares the MRO of every other class."""
        names = {qualname.rpartition(".")[2] for _, qualname in self.styled}
        if not names:
            return names
        classes = [(o.qualname.rpartition(".")[2], {b.split("[", 1)[0].strip().rpartition(".")[2] for b in o.bases})
                   for m in self.modules.values() for o in m.model.objects.values() if o.kind == CLASS and o.bases]
        grew = True
        while grew:
            grew = False
            for name, bases in classes:
                if name not in names and not bases.isdisjoint(names):
                    names.add(name)
                    grew = True
        return names

    def may_generate(self, qualname: str) -> bool:
        """False when no class of that name can have a generated constructor here (by names alone)."""
        return bool(self.styled) and qualname.rpartition(".")[2] in self._generated_names

    def generated(self, ref: Ref) -> bool:
        """Whether a class or one of its ancestors has a generated-constructor style."""
        return self.may_generate(ref[1]) and any(c in self.styled for c in self.mro(ref) or [ref])

    def style(self, ref: Ref) -> str | None:
        """How the class's constructor is generated, if it is: its own decorator, or pydantic through a base."""
        own = self.styled.get(ref)
        if own is not None and own != "pydantic":
            return own
        return "pydantic" if any(self.styled.get(c) == "pydantic" for c in self.mro(ref) or [ref]) else None

    def constructor(self, ref: Ref) -> tuple[tuple[Param, ...], bool] | None:
        """(parameters of what `Class(...)` calls, whether they are generated from fields), from the first class
        of the MRO with an `__init__` of its own or a generated one; None when nothing in the tree decides."""
        for cls in self.mro(ref) or [ref]:
            init = self.modules[cls[0]].model.objects.get(f"{cls[1]}.__init__")
            if init is not None and init.kind == FUNCTION:
                return init.params, False
            style = self.style(cls) if self.generated(cls) else None
            if style is not None and (style == "pydantic" or "no_init" not in self.obj(cls).labels):
                return self._generated(cls, style), True
        return None

    def _generated(self, ref: Ref, style: str) -> tuple[Param, ...]:
        """The generated constructor's parameters (see module docstring)."""
        params: dict[str, Param] = {}
        for cls in reversed(self.mro(ref) or [ref]):
            if self.style(cls) != style or (style != "pydantic" and style not in self.obj(cls).labels):
                continue
            for param in _field_params(self.obj(cls), style):
                params[param.name] = param  # a redefined field keeps its first place
        ordered = sorted(params.values(), key=lambda p: p.kind == KEYWORD_ONLY)  # stable: keyword-only last
        return (SELF, *ordered)

    @cached_property
    def public(self) -> set[str]:
        """Dotted paths of every public module and object (griffe's rules, see module docstring)."""
        return {join(*ref) for ref in self.public_refs}

    @cached_property
    def public_refs(self) -> set[Ref]:
        """Every public module and object, as (module, qualname) where it is defined."""
        return set(self._reach)

    @cached_property
    def own_public(self) -> set[str]:
        """Dotted paths public without counting inheritance: a base class's member reached only as a public
        subclass's inherited member is not removed at its own path, only at the subclass's (griffe's paths)."""
        return {join(*ref) for ref, own in self._reach.items() if own}

    @cached_property
    def _reach(self) -> dict[Ref, bool]:
        """Modules and objects reachable from the public modules -> reachable without going through an
        inherited member (one walk for both: a ref first reached through inheritance is walked again when
        it turns out to be reachable directly too)."""
        queue: list[tuple[Ref, bool]] = [((name, ""), True) for name in self.modules
                                         if not any(p.startswith("_") for p in name.split("."))]
        seen: dict[Ref, bool] = {}
        while queue:
            ref, own = queue.pop()
            if ref in seen and (seen[ref] or not own):
                continue
            seen[ref] = own
            module, qualname = ref
            if not qualname:
                queue.extend((r, own) for r in self._public_members(module))
            elif self.modules[module].model.objects[qualname].kind == CLASS:
                queue.extend(((owner[0], f"{owner[1]}.{n}"), own and owner == ref)
                             for n, owner in self.all_members(ref).items() if not is_private(n))
        return seen

    def _public_members(self, module: str) -> list[Ref]:
        """What a public module exposes: its public objects and the targets of its public aliases."""
        exports = self.exports(module)
        out: list[Ref] = []
        for name, member in self.members(module).items():
            if member.kind == "module":
                continue  # submodules are public by their own names
            if exports:
                if name not in exports:
                    continue
            elif is_private(name) or member.imported:
                continue
            if member.kind == "object":
                out.append((module, name))
            else:
                target = self.resolve(member.target)
                if target is not None:
                    out.append(target)
        return out

    def public_names(self, module: str) -> dict[str, Member]:
        """The members griffe checks in a public module (by name), aliases included."""
        exports = self.exports(module)
        out = {}
        for name, member in self.members(module).items():
            if member.kind == "module":
                public = not name.startswith("_")
            elif exports:
                public = name in exports
            else:
                public = not is_private(name) and not member.imported
            if public:
                out[name] = member
        return out


def _field_params(cls: Obj, style: str) -> list[Param]:
    """A class's own fields as constructor parameters, in the given style."""
    labels = cls.labels
    fields: list[Field] = [f for f in cls.fields if "c" not in f[3] and "n" not in f[3]]
    if style == "attrs":
        declared_only = "attribs_only" in labels or ("auto_attribs" not in labels
                                                     and any(f[1] is None and "a" in f[3] for f in fields))
        fields = [f for f in fields if "a" in f[3]] if declared_only else [f for f in fields if f[1] is not None]
    else:
        fields = [f for f in fields if f[1] is not None]
    out = []
    for name, annotation, default, flags, alias in fields:
        if style == "pydantic":
            if name.startswith("_") or name == "model_config":
                continue
            out.append(Param(alias or name, KEYWORD_ONLY, default, annotation))
            continue
        if style == "attrs":
            name = alias or name.lstrip("_")
        kind = KEYWORD_ONLY if "k" in flags or "kw_only" in labels else POSITIONAL_OR_KEYWORD
        out.append(Param(name, kind, default, annotation))
    return out


def _c3_merge(sequences: list[list[Ref]]) -> list[Ref] | None:
    """Merge MRO lines the C3 way; None when no consistent order exists."""
    seqs = [list(s) for s in sequences if s]
    result: list[Ref] = []
    while seqs:
        for seq in seqs:
            head = seq[0]
            if not any(head in s[1:] for s in seqs):
                break
        else:
            return None
        result.append(head)
        for seq in seqs:
            if seq[0] == head:
                del seq[0]
        seqs = [s for s in seqs if s]
    return result
