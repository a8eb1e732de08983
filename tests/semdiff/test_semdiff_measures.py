"""Issue 25's semantic diff classes, table-driven as griffe's own tests are: (old code, new code, expected kinds).

A package folder is read as its package (its absolute imports resolve, the same findings as from its
parent); a name leaving `__all__` is a breaking removal; a cycle closed by a relative import is
introduced; a dataclass's (attrs', pydantic's) fields are its constructor's signature. Each expected
set is (kind, path, breaking) of every change, cosmetic ones included. The dataclass cases griffe
can read are also checked against griffe itself, an oracle genops did not write.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from griffe_reference import griffe_breakages, unmatched
from semdiff_helpers import Tree, diff, findings, module, write_tree

from genops.render.semdiff import to_markdown
from genops.semdiff import Category, diff_trees
from genops.semdiff.classify import FILE_CLASSES, file_classes, sections
from genops.semdiff.imports import package_name

Case = tuple[str, "str | Tree", "str | Tree", set[tuple[str, str, bool]]]
M = "pkg.mod"
F = "def f():\n    return 1\n"
PKG = {"pkg/__init__.py": ""}
G = "def g():\n    return 2\n"

# --- `__all__` decides the public API: a name it stops listing left it
EXPORTS: list[Case] = [
    ("name_removed_from_all", "__all__ = ['f', 'g']\n" + F + G, "__all__ = ['g']\n" + F + G,
     {("object_removed", f"{M}.f", True), ("attribute_value_changed", f"{M}.__all__", False)}),
    ("all_added_leaving_a_name_out", F + G, "__all__ = ['g']\n" + F + G,
     {("object_removed", f"{M}.f", True), ("object_added", f"{M}.__all__", False)}),
    ("all_augmented_no_more", "__all__ = ['g']\n__all__ += ['f']\n" + F + G, "__all__ = ['g']\n" + F + G,
     {("object_removed", f"{M}.f", True), ("body_changed", M, False)}),
    ("name_added_to_all", "__all__ = ['g']\n" + F + G, "__all__ = ['f', 'g']\n" + F + G,
     {("attribute_value_changed", f"{M}.__all__", False)}),
    ("all_dropped_names_stay_public", "__all__ = ['g']\n" + F + G, F + G,
     {("object_removed", f"{M}.__all__", False)}),
    ("removed_with_its_object_once", "__all__ = ['f', 'g']\n" + F + G, "__all__ = ['g']\n" + G,
     {("object_removed", f"{M}.f", True), ("attribute_value_changed", f"{M}.__all__", False)}),
    ("private_module_all", {"pkg/__init__.py": "", "pkg/_impl.py": "__all__ = ['f', 'g']\n" + F + G},
     {"pkg/__init__.py": "", "pkg/_impl.py": "__all__ = ['g']\n" + F + G},
     {("attribute_value_changed", "pkg._impl.__all__", False)}),
    ("package_stops_reexporting", {"pkg/__init__.py": "from pkg.impl import f, g\n__all__ = ['f', 'g']\n",
                                   "pkg/impl.py": F + G},
     {"pkg/__init__.py": "from pkg.impl import f, g\n__all__ = ['g']\n", "pkg/impl.py": F + G},
     {("object_removed", "pkg.f", True), ("attribute_value_changed", "pkg.__all__", False)}),
    ("relative_reexport_dropped", {"pkg/__init__.py": "from .impl import f, g\n__all__ = ['f', 'g']\n",
                                   "pkg/impl.py": F + G},
     {"pkg/__init__.py": "from .impl import f, g\n__all__ = ['g']\n", "pkg/impl.py": F + G},
     {("object_removed", "pkg.f", True), ("attribute_value_changed", "pkg.__all__", False)}),
    ("moved_out_and_unexported", {**PKG, "pkg/mod.py": "__all__ = ['f', 'g']\n" + F + G, "pkg/impl.py": ""},
     {**PKG, "pkg/mod.py": "from pkg.impl import f\n__all__ = ['g']\n" + G, "pkg/impl.py": F},
     {("object_removed", f"{M}.f", True), ("object_added", "pkg.impl.f", False),
      ("attribute_value_changed", f"{M}.__all__", False), ("import_edge_added", M, False)}),
    ("star_reexport_narrowed", {"pkg/__init__.py": "from pkg.impl import *\n", "pkg/impl.py": F + G},
     {"pkg/__init__.py": "from pkg.impl import *\n", "pkg/impl.py": "__all__ = ['g']\n" + F + G},
     {("object_removed", "pkg.f", True), ("object_removed", "pkg.impl.f", True),
      ("object_added", "pkg.impl.__all__", False)}),
]

# --- import cycles closed by relative imports (at import time)
CYCLES: list[Case] = [
    ("from_dot_import_module", {**PKG, "pkg/a.py": "from . import b\n", "pkg/b.py": "X = 1\n"},
     {**PKG, "pkg/a.py": "from . import b\n", "pkg/b.py": "from . import a\nX = 1\n"},
     {("cycle_introduced", "pkg.a", False), ("import_edge_added", "pkg.b", False)}),
    ("through_the_package_init", {"pkg/__init__.py": "from . import a\nHELPER = 1\n", "pkg/a.py": "X = 1\n"},
     {"pkg/__init__.py": "from . import a\nHELPER = 1\n", "pkg/a.py": "from . import HELPER\nX = 1\n"},
     {("cycle_introduced", "pkg", False), ("import_edge_added", "pkg.a", False)}),
    ("two_dots", {**PKG, "pkg/b.py": "X = 1\n", "pkg/sub/__init__.py": "", "pkg/sub/a.py": "from .. import b\n"},
     {**PKG, "pkg/b.py": "from .sub import a\nX = 1\n", "pkg/sub/__init__.py": "",
      "pkg/sub/a.py": "from .. import b\n"},
     {("cycle_introduced", "pkg.b", False), ("import_edge_added", "pkg.b", False),
      ("package_edge_added", "pkg", False)}),
    ("new_cycle_inside_an_old_one", {**PKG, "pkg/a.py": "from . import b\n", "pkg/b.py": "from . import c\n",
                                     "pkg/c.py": "from . import a\n"},
     {**PKG, "pkg/a.py": "from . import b, c\n", "pkg/b.py": "from . import c\n", "pkg/c.py": "from . import a\n"},
     {("cycle_introduced", "pkg.a", False), ("import_edge_added", "pkg.a", False)}),
    ("cycle_grows", {**PKG, "pkg/a.py": "from . import b\n", "pkg/b.py": "from . import a\n", "pkg/c.py": ""},
     {**PKG, "pkg/a.py": "from . import b\n", "pkg/b.py": "from . import a, c\n", "pkg/c.py": "from . import b\n"},
     {("cycle_introduced", "pkg.a", False), ("import_edge_added", "pkg.b", False),
      ("import_edge_added", "pkg.c", False)}),
    ("cycle_shrinks", {**PKG, "pkg/a.py": "from . import b\n", "pkg/b.py": "from . import a, c\n",
                       "pkg/c.py": "from . import b\n"},
     {**PKG, "pkg/a.py": "from . import b\n", "pkg/b.py": "from . import a\n", "pkg/c.py": ""},
     {("cycle_removed", "pkg.a", False), ("import_edge_removed", "pkg.b", False),
      ("import_edge_removed", "pkg.c", False)}),
    ("inside_a_function_is_no_cycle", {**PKG, "pkg/a.py": "from . import b\n", "pkg/b.py": ""},
     {**PKG, "pkg/a.py": "from . import b\n", "pkg/b.py": "def f():\n    from . import a\n"},
     {("import_edge_added", "pkg.b", False), ("object_added", "pkg.b.f", False)}),
    ("root_package_without_a_name", {"__init__.py": "HELPER = 1\n", "a.py": "X = 1\n"},
     {"__init__.py": "from . import a\nHELPER = 1\n", "a.py": "from . import HELPER\nX = 1\n"},
     {("cycle_introduced", "__init__", False), ("import_edge_added", "__init__", False),
      ("import_edge_added", "a", False), ("package_edge_added", "__init__", False),
      ("package_edge_added", "<root>", False)}),
]

# --- generated constructors: the fields are the signature of `Class.__init__`
DC = "from dataclasses import KW_ONLY, dataclass, field\nfrom typing import ClassVar\n"
POINT = DC + "@dataclass\nclass P:\n    x: int\n    y: int = 0\n"
INIT = f"{M}.P.__init__"
BASE = DC + "@dataclass\nclass Base:\n    x: int\n"
CHILD = "from dataclasses import dataclass\nfrom pkg.base import Base\n@dataclass\nclass Child(Base):\n    y: int = 0\n"
PYD = "from pydantic import BaseModel, Field\n"
PYD_CHILD = "from pkg.base import Base\nclass Child(Base):\n    c: int = 0\n"
CONSTRUCTORS: list[Case] = [
    ("required_field_inserted_first", POINT, DC + "@dataclass\nclass P:\n    z: int\n    x: int\n    y: int = 0\n",
     {("parameter_added", INIT, True), ("parameter_moved", INIT, True), ("object_added", f"{M}.P.z", False)}),
    ("optional_field_appended", POINT, POINT + "    z: int = 1\n",
     {("parameter_added", INIT, False), ("object_added", f"{M}.P.z", False)}),
    ("fields_reordered", POINT, DC + "@dataclass\nclass P:\n    y: int = 0\n    x: int\n",
     {("parameter_moved", INIT, True)}),
    ("field_default_changed", POINT, DC + "@dataclass\nclass P:\n    x: int\n    y: int = 1\n",
     {("parameter_default_changed", INIT, True), ("attribute_value_changed", f"{M}.P.y", True)}),
    ("field_not_in_init", POINT, DC + "@dataclass\nclass P:\n    z: int = field(init=False)\n    x: int\n"
     "    y: int = 0\n", {("object_added", f"{M}.P.z", False)}),
    ("classvar_is_no_field", POINT, DC + "@dataclass\nclass P:\n    z: ClassVar[int] = 3\n    x: int\n    y: int = 0\n",
     {("object_added", f"{M}.P.z", False)}),
    ("default_factory", POINT, DC + "@dataclass\nclass P:\n    x: int\n    y: list = field(default_factory=list)\n",
     {("parameter_default_changed", INIT, True), ("parameter_annotation_changed", INIT, False),
      ("attribute_value_changed", f"{M}.P.y", True), ("attribute_annotation_changed", f"{M}.P.y", False)}),
    ("after_kw_only_sentinel", DC + "@dataclass\nclass P:\n    x: int\n    _: KW_ONLY\n    y: int = 0\n",
     DC + "@dataclass\nclass P:\n    x: int\n    _: KW_ONLY\n    w: int\n    y: int = 0\n",
     {("parameter_added", INIT, True), ("object_added", f"{M}.P.w", False)}),
    ("kw_only_decorator", DC + "@dataclass(kw_only=True)\nclass P:\n    x: int\n",
     DC + "@dataclass(kw_only=True)\nclass P:\n    w: int\n    x: int\n",
     {("parameter_added", INIT, True), ("object_added", f"{M}.P.w", False)}),
    ("module_qualified_decorator", "import dataclasses\n@dataclasses.dataclass(frozen=True)\nclass P:\n    x: int\n",
     "import dataclasses\n@dataclasses.dataclass(frozen=True)\nclass P:\n    w: int\n    x: int\n",
     {("parameter_added", INIT, True), ("parameter_moved", INIT, True), ("object_added", f"{M}.P.w", False)}),
    ("explicit_init_wins", DC + "@dataclass\nclass P:\n    x: int\n    def __init__(self, x):\n        self.x = x\n",
     DC + "@dataclass\nclass P:\n    w: int\n    x: int\n    def __init__(self, x):\n        self.x = x\n",
     {("object_added", f"{M}.P.w", False)}),
    ("plain_class_annotations_are_no_signature", "class P:\n    x: int\n", "class P:\n    w: int\n    x: int\n",
     {("object_added", f"{M}.P.w", False)}),
    ("explicit_init_became_generated", "class P:\n    def __init__(self, x, y=0):\n        self.x = x\n"
     "        self.y = y\n", DC + "@dataclass\nclass P:\n    y: int = 0\n    x: int = 1\n",
     {("parameter_moved", INIT, True), ("parameter_default_changed", INIT, False),
      ("parameter_annotation_changed", INIT, False), ("attribute_annotation_changed", f"{M}.P.x", False),
      ("attribute_annotation_changed", f"{M}.P.y", False), ("attribute_value_changed", f"{M}.P.x", False),
      ("attribute_value_changed", f"{M}.P.y", False), ("body_changed", f"{M}.P", False)}),
    ("base_field_inserted_in_another_module", {**PKG, "pkg/base.py": BASE, "pkg/child.py": CHILD},
     {**PKG, "pkg/base.py": DC + "@dataclass\nclass Base:\n    w: int\n    x: int\n", "pkg/child.py": CHILD},
     {("parameter_added", "pkg.base.Base.__init__", True), ("parameter_moved", "pkg.base.Base.__init__", True),
      ("parameter_added", "pkg.child.Child.__init__", True), ("parameter_moved", "pkg.child.Child.__init__", True),
      ("object_added", "pkg.base.Base.w", False)}),
    ("attrs_define", "from attrs import define\n@define\nclass P:\n    x: int\n",
     "from attrs import define\n@define\nclass P:\n    w: int\n    x: int\n",
     {("parameter_added", INIT, True), ("parameter_moved", INIT, True), ("object_added", f"{M}.P.w", False)}),
    ("attr_s_private_field_keeps_its_name", "import attr\n@attr.s\nclass P:\n    _x = attr.ib()\n",
     "import attr\n@attr.s\nclass P:\n    x = attr.ib()\n", {("object_renamed", f"{M}.P._x", False)}),
    ("attr_s_field_added", "import attr\n@attr.s\nclass P:\n    _x = attr.ib()\n",
     "import attr\n@attr.s\nclass P:\n    _x = attr.ib()\n    y = attr.ib()\n",
     {("parameter_added", INIT, True), ("object_added", f"{M}.P.y", False)}),
    ("pydantic_required_field", PYD + "class M(BaseModel):\n    a: int\n",
     PYD + "class M(BaseModel):\n    a: int\n    b: str = Field(...)\n",
     {("parameter_added", f"{M}.M.__init__", True), ("object_added", f"{M}.M.b", False)}),
    ("pydantic_optional_field", PYD + "class M(BaseModel):\n    a: int\n",
     PYD + "class M(BaseModel):\n    a: int\n    b: str = Field(default='x')\n",
     {("parameter_added", f"{M}.M.__init__", False), ("object_added", f"{M}.M.b", False)}),
    ("pydantic_private_attribute", PYD + "class M(BaseModel):\n    a: int\n",
     PYD + "class M(BaseModel):\n    a: int\n    _b: str\n", {("object_added", f"{M}.M._b", False)}),
    ("pydantic_base_in_another_module", {**PKG, "pkg/base.py": PYD + "class Base(BaseModel):\n    a: int\n",
                                         "pkg/child.py": PYD_CHILD},
     {**PKG, "pkg/base.py": PYD + "class Base(BaseModel):\n    a: int\n    b: int\n", "pkg/child.py": PYD_CHILD},
     {("parameter_added", "pkg.base.Base.__init__", True), ("parameter_added", "pkg.child.Child.__init__", True),
      ("object_added", "pkg.base.Base.b", False)}),
]


def _tree(code: str | Tree) -> Tree:
    return module(code) if isinstance(code, str) else code


@pytest.mark.parametrize(("old", "new", "expected"), [c[1:] for c in EXPORTS], ids=[c[0] for c in EXPORTS])
def test_exports(tmp_path: Path, old: str | Tree, new: str | Tree, expected: set[tuple[str, str, bool]]) -> None:
    assert findings(diff(tmp_path, _tree(old), _tree(new))) == expected


@pytest.mark.parametrize(("old", "new", "expected"), [c[1:] for c in CYCLES], ids=[c[0] for c in CYCLES])
def test_cycles(tmp_path: Path, old: str | Tree, new: str | Tree, expected: set[tuple[str, str, bool]]) -> None:
    assert findings(diff(tmp_path, _tree(old), _tree(new))) == expected


@pytest.mark.parametrize(("old", "new", "expected"), [c[1:] for c in CONSTRUCTORS], ids=[c[0] for c in CONSTRUCTORS])
def test_constructors(tmp_path: Path, old: str | Tree, new: str | Tree, expected: set[tuple[str, str, bool]]) -> None:
    assert findings(diff(tmp_path, _tree(old), _tree(new))) == expected


GRIFFE_READS = [c for c in CONSTRUCTORS if "from dataclasses import" in str(c[1]) or "dataclasses." in str(c[1])]


@pytest.mark.parametrize(("old", "new"), [c[1:3] for c in GRIFFE_READS], ids=[c[0] for c in GRIFFE_READS])
def test_constructors_against_griffe(tmp_path: Path, old: str | Tree, new: str | Tree) -> None:
    """griffe's dataclasses extension builds the same `__init__`: every breaking change it finds is found."""
    pytest.importorskip("griffe")
    old_tree, new_tree = _tree(old), _tree(new)
    result = diff(tmp_path, old_tree, new_tree)
    reference = griffe_breakages(tmp_path / "old", tmp_path / "new", "pkg")
    assert unmatched(reference, result) == []
    init_breaks = {path for _, path in reference if path.endswith(".__init__")}
    assert init_breaks == {c.path for c in result.breaking if c.path.endswith(".__init__")}


