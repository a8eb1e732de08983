"""Every kind of the contract, table-driven: (old source, new source, expected (kind, path, breaking))."""

from __future__ import annotations

from pathlib import Path

import pytest
from semdiff_helpers import Tree, diff, findings, module

from genops.semdiff import Kind

M = "pkg.mod"
BODY = "def {name}(x):\n    y = x * 2 + len(str(x))\n    return [y, y + 1, 'done']\n"

# (id, old, new, expected); a str is the source of pkg/mod.py, a dict a whole tree.
CASES: list[tuple[str, str | Tree, str | Tree, set[tuple[str, str, bool]]]] = [
    # --- api: objects
    ("object_added", "", "def f():\n    return 1\n", {("object_added", f"{M}.f", False)}),
    ("object_removed", "def f():\n    return 1\n", "", {("object_removed", f"{M}.f", True)}),
    ("private_removed", "def _f():\n    return 1\n", "", {("object_removed", f"{M}._f", False)}),
    ("not_in_all_removed", "__all__ = ['g']\ndef f():\n    return 1\ndef g():\n    return 2\n",
     "__all__ = ['g']\ndef g():\n    return 2\n", {("object_removed", f"{M}.f", False)}),
    ("object_renamed", BODY.format(name="f"), BODY.format(name="g"), {("object_renamed", f"{M}.f", True)}),
    ("object_moved", {"pkg/__init__.py": "", "pkg/a.py": BODY.format(name="f"), "pkg/b.py": "X = 1\n"},
     {"pkg/__init__.py": "", "pkg/a.py": "", "pkg/b.py": "X = 1\n" + BODY.format(name="f")},
     {("object_moved", "pkg.a.f", True)}),
    ("moved_but_reexported", {"pkg/__init__.py": BODY.format(name="f"), "pkg/impl.py": ""},
     {"pkg/__init__.py": "from pkg.impl import f\n", "pkg/impl.py": BODY.format(name="f")},
     {("object_moved", "pkg.f", False), ("import_edge_added", "pkg", False)}),
    ("object_kind_changed", "def f():\n    return 1\n", "f = 1\n", {("object_kind_changed", f"{M}.f", True)}),
    ("method_became_property", "class C:\n    def v(self):\n        return 1\n",
     "class C:\n    @property\n    def v(self):\n        return 1\n", {("object_kind_changed", f"{M}.C.v", True)}),
    ("method_removed", "class C:\n    def m(self):\n        return 1\n    def n(self):\n        return 2\n",
     "class C:\n    def n(self):\n        return 2\n", {("object_removed", f"{M}.C.m", True)}),
    ("instance_attribute_removed", "class C:\n    def __init__(self):\n        self.a = 1\n        self.b = 2\n",
     "class C:\n    def __init__(self):\n        self.a = 1\n",
     {("object_removed", f"{M}.C.b", True), ("body_changed", f"{M}.C.__init__", False)}),
    ("inherited_member_removed", "class A:\n    def m(self):\n        return 1\nclass B(A):\n    pass\n",
     "class A:\n    pass\nclass B(A):\n    pass\n",
     {("object_removed", f"{M}.A.m", True), ("object_removed", f"{M}.B.m", True)}),
    ("reexport_removed",
     {"pkg/__init__.py": "from pkg.impl import f\n__all__ = ['f']\n", "pkg/impl.py": "def f():\n    return 1\n"},
     {"pkg/__init__.py": "__all__ = []\n", "pkg/impl.py": "def f():\n    return 1\n"},
     {("object_removed", "pkg.f", True), ("attribute_value_changed", "pkg.__all__", False),
      ("import_edge_removed", "pkg", False)}),
    # --- api: parameters
    ("parameter_added_optional", "def f(a):\n    return a\n", "def f(a, b=1):\n    return a\n",
     {("parameter_added", f"{M}.f", False)}),
    ("parameter_added_required", "def f(a):\n    return a\n", "def f(a, b):\n    return a\n",
     {("parameter_added", f"{M}.f", True)}),
    ("parameter_removed", "def f(a, b):\n    return a\n", "def f(a):\n    return a\n",
     {("parameter_removed", f"{M}.f", True)}),
    ("parameter_removed_into_kwargs", "def f(a, *, b=1):\n    return a\n", "def f(a, **kw):\n    return a\n",
     {("parameter_removed", f"{M}.f", False), ("parameter_added", f"{M}.f", False)}),
    ("parameter_renamed", "def f(a, b):\n    return a\n", "def f(a, c):\n    return a\n",
     {("parameter_renamed", f"{M}.f", True)}),
    ("parameter_moved", "def f(a, b):\n    return a\n", "def f(b, a):\n    return a\n",
     {("parameter_moved", f"{M}.f", True)}),
    ("parameter_kind_changed", "def f(a, b):\n    return a\n", "def f(a, *, b):\n    return a\n",
     {("parameter_kind_changed", f"{M}.f", True)}),
    ("parameter_kind_relaxed", "def f(a, *, b):\n    return a\n", "def f(a, b):\n    return a\n",
     {("parameter_kind_changed", f"{M}.f", False)}),
    ("parameter_default_changed", "def f(a=1):\n    return a\n", "def f(a=2):\n    return a\n",
     {("parameter_default_changed", f"{M}.f", True)}),
    ("parameter_default_removed", "def f(a=1):\n    return a\n", "def f(a):\n    return a\n",
     {("parameter_default_changed", f"{M}.f", True)}),
    ("parameter_default_added", "def f(a):\n    return a\n", "def f(a=1):\n    return a\n",
     {("parameter_default_changed", f"{M}.f", False)}),
    ("parameter_annotation_changed", "def f(a: int):\n    return a\n", "def f(a: str):\n    return a\n",
     {("parameter_annotation_changed", f"{M}.f", False)}),
    ("return_annotation_changed", "def f() -> int:\n    return 1\n", "def f() -> str:\n    return 1\n",
     {("return_annotation_changed", f"{M}.f", False)}),
    ("return_annotation_removed", "def f() -> int:\n    return 1\n", "def f():\n    return 1\n",
     {("return_annotation_changed", f"{M}.f", True)}),
    ("private_function_parameter_removed", "def _f(a, b):\n    return a\n", "def _f(a):\n    return a\n",
     {("parameter_removed", f"{M}._f", False)}),
    # --- api: attributes and classes
    ("attribute_value_changed", "X = 1\n", "X = 2\n", {("attribute_value_changed", f"{M}.X", True)}),
    ("private_attribute_value_changed", "_X = 1\n", "_X = 2\n", {("body_changed", f"{M}._X", False)}),
    ("attribute_annotation_changed", "X: int = 1\n", "X: str = 1\n",
     {("attribute_annotation_changed", f"{M}.X", False)}),
    ("base_class_removed", "class A:\n    pass\nclass B(A):\n    pass\n", "class A:\n    pass\nclass B:\n    pass\n",
     {("base_class_removed", f"{M}.B", True)}),
    ("base_class_added", "class A:\n    pass\nclass B:\n    pass\n", "class A:\n    pass\nclass B(A):\n    pass\n",
     {("base_class_added", f"{M}.B", False)}),
    # --- behaviour
    ("body_changed", "def f(x):\n    return x + 1\n", "def f(x):\n    return x + 2\n",
     {("body_changed", f"{M}.f", False)}),
    ("method_body_changed", "class C:\n    def m(self):\n        return 'a'\n",
     "class C:\n    def m(self):\n        return 'b'\n", {("body_changed", f"{M}.C.m", False)}),
    ("module_code_changed", "print(1)\n", "print(2)\n", {("body_changed", M, False)}),
    ("decorator_changed", "import functools\n@functools.cache\ndef f():\n    return 1\n",
     "import functools\n@functools.lru_cache\ndef f():\n    return 1\n", {("body_changed", f"{M}.f", False)}),
    ("class_code_changed", "class C:\n    print(1)\n", "class C:\n    print(2)\n", {("body_changed", f"{M}.C", False)}),
    # --- cosmetic
    ("docstring_changed", 'def f():\n    """One."""\n    return 1\n', 'def f():\n    """Two."""\n    return 1\n',
     {("docstring_changed", f"{M}.f", False)}),
    ("formatting_only", "def f(a,b):\n  return {'k':a+b}\n",
     '# a comment\ndef f(\n    a,\n    b,\n):\n    return {"k": a + b}  # sum\n', {("formatting_only", M, False)}),
    # --- architecture
    ("module_added", {"pkg/__init__.py": ""}, {"pkg/__init__.py": "", "pkg/new.py": "X = 1\n"},
     {("module_added", "pkg.new", False)}),
    ("module_removed", {"pkg/__init__.py": "", "pkg/old.py": "X = 1\n"}, {"pkg/__init__.py": ""},
     {("module_removed", "pkg.old", True)}),
    ("private_module_removed", {"pkg/__init__.py": "", "pkg/_old.py": "X = 1\n"}, {"pkg/__init__.py": ""},
     {("module_removed", "pkg._old", False)}),
    ("module_moved", {"pkg/__init__.py": "", "pkg/a.py": BODY.format(name="f")},
     {"pkg/__init__.py": "", "pkg/sub/__init__.py": "", "pkg/sub/a.py": BODY.format(name="f")},
     {("module_moved", "pkg.a", True), ("object_moved", "pkg.a", True), ("object_moved", "pkg.a.f", True),
      ("module_added", "pkg.sub", False)}),
    ("import_edges", {"pkg/__init__.py": "", "pkg/a.py": "from pkg import b\n", "pkg/b.py": "", "pkg/c.py": ""},
     {"pkg/__init__.py": "", "pkg/a.py": "from pkg import c\n", "pkg/b.py": "", "pkg/c.py": ""},
     {("import_edge_removed", "pkg.a", False), ("import_edge_added", "pkg.a", False)}),
    ("package_edges", {"app/__init__.py": "", "app/core/__init__.py": "", "app/core/x.py": "",
                       "app/web/__init__.py": "", "app/web/v.py": ""},
     {"app/__init__.py": "", "app/core/__init__.py": "", "app/core/x.py": "", "app/web/__init__.py": "",
      "app/web/v.py": "import app.core.x\n"},
     {("import_edge_added", "app.web.v", False), ("package_edge_added", "app.web", False)}),
    ("package_edge_removed", {"app/__init__.py": "", "app/core/__init__.py": "", "app/core/x.py": "",
                              "app/web/__init__.py": "", "app/web/v.py": "from app.core import x\n"},
     {"app/__init__.py": "", "app/core/__init__.py": "", "app/core/x.py": "", "app/web/__init__.py": "",
      "app/web/v.py": ""},
     {("import_edge_removed", "app.web.v", False), ("package_edge_removed", "app.web", False)}),
    ("cycles", {"pkg/__init__.py": "", "pkg/a.py": "import pkg.b\n", "pkg/b.py": ""},
     {"pkg/__init__.py": "", "pkg/a.py": "import pkg.b\n", "pkg/b.py": "import pkg.a\n"},
     {("cycle_introduced", "pkg.a", False), ("import_edge_added", "pkg.b", False)}),
    ("cycle_removed", {"pkg/__init__.py": "", "pkg/a.py": "import pkg.b\n", "pkg/b.py": "import pkg.a\n"},
     {"pkg/__init__.py": "", "pkg/a.py": "import pkg.b\n", "pkg/b.py": "def f():\n    import pkg.a\n"},
     {("cycle_removed", "pkg.a", False), ("object_added", "pkg.b.f", False)}),
    # --- dependency
    ("dependency_imports", "import requests\n", "import httpx\n",
     {("dependency_removed", "requests", False), ("dependency_added", "httpx", False)}),
    ("dependency_declared", {"requirements.txt": "httpx>=0.27\nrich\n"}, {"requirements.txt": "httpx>=0.28\nyaml\n"},
     {("dependency_changed", "httpx", False), ("dependency_removed", "rich", False),
      ("dependency_added", "yaml", False)}),
    ("dependency_pyproject", {"pyproject.toml": "[project]\nname='x'\ndependencies=['rich>=13']\n"},
     {"pyproject.toml": "[project]\nname='x'\ndependencies=['rich>=14']\n"}, {("dependency_changed", "rich", False)}),
    ("stdlib_is_no_dependency", "import json\n", "import json\nimport os\n", set()),
    # --- errors
    ("syntax_error", "def f():\n    return 1\n", "def f(:\n    return 1\n", {("syntax_error", M, True)}),
    ("encoding_fallback", "X = 1\n", {"pkg/__init__.py": "", "pkg/mod.py": b"X = '\xff'\n"},
     {("encoding_fallback", M, False), ("attribute_value_changed", f"{M}.X", True)}),
]


