"""API, behaviour and cosmetic changes between the objects of matched modules; renames and moves.

`breaking` follows griffe's `find_breaking_changes` for objects public in OLD (see resolve.py):
removed object, removed/moved/renamed parameter, parameter kind made incompatible, changed or
removed default, new required parameter, removed return annotation, changed kind, removed base
class; plus, as the brief asks, a changed public attribute value. A removed object whose old path
still resolves in NEW (re-exported from its new home) is not breaking. A class whose constructor is
generated from its fields (dataclass, attrs, pydantic; see resolve.py) is compared through that
constructor as `Class.__init__`, as griffe's dataclasses extension presents it.
"""

from __future__ import annotations

from collections import defaultdict

from genops.semdiff.changes import Change, Kind
from genops.semdiff.model import (
    ATTRIBUTE,
    CLASS,
    FUNCTION,
    KEYWORD_ONLY,
    POSITIONAL,
    POSITIONAL_ONLY,
    POSITIONAL_OR_KEYWORD,
    VAR_KEYWORD,
    VAR_POSITIONAL,
    VARIADIC,
    Module,
    Obj,
    Param,
)
from genops.semdiff.resolve import TreeIndex, is_private, join

Placed = tuple[Module, Obj]


class ObjectComparer:
    """Collects object-level changes for module pairs, then pairs leftovers into renames/moves."""

    def __init__(self, old: TreeIndex, new: TreeIndex) -> None:
        self.old = old
        self.new = new
        self.changes: list[Change] = []
        self.removed: list[Placed] = []
        self.added: list[Placed] = []
        self.touched: set[str] = set()  # files of either side where a change was found

    def compare_module(self, om: Module, nm: Module) -> None:
        """Module docstring and module-level code, then every object of the pair."""
        path = om.name
        if om.model.doc != nm.model.doc:
            self._add(Kind.DOCSTRING_CHANGED, path, "module docstring changed", nm, 1)
        if om.model.body != nm.model.body:
            self._add(Kind.BODY_CHANGED, path, "module-level code changed", nm, 1)
        self.compare_scope(om, nm, "", "")

    def compare_scope(self, om: Module, nm: Module, old_prefix: str, new_prefix: str) -> None:
        """Objects under two qualname prefixes (a module, or a renamed class) compared by suffix."""
        olds = _under(om.model.objects, old_prefix)
        news = _under(nm.model.objects, new_prefix)
        for suffix, o in olds.items():
            n = news.get(suffix)
            if n is not None:
                self.compare_object(om, o, nm, n)
        gone, fresh = olds.keys() - news.keys(), news.keys() - olds.keys()
        if gone or fresh:
            self.touched.update((om.file, nm.file))
        self.removed.extend((om, olds[s]) for s in sorted(gone) if _parent(s) not in gone)
        self.added.extend((nm, news[s]) for s in sorted(fresh) if _parent(s) not in fresh)

    def compare_object(self, om: Module, o: Obj, nm: Module, n: Obj) -> None:
        """One object present on both sides (same path, or paired as a rename or move)."""
        path = join(om.name, o.qualname)
        public = path in self.old.public
        if o.kind != n.kind:
            self._add(Kind.OBJECT_KIND_CHANGED, path, f"{o.kind} became {n.kind}", nm, n.line,
                      breaking=public, old=o.signature(), new=n.signature())
            return
        if o.kind == FUNCTION:
            self._parameters(path, o, nm, n, public)
            self._returns(path, o, nm, n, public)
        elif o.kind == CLASS:
            self._bases(path, om, o, nm, n, public)
        elif o.annotation != n.annotation:
            self._add(Kind.ATTRIBUTE_ANNOTATION_CHANGED, path, "annotation changed", nm, n.line,
                      old=o.annotation, new=n.annotation)
        if o.body != n.body:
            plain = o.kind == ATTRIBUTE and "property" not in o.labels and "property" not in n.labels
            if plain and not public and o.name != "__all__":
                # not public API: callers cannot rely on it, but the code reading it now behaves differently
                self._add(Kind.BODY_CHANGED, path, "value of non-public attribute changed", nm, n.line,
                          old=o.value, new=n.value)
            elif plain:  # `__all__` is API (what `import *` gives) even where it is not itself exported
                breaking = public and o.name != "__all__" and "instance" not in o.labels
                self._add(Kind.ATTRIBUTE_VALUE_CHANGED, path, "value changed", nm, n.line, breaking=breaking,
                          old=o.value, new=n.value)
            else:
                what = {CLASS: "class-level code", FUNCTION: "body"}.get(o.kind, "property body")
                self._add(Kind.BODY_CHANGED, path, f"{what} changed", nm, n.line)
        if o.doc != n.doc:
            self._add(Kind.DOCSTRING_CHANGED, path, "docstring changed", nm, n.line)

    def pair_leftovers(self, removed_modules: list[Module], added_modules: list[Module]) -> None:
        """Pair removed and added objects with equal normalized bodies (renames/moves); report the rest."""
        candidates_old = self.removed + [(m, o) for m in removed_modules for o in _top(m)]
        candidates_new = self.added + [(m, o) for m in added_modules for o in _top(m)]
        by_old: dict[tuple[str, str], list[Placed]] = defaultdict(list)
        by_new: dict[tuple[str, str], list[Placed]] = defaultdict(list)
        for om, o in candidates_old:
            if not o.trivial:
                by_old[(o.kind, o.content)].append((om, o))
        for nm, n in candidates_new:
            if not n.trivial:
                by_new[(n.kind, n.content)].append((nm, n))
        paired_old: set[int] = set()
        paired_new: set[int] = set()
        for (om, o), (nm, n) in self._same_public_name(candidates_old, candidates_new):
            self._renamed(om, o, nm, n)
            paired_old.add(id(o))
            paired_new.add(id(n))
        for key, olds in by_old.items():
            olds = [(m, o) for m, o in olds if id(o) not in paired_old]
            news = [(m, n) for m, n in by_new.get(key, []) if id(n) not in paired_new]
            if len(olds) == 1 and len(news) == 1:
                (om, o), (nm, n) = olds[0], news[0]
                self._renamed(om, o, nm, n)
                paired_old.add(id(o))
                paired_new.add(id(n))
        for om, o in self.removed:  # grows while pairs are compared; removed modules' objects are not in it
            if id(o) not in paired_old:
                path = join(om.name, o.qualname)
                self._add(Kind.OBJECT_REMOVED, path, f"{o.kind} removed", om, o.line,
                          breaking=self._broken(path), old=o.signature())
        for nm, n in self.added:
            if id(n) not in paired_new:
                self._add(Kind.OBJECT_ADDED, join(nm.name, n.qualname), f"{n.kind} added", nm, n.line,
                          new=n.signature())

    def compare_constructors(self, changed: set[str]) -> None:
        """Generated constructors compared as `Class.__init__` parameters, for each class of a changed module or
        with a changed base (`changed`: OLD modules whose file changed or went away)."""
        if not (self.old.styled or self.new.styled):
            return
        covered: set[str] = set()
        for name, module in self.old.modules.items():
            for qualname, obj in module.model.objects.items():
                if obj.kind != CLASS or (name not in changed and not obj.bases) \
                        or not (self.old.may_generate(qualname) or self.new.may_generate(qualname)):
                    continue
                ref = (name, qualname)
                path = join(name, qualname)
                target = self.new.resolve(path)
                if target is None or not target[1] or self.new.kind_of(target) != CLASS \
                        or not (self.old.generated(ref) or self.new.generated(target)) \
                        or (name not in changed and not self.old.lineage(ref) & changed):
                    continue
                before, after = self.old.constructor(ref), self.new.constructor(target)
                if before is None or after is None or not (before[1] or after[1]) or before[0] == after[0]:
                    continue
                init = f"{path}.__init__"
                line = self.new.obj(target).line
                self._parameters(init, Obj(init, FUNCTION, obj.line, params=before[0]), self.new.modules[target[0]],
                                 Obj(init, FUNCTION, line, params=after[0]), path in self.old.public)
                if not before[1]:
                    covered.add(init)  # an explicit `__init__` replaced by a generated one: compared, not removed
        self.changes = [c for c in self.changes if not (c.kind is Kind.OBJECT_REMOVED and c.path in covered)]

    def _same_public_name(self, olds: list[Placed], news: list[Placed]) -> list[tuple[Placed, Placed]]:
        """A removed and an added object reached through the same module-level name on both sides
        (typically re-exported from a package whose implementation moved) are one object moved."""
        removed = {(m.name, o.qualname): (m, o) for m, o in olds}
        added = {(m.name, n.qualname): (m, n) for m, n in news}
        pairs = []
        for module in self.old.modules.keys() & self.new.modules.keys():
            for name, member in self.old.members(module).items():
                if member.kind != "alias":
                    continue
                before = self.old.resolve(f"{module}.{name}")
                if before not in removed:
                    continue
                after = self.new.resolve(f"{module}.{name}")
                if after in added and removed[before][1].kind == added[after][1].kind:
                    pairs.append((removed.pop(before), added.pop(after)))
        return pairs

    def _renamed(self, om: Module, o: Obj, nm: Module, n: Obj) -> None:
        """Report a rename (same parent) or move, then compare the pair as one object."""
        path, new_path = join(om.name, o.qualname), join(nm.name, n.qualname)
        same_parent = om.name == nm.name and _parent(o.qualname) == _parent(n.qualname)
        kind = Kind.OBJECT_RENAMED if same_parent else Kind.OBJECT_MOVED
        verb = f"renamed to '{n.name}'" if same_parent else f"moved to {new_path}"
        self._add(kind, path, f"{o.kind} {verb}", nm, n.line, breaking=self._broken(path), old=o.signature(),
                  new=n.signature(), new_path=new_path)
        self.compare_object(om, o, nm, n)
        if o.kind == CLASS:
            self.compare_scope(om, nm, o.qualname + ".", n.qualname + ".")

    def _broken(self, path: str) -> bool:
        """A public OLD path (by its own right, not only inherited) that NEW no longer resolves."""
        return path in self.old.own_public and self.new.resolve(path) is None

    def _parameters(self, path: str, o: Obj, nm: Module, n: Obj, public: bool) -> None:
        """griffe's parameter rules, plus renames, optional additions and annotation changes."""
        new_at: dict[str, tuple[int, Param]] = {}
        for index, param in enumerate(n.params):
            new_at.setdefault(param.name, (index, param))
        old_names = {p.name for p in o.params}
        kinds = {p.kind for p in n.params}
        renames = _parameter_renames(o.params, n.params, new_at, old_names)
        for index, op in enumerate(o.params):
            if op.name not in new_at:
                swallowed = _swallowed(op, VAR_POSITIONAL in kinds, VAR_KEYWORD in kinds)
                renamed = renames.get(op.name)
                if renamed is not None:
                    self._param(Kind.PARAMETER_RENAMED, path, op.name, f"parameter '{op.name}' renamed to "
                                f"'{renamed.name}'", nm, n, public and not swallowed, op, renamed)
                else:
                    self._param(Kind.PARAMETER_REMOVED, path, op.name, f"parameter '{op.name}' removed", nm, n,
                                public and not swallowed, op, None)
                continue
            new_index, np_ = new_at[op.name]
            self._changed_parameter(path, index, op, new_index, np_, nm, n, public, kinds)
        renamed_to = {p.name for p in renames.values()}
        for np_ in n.params:
            if np_.name not in old_names and np_.name not in renamed_to:
                need = "required " if np_.required else ""
                self._param(Kind.PARAMETER_ADDED, path, np_.name, f"{need}parameter '{np_.name}' added", nm, n,
                            public and np_.required, None, np_)

    def _changed_parameter(self, path: str, index: int, op: Param, new_index: int, np_: Param, nm: Module,
                           n: Obj, public: bool, kinds: set[str]) -> None:
        """A parameter present on both sides: required-ness, position, kind, default, annotation."""
        name = op.name
        if np_.required and not op.required:
            self._param(Kind.PARAMETER_DEFAULT_CHANGED, path, name, f"parameter '{name}' became required "
                        "(default removed)", nm, n, public, op, np_)
        elif op.required and not np_.required and op.kind not in VARIADIC and np_.kind not in VARIADIC:
            self._param(Kind.PARAMETER_DEFAULT_CHANGED, path, name, f"parameter '{name}' became optional",
                        nm, n, False, op, np_)
        if op.kind in POSITIONAL and np_.kind in POSITIONAL and new_index != index:
            self._param(Kind.PARAMETER_MOVED, path, name, f"parameter '{name}' moved from position {index} "
                        f"to {new_index}", nm, n, public, op, np_)
        if op.kind != np_.kind:
            bad = _incompatible_kind(op.kind, np_.kind, VAR_POSITIONAL in kinds, VAR_KEYWORD in kinds)
            self._param(Kind.PARAMETER_KIND_CHANGED, path, name, f"parameter '{name}' changed kind from "
                        f"{op.kind} to {np_.kind}", nm, n, public and bad, op, np_)
        if not op.required and not np_.required and op.kind not in VARIADIC and np_.kind not in VARIADIC \
                and op.default != np_.default:
            self._param(Kind.PARAMETER_DEFAULT_CHANGED, path, name, f"default of '{name}' changed", nm, n,
                        public, op, np_)
        if op.annotation != np_.annotation:
            self._param(Kind.PARAMETER_ANNOTATION_CHANGED, path, name, f"annotation of '{name}' changed", nm, n,
                        False, op, np_)

    def _returns(self, path: str, o: Obj, nm: Module, n: Obj, public: bool) -> None:
        """Return annotation; like griffe, only removing one is breaking."""
        if o.returns != n.returns:
            breaking = public and o.returns is not None and n.returns is None
            self._add(Kind.RETURN_ANNOTATION_CHANGED, path, "return annotation changed", nm, n.line,
                      breaking=breaking, old=o.returns, new=n.returns)

    def _bases(self, path: str, om: Module, o: Obj, nm: Module, n: Obj, public: bool) -> None:
        """Removed bases break isinstance checks, unless still inherited through a new base."""
        ancestors: set[str] | None = None
        for base in o.bases:
            if base not in n.bases:
                if ancestors is None:
                    ancestors = {join(*ref) for ref in self.new.mro((nm.name, n.qualname)) or ()}
                old_ref = self.old.resolve_in(om.name, base.split("[", 1)[0].strip().split("."))
                kept = old_ref is not None and join(*old_ref) in ancestors
                private = is_private(base.split("[", 1)[0].rpartition(".")[2].strip())
                detail = f"base class '{base}' removed" + (" (still inherited through another base)" if kept else "")
                self._add(Kind.BASE_CLASS_REMOVED, path, detail, nm, n.line,
                          breaking=public and not kept and not private,
                          old=", ".join(o.bases), new=", ".join(n.bases))
        for base in n.bases:
            if base not in o.bases:
                self._add(Kind.BASE_CLASS_ADDED, path, f"base class '{base}' added", nm, n.line,
                          old=", ".join(o.bases), new=", ".join(n.bases))

    def _param(self, kind: Kind, path: str, name: str, detail: str, nm: Module, n: Obj, breaking: bool,
               old: Param | None, new: Param | None) -> None:
        """Record a parameter change."""
        self.touched.add(nm.file)
        self.changes.append(Change(kind, path, detail, breaking, old.render() if old else None,
                                   new.render() if new else None, nm.file, n.line, parameter=name))

    def _add(self, kind: Kind, path: str, detail: str, module: Module, line: int, *, breaking: bool = False,
             old: str | None = None, new: str | None = None, new_path: str | None = None) -> None:
        """Record a change located in a module's file."""
        self.touched.add(module.file)
        self.changes.append(Change(kind, path, detail, breaking, old, new, module.file, line, new_path=new_path))