def test_a_required_field_first_breaks_positional_callers(tmp_path: Path) -> None:
    """The issue's case: what `P(1, 2)` meant has shifted, so the change is breaking and says how."""
    inserted = DC + "@dataclass\nclass P:\n    z: int\n    x: int\n    y: int = 0\n"
    result = diff(tmp_path, module(POINT), module(inserted))
    moved = {c.parameter: (c.old, c.new, c.detail) for c in result.changes if c.kind.value == "parameter_moved"}
    assert moved == {"x": ("x: int", "x: int", "parameter 'x' moved from position 1 to 2"),
                     "y": ("y: int = 0", "y: int = 0", "parameter 'y' moved from position 2 to 3")}
    added = next(c for c in result.changes if c.kind.value == "parameter_added")
    assert (added.parameter, added.new, added.breaking, added.file, added.line) == \
        ("z", "z: int", True, "pkg/mod.py", 4)


# --- a package folder is read as its package
LIB_OLD: Tree = {
    "app/__init__.py": "from app.core.models import Model\n__all__ = ['Model', 'VERSION']\nVERSION = 1\n",
    "app/core/__init__.py": "",
    "app/core/base.py": "class Base:\n    def save(self):\n        return 1\n    def delete(self):\n        return 2\n",
    "app/core/models.py": "from app.core.base import Base\nclass Model(Base):\n    pass\n",
    "app/core/cycle.py": "X = 1\n",
}
LIB_NEW: Tree = {
    **LIB_OLD,
    "app/__init__.py": "from app.core.models import Model\n__all__ = ['Model']\nVERSION = 1\n",
    "app/core/base.py": "class Base:\n    def save(self):\n        return 1\n",
    "app/core/cycle.py": "from . import models\nX = 1\n",
    "app/core/models.py": "from app.core.base import Base\nfrom . import cycle\nclass Model(Base):\n    pass\n",
}
FROM_ROOT = {
    ("object_removed", "app.core.base.Base.delete", True),
    ("object_removed", "app.core.models.Model.delete", True),  # inherited across modules: an absolute import
    ("object_removed", "app.VERSION", True),  # left `__all__`
    ("attribute_value_changed", "app.__all__", False),
    ("cycle_introduced", "app.core.cycle", False),
    ("import_edge_added", "app.core.cycle", False),
    ("import_edge_added", "app.core.models", False),
}