@pytest.mark.parametrize(("old", "new", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_kind(tmp_path: Path, old: str | Tree, new: str | Tree, expected: set[tuple[str, str, bool]]) -> None:
    old_tree = module(old) if isinstance(old, str) else old
    new_tree = module(new) if isinstance(new, str) else new
    assert findings(diff(tmp_path, old_tree, new_tree)) == expected


def test_every_contract_kind_has_a_case() -> None:
    covered = {kind for _, _, _, expected in CASES for kind, _, _ in expected}
    assert covered == {k.value for k in Kind} - {"read_error"}


def test_change_fields(tmp_path: Path) -> None:
    result = diff(tmp_path, module("def publish(msg, timeout: float = 5.0):\n    return msg\n"),
                  module("# moved down\n\ndef publish(msg):\n    return msg\n"))
    (change,) = result.changes
    assert change.to_json() == {
        "category": "api", "kind": "parameter_removed", "path": "pkg.mod.publish", "parameter": "timeout",
        "breaking": True, "detail": "parameter 'timeout' removed", "old": "timeout: float = 5.0", "new": None,
        "location": {"file": "pkg/mod.py", "line": 3}}


def test_rename_carries_new_path(tmp_path: Path) -> None:
    result = diff(tmp_path, module(BODY.format(name="f")), module(BODY.format(name="g")))
    (change,) = result.changes
    assert (change.new_path, change.to_json()["new_path"]) == ("pkg.mod.g", "pkg.mod.g")


def test_edges_carry_target(tmp_path: Path) -> None:
    result = diff(tmp_path, {"a.py": "", "b.py": ""}, {"a.py": "import b\n", "b.py": ""})
    edge = next(c for c in result.changes if c.kind is Kind.IMPORT_EDGE_ADDED)
    assert edge.to_json()["target"] == "b" and edge.path == "a"


def test_trivial_bodies_are_not_paired_as_renames(tmp_path: Path) -> None:
    result = diff(tmp_path, module("def f():\n    pass\n"), module("def g():\n    pass\n"))
    assert findings(result) == {("object_removed", f"{M}.f", True), ("object_added", f"{M}.g", False)}