def _under(objects: dict[str, Obj], prefix: str) -> dict[str, Obj]:
    """Objects whose qualname starts with a prefix, keyed by the rest."""
    if not prefix:
        return objects
    size = len(prefix)
    return {q[size:]: o for q, o in objects.items() if q.startswith(prefix)}


def _parent(qualname: str) -> str:
    """The enclosing qualname ("" at module level)."""
    return qualname.rpartition(".")[0]


def _top(module: Module) -> list[Obj]:
    """Module-level objects of a module."""
    return [o for q, o in module.model.objects.items() if "." not in q]


def _swallowed(param: Param, has_args: bool, has_kwargs: bool) -> bool:
    """A removed parameter still accepted through `*args`/`**kwargs` (griffe's rule)."""
    return ((param.kind == KEYWORD_ONLY and has_kwargs) or (param.kind == POSITIONAL_ONLY and has_args)
            or (param.kind == POSITIONAL_OR_KEYWORD and has_args and has_kwargs))


def _incompatible_kind(old: str, new: str, has_args: bool, has_kwargs: bool) -> bool:
    """griffe's table of parameter kind changes that break callers."""
    return any((
        old == POSITIONAL_ONLY and new == KEYWORD_ONLY,
        old == KEYWORD_ONLY and new == POSITIONAL_ONLY,
        old == POSITIONAL_OR_KEYWORD and new in (POSITIONAL_ONLY, KEYWORD_ONLY),
        new == VAR_KEYWORD and old != KEYWORD_ONLY and not has_args,
        new == VAR_POSITIONAL and old != POSITIONAL_ONLY and not has_kwargs,
    ))


def _parameter_renames(old: tuple[Param, ...], new: tuple[Param, ...], new_at: dict[str, tuple[int, Param]],
                       old_names: set[str]) -> dict[str, Param]:
    """A removed and an added parameter at the same position, kind and default are one rename."""
    renames: dict[str, Param] = {}
    for index, op in enumerate(old):
        if op.name in new_at or index >= len(new):
            continue
        np_ = new[index]
        if np_.name not in old_names and np_.kind == op.kind and np_.default == op.default:
            renames[op.name] = np_
    return renames