def _both(tmp_path: Path, old: Tree, new: Tree) -> tuple[Path, Path]:
    return write_tree(tmp_path / "old", old), write_tree(tmp_path / "new", new)


def test_package_folder_finds_what_its_parent_finds(tmp_path: Path) -> None:
    old, new = _both(tmp_path, LIB_OLD, LIB_NEW)
    from_root = findings(diff_trees(old, new, cache_dir=tmp_path / "cache"))
    from_folder = findings(diff_trees(old / "app", new / "app", cache_dir=tmp_path / "cache"))
    assert from_root >= FROM_ROOT and from_folder == from_root


def test_package_folder_is_named_as_python_names_it(tmp_path: Path) -> None:
    old, new = _both(tmp_path, {"src/app/__init__.py": "", "src/app/core/__init__.py": "",
                                "src/app/core/m.py": "def f(a):\n    return 1\n"},
                     {"src/app/__init__.py": "", "src/app/core/__init__.py": "", "src/app/core/m.py": "def f():\n"
                      "    return 1\n"})
    assert package_name(old / "src" / "app" / "core") == "app.core" and package_name(old / "src") == ""
    result = diff_trees(old / "src" / "app" / "core", new / "src" / "app" / "core", cache_dir=tmp_path / "cache")
    (change,) = result.changes
    assert (change.path, change.file) == ("app.core.m.f", "m.py")  # the file stays relative to the folder given


