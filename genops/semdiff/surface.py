"""Public-surface removals no single module shows: inherited members, re-exported and unexported names.

griffe checks a public class through all its members, inherited ones included, so a method
removed from a base class (or a base dropped) is a removal on every public subclass; and a public
module's re-exported names (`__all__` aliases, star-imports) are part of its API too. A name that
stays in a module but leaves its `__all__` has left the public API by the rule that decides it
(`from module import *` stops binding it), so it is a breaking removal too.
"""

from __future__ import annotations

from genops.semdiff.changes import Change, Kind
from genops.semdiff.model import CLASS
from genops.semdiff.resolve import TreeIndex, is_private, join


def surface_changes(old: TreeIndex, new: TreeIndex, changed: set[str]) -> list[Change]:
    """Breaking removals of inherited members and of re-exported names (`changed`: OLD modules whose
    file changed or went away; nothing else can change what a class inherits or a module re-exports)."""
    return [*_inherited_removals(old, new, changed), *_reexport_removals(old, new, changed),
            *_unexported(old, new, changed)]


def moved_module_changes(old: TreeIndex, new: TreeIndex, moved: dict[str, str]) -> list[Change]:
    """A module moved (or renamed) at the API level: `import old.name` and every public name defined in it
    now fail for callers, unless NEW still resolves the old path (a stub re-exporting from the new home)."""
    changes = []
    for old_name, new_name in sorted(moved.items()):
        module = new.modules[new_name]
        same_parent = old_name.rpartition(".")[0] == new_name.rpartition(".")[0]
        kind = Kind.OBJECT_RENAMED if same_parent else Kind.OBJECT_MOVED
        changes.append(Change(kind, old_name, f"module {'renamed' if same_parent else 'moved'} to {new_name}",
                              _broken(old, new, old_name), old.modules[old_name].file, module.file, module.file, 1,
                              new_path=new_name))
        if (old_name, "") not in old.public_refs:
            continue
        before, after = old.modules[old_name].model.objects, module.model.objects
        for name, member in old.public_names(old_name).items():
            if member.kind != "object" or name not in after:
                continue  # removed objects are reported by the module comparison; aliases by their home
            path = f"{old_name}.{name}"
            changes.append(Change(Kind.OBJECT_MOVED, path, f"{after[name].kind} moved with its module to {new_name}",
                                  _broken(old, new, path), before[name].signature(), after[name].signature(),
                                  module.file, after[name].line, new_path=f"{new_name}.{name}"))
    return changes


def _broken(old: TreeIndex, new: TreeIndex, path: str) -> bool:
    """A public OLD path that NEW no longer resolves."""
    return path in old.public and new.resolve(path) is None


def _inherited_removals(old: TreeIndex, new: TreeIndex, changed: set[str]) -> list[Change]:
    """Public classes that no longer offer a member they used to inherit."""
    changes = []
    for ref in sorted(old.public_refs):
        module, qualname = ref
        if not qualname or old.modules[module].model.objects[qualname].kind != CLASS:
            continue
        if not old.lineage(ref) & changed:
            continue
        path = join(module, qualname)
        counterpart = new.resolve(path)
        if counterpart is None or new.kind_of(counterpart) != CLASS:
            continue
        new_all = new.all_members(counterpart)
        new_module = new.modules[counterpart[0]]
        line = new_module.model.objects[counterpart[1]].line
        for name, owner in old.all_members(ref).items():
            if owner == ref or name in new_all or is_private(name):
                continue
            where_module, where = owner[0], f"{owner[1]}.{name}"
            source = old.modules[where_module].model.objects[where]
            origin = join(where_module, where)
            changes.append(Change(Kind.OBJECT_REMOVED, f"{path}.{name}",
                                  f"inherited {source.kind} '{name}' (from {origin}) no longer available", True,
                                  source.signature(), None, new_module.file, line, origin=origin))
    return changes


def _reexport_removals(old: TreeIndex, new: TreeIndex, changed: set[str]) -> list[Change]:
    """Public names a module re-exported (imports in `__all__`, star-imports) that are gone."""
    changes = []
    for module in sorted(old.modules):
        if (module, "") not in old.public_refs or module not in new.modules:
            continue
        if module not in changed and not any(t in changed for t, _ in old.modules[module].wildcard_targets):
            continue
        new_members = new.members(module)
        for name, member in old.public_names(module).items():
            if member.kind != "alias" or name in new_members:
                continue
            changes.append(Change(Kind.OBJECT_REMOVED, f"{module}.{name}", f"re-exported name '{name}' (from "
                                  f"{member.target}) removed", True, member.target, None,
                                  new.modules[module].file, 1))
    return changes


def _unexported(old: TreeIndex, new: TreeIndex, changed: set[str]) -> list[Change]:
    """Public names a module still has but its new `__all__` no longer lists (removed from it, or an
    `__all__` added that leaves them out): breaking removals from the public API."""
    changes = []
    for module in sorted(old.modules):
        if (module, "") not in old.public_refs or module not in new.modules or not new.exports(module):
            continue
        mod = old.modules[module]
        if module not in changed and not any(t in changed for t, _ in mod.wildcard_targets) \
                and not any(e.startswith("@") for e in new.modules[module].model.exports or ()):
            continue
        new_members, new_public = new.members(module), new.public_names(module)
        listed = "no longer lists it" if old.exports(module) else "was added and does not list it"
        for name, member in old.public_names(module).items():
            after = new_members.get(name)
            if after is None or name in new_public or member.kind == "module":
                continue  # gone names are removals of their own; submodules stay importable
            what = member.target if member.kind == "alias" else f"{module}.{name}"
            changes.append(Change(Kind.OBJECT_REMOVED, f"{module}.{name}", f"'{name}' left the public API: "
                                  f"'__all__' {listed}", True, what, None, new.modules[module].file,
                                  after.line or 1))
    return changes