def test_folders_of_different_names_are_read_as_plain_roots(tmp_path: Path) -> None:
    old = write_tree(tmp_path / "v1", {"__init__.py": "", "m.py": "def f(a):\n    return 1\n"})
    new = write_tree(tmp_path / "v2", {"__init__.py": "", "m.py": "def f():\n    return 1\n"})
    (change,) = diff_trees(old, new, cache_dir=tmp_path / "cache").changes
    assert change.path == "m.f"


def test_package_own_imports_are_no_dependency(tmp_path: Path) -> None:
    old, new = _both(tmp_path, LIB_OLD, {**LIB_OLD, "app/extra.py": "import app.core.base\nimport requests\n"})
    changes = diff_trees(old / "app", new / "app", cache_dir=tmp_path / "cache").changes
    assert {c.path for c in changes if c.category is Category.DEPENDENCY} == {"requests"}


def test_stored_result_is_per_package_name(tmp_path: Path) -> None:
    """The same files read as a package and as a plain root are two different diffs, not one cached result."""
    files = {"__init__.py": "", "m.py": "def f(a):\n    return 1\n"}
    new_files = {"__init__.py": "", "m.py": "def f():\n    return 1\n"}
    write_tree(tmp_path / "a" / "lib", files)
    write_tree(tmp_path / "b" / "lib", new_files)
    write_tree(tmp_path / "c" / "v1", files)
    write_tree(tmp_path / "d" / "v2", new_files)
    cache = tmp_path / "cache"
    assert [c.path for c in diff_trees(tmp_path / "a" / "lib", tmp_path / "b" / "lib", cache_dir=cache).changes] \
        == ["lib.m.f"]
    assert [c.path for c in diff_trees(tmp_path / "c" / "v1", tmp_path / "d" / "v2", cache_dir=cache).changes] \
        == ["m.f"]


# --- one classification for diff, stability and the reviewer summary
def test_an_import_only_edit_is_architecture_everywhere(tmp_path: Path) -> None:
    from genops.release.stability import CLASSES, classify

    old, new = _both(tmp_path, {**PKG, "pkg/a.py": "X = 1\n", "pkg/b.py": "Y = 1\n", "pkg/c.py": "Z = 1\n"},
                     {**PKG, "pkg/a.py": "from pkg import b\nX = 1\n", "pkg/b.py": "Y = 1  # a comment\n",
                      "pkg/c.py": "import requests\nZ = 1\n"})
    result = diff_trees(old, new, cache_dir=tmp_path / "cache")
    assert {c.category for c in result.changes if c.file == "pkg/a.py"} == {Category.ARCHITECTURE}
    classes = classify(old, new)  # what `genops stability` reports
    assert classes == {"pkg/__init__.py": "identical", "pkg/a.py": "architecture", "pkg/b.py": "cosmetic",
                       "pkg/c.py": "dependency"}
    assert CLASSES == FILE_CLASSES and set(classes.values()) <= set(FILE_CLASSES)
    assert "### Architecture (1)" in to_markdown(result)  # the reviewer summary's section


def test_file_classes_take_the_most_severe_change(tmp_path: Path) -> None:
    old, new = _both(tmp_path, {**PKG, "pkg/a.py": "def f(a):\n    return 1\n", "pkg/b.py": "X = 1\n",
                                "pkg/data.txt": "one\n", "pkg/gone.py": ""},
                     {**PKG, "pkg/a.py": "import pkg.b\ndef f(a):\n    return a + 1\ndef g():\n    return 2\n",
                      "pkg/b.py": "X = (\n", "pkg/data.txt": "two\n", "pkg/new.py": ""})
    result = diff_trees(old, new, cache_dir=tmp_path / "cache")
    hashes = {}
    for side, root in (("old", old), ("new", new)):
        hashes[side] = {str(p.relative_to(root)): p.read_text() for p in root.rglob("*") if p.is_file()}
    assert file_classes(result, hashes["old"], hashes["new"]) == {
        "pkg/__init__.py": "identical", "pkg/a.py": "api", "pkg/b.py": "error", "pkg/data.txt": "behaviour",
        "pkg/gone.py": "removed", "pkg/new.py": "added"}


def test_sections_read_breaking_first_then_by_category(tmp_path: Path) -> None:
    result = diff(tmp_path, module("import json\n" + F + G), module("import os\n" + "def f(x):\n    return 1\n"
                                                                      + "def g():\n    return 3\n"))
    order = [(category.value if category else "breaking", [c.kind.value for c in changes])
             for category, changes in sections(result)]
    assert order == [("breaking", ["parameter_added"]), ("behaviour", ["body_changed"])]
