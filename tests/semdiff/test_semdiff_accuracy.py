"""The classes of error a reviewer would be misled by, table-driven: (old tree, new tree, expected findings).

Import edits are architecture only; a non-public value change is behaviour; a module moved to another
package shows at the API level and in its importers' edges; inherited members are followed through
any depth of bases, across modules and through aliases.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from semdiff_helpers import Tree, diff, findings

from genops.render.semdiff import to_markdown, to_text

HELPER = "def helper(x):\n    y = x * 2 + len(str(x))\n    return [y, y + 1, 'done']\n"
USE = "def run(x):\n    return helper(x) + [1]\n"
PKG = {"pkg/__init__.py": "", "pkg/util.py": HELPER, "pkg/other.py": HELPER}

# (id, old tree, new tree, expected (kind, path, breaking) including cosmetic ones)
IMPORTS: list[tuple[str, Tree, Tree, set[tuple[str, str, bool]]]] = [
    ("new_import_only", {**PKG, "pkg/app.py": "from pkg.util import helper\n" + USE},
     {**PKG, "pkg/app.py": "import json\nfrom pkg.other import helper as _h\nfrom pkg.util import helper\n" + USE},
     {("import_edge_added", "pkg.app", False)}),
    ("changed_import_path", {**PKG, "pkg/app.py": "from pkg.util import helper\n" + USE},
     {**PKG, "pkg/app.py": "from pkg.other import helper\n" + USE},
     {("import_edge_removed", "pkg.app", False), ("import_edge_added", "pkg.app", False)}),
    ("relative_to_absolute_is_formatting", {**PKG, "pkg/app.py": "from .util import helper\n" + USE},
     {**PKG, "pkg/app.py": "from pkg.util import helper\n" + USE}, set()),
    ("import_reordered_is_formatting", {**PKG, "pkg/app.py": "import os\nimport json\n" + USE},
     {**PKG, "pkg/app.py": "import json\nimport os\n" + USE}, {("formatting_only", "pkg.app", False)}),
    ("stdlib_import_is_not_formatting", {**PKG, "pkg/app.py": USE}, {**PKG, "pkg/app.py": "import os\n" + USE},
     set()),
    ("guarded_import_edit", {**PKG, "pkg/app.py": "try:\n    import pkg.util\nexcept ImportError:\n    pass\n"
                             "FLAG = 1\n"},
     {**PKG, "pkg/app.py": "try:\n    import pkg.other\nexcept ImportError:\n    pass\nFLAG = 1\n"},
     {("import_edge_removed", "pkg.app", False), ("import_edge_added", "pkg.app", False)}),
    ("import_plus_code_is_behaviour", {**PKG, "pkg/app.py": "import pkg.util\nprint(1)\n"},
     {**PKG, "pkg/app.py": "import pkg.other\nprint(2)\n"},
     {("import_edge_removed", "pkg.app", False), ("import_edge_added", "pkg.app", False),
      ("body_changed", "pkg.app", False)}),
    ("import_inside_function_is_its_body", {**PKG, "pkg/app.py": "def f():\n    import pkg.util\n    return 1\n"},
     {**PKG, "pkg/app.py": "def f():\n    import pkg.other\n    return 1\n"},
     {("import_edge_removed", "pkg.app", False), ("import_edge_added", "pkg.app", False),
      ("body_changed", "pkg.app.f", False)}),
]

M = "pkg.mod"
VALUES: list[tuple[str, Tree, Tree, set[tuple[str, str, bool]]]] = [
    ("private_constant", {"pkg/__init__.py": "", "pkg/mod.py": "_TIMEOUT = 5\n"},
     {"pkg/__init__.py": "", "pkg/mod.py": "_TIMEOUT = 50\n"}, {("body_changed", f"{M}._TIMEOUT", False)}),
    ("public_constant", {"pkg/__init__.py": "", "pkg/mod.py": "TIMEOUT = 5\n"},
     {"pkg/__init__.py": "", "pkg/mod.py": "TIMEOUT = 50\n"}, {("attribute_value_changed", f"{M}.TIMEOUT", True)}),
    ("constant_not_in_all", {"pkg/__init__.py": "", "pkg/mod.py": "__all__ = ['f']\nLIMIT = 5\ndef f():\n    pass\n"},
     {"pkg/__init__.py": "", "pkg/mod.py": "__all__ = ['f']\nLIMIT = 6\ndef f():\n    pass\n"},
     {("body_changed", f"{M}.LIMIT", False)}),
    ("constant_of_private_module", {"pkg/__init__.py": "", "pkg/_impl.py": "SIZE = 5\n"},
     {"pkg/__init__.py": "", "pkg/_impl.py": "SIZE = 6\n"}, {("body_changed", "pkg._impl.SIZE", False)}),
    ("private_class_attribute", {"pkg/__init__.py": "", "pkg/mod.py": "class C:\n    _retries = 3\n"},
     {"pkg/__init__.py": "", "pkg/mod.py": "class C:\n    _retries = 4\n"},
     {("body_changed", f"{M}.C._retries", False)}),
    ("all_stays_api",
     {"pkg/__init__.py": "", "pkg/mod.py": "__all__ = ['f']\ndef f():\n    pass\ndef g():\n    pass\n"},
     {"pkg/__init__.py": "", "pkg/mod.py": "__all__ = ['f', 'g']\ndef f():\n    pass\ndef g():\n    pass\n"},
     {("attribute_value_changed", f"{M}.__all__", False)}),
]

MOVED = {"pkg/__init__.py": "", "pkg/core/__init__.py": "", "pkg/core/codec.py": HELPER + "class Codec:\n    pass\n",
         "pkg/app.py": "from pkg.core.codec import helper\n" + USE}
MOVES: list[tuple[str, Tree, Tree, set[tuple[str, str, bool]]]] = [
    ("module_moved_with_importer", MOVED,
     {"pkg/__init__.py": "", "pkg/core/__init__.py": "", "pkg/io/__init__.py": "",
      "pkg/io/codec.py": HELPER + "class Codec:\n    pass\n", "pkg/app.py": "from pkg.io.codec import helper\n" + USE},
     {("module_moved", "pkg.core.codec", True), ("object_moved", "pkg.core.codec", True),
      ("object_moved", "pkg.core.codec.helper", True), ("object_moved", "pkg.core.codec.Codec", True),
      ("module_added", "pkg.io", False), ("import_edge_removed", "pkg.app", False),
      ("import_edge_added", "pkg.app", False), ("package_edge_removed", "pkg", False),
      ("package_edge_added", "pkg", False)}),
    ("module_moved_old_path_kept", MOVED,
     {"pkg/__init__.py": "", "pkg/core/__init__.py": "from pkg.io import codec\n", "pkg/io/__init__.py": "",
      "pkg/io/codec.py": HELPER + "class Codec:\n    pass\n", "pkg/app.py": "from pkg.io.codec import helper\n" + USE},
     {("module_moved", "pkg.core.codec", True), ("object_moved", "pkg.core.codec", False),
      ("object_moved", "pkg.core.codec.helper", False), ("object_moved", "pkg.core.codec.Codec", False),
      ("module_added", "pkg.io", False), ("import_edge_removed", "pkg.app", False),
      ("import_edge_added", "pkg.app", False), ("import_edge_added", "pkg.core", False),
      ("package_edge_added", "pkg.core", False), ("package_edge_removed", "pkg", False),
      ("package_edge_added", "pkg", False)}),
    ("private_module_moved", {"pkg/__init__.py": "", "pkg/core/__init__.py": "", "pkg/core/_codec.py": HELPER},
     {"pkg/__init__.py": "", "pkg/core/__init__.py": "", "pkg/io/__init__.py": "", "pkg/io/_codec.py": HELPER},
     {("module_moved", "pkg.core._codec", False), ("object_moved", "pkg.core._codec", False),
      ("module_added", "pkg.io", False)}),
    ("module_renamed_in_place", {"pkg/__init__.py": "", "pkg/codec.py": HELPER},
     {"pkg/__init__.py": "", "pkg/codecs.py": HELPER},
     {("module_moved", "pkg.codec", True), ("object_renamed", "pkg.codec", True),
      ("object_moved", "pkg.codec.helper", True)}),
]

BASE = "class Base:\n    def keep(self):\n        return 1\n\n    def gone(self, a, b=1):\n        return a\n"
BASE_AFTER = "class Base:\n    def keep(self):\n        return 1\n"
BASE_SIG = "class Base:\n    def keep(self):\n        return 1\n\n    def gone(self, a):\n        return a\n"
LEVELS = "class Mid(Base):\n    pass\n\nclass Leaf(Mid):\n    pass\n"
INHERITANCE: list[tuple[str, Tree, Tree, set[tuple[str, str, bool]]]] = [
    ("three_levels_one_module", {"pkg/__init__.py": "", "pkg/mod.py": BASE + LEVELS},
     {"pkg/__init__.py": "", "pkg/mod.py": BASE_AFTER + LEVELS},
     {("object_removed", f"{M}.Base.gone", True), ("object_removed", f"{M}.Mid.gone", True),
      ("object_removed", f"{M}.Leaf.gone", True)}),
    ("three_levels_across_modules",
     {"pkg/__init__.py": "", "pkg/base.py": BASE,
      "pkg/mid.py": "from pkg.base import Base\nclass Mid(Base):\n    pass\n",
      "pkg/leaf.py": "from pkg import mid\nclass Leaf(mid.Mid):\n    pass\n"},
     {"pkg/__init__.py": "", "pkg/base.py": BASE_AFTER,
      "pkg/mid.py": "from pkg.base import Base\nclass Mid(Base):\n    pass\n",
      "pkg/leaf.py": "from pkg import mid\nclass Leaf(mid.Mid):\n    pass\n"},
     {("object_removed", "pkg.base.Base.gone", True), ("object_removed", "pkg.mid.Mid.gone", True),
      ("object_removed", "pkg.leaf.Leaf.gone", True)}),
    ("base_through_reexport_alias",
     {"pkg/__init__.py": "from pkg._base import Base as Root\n", "pkg/_base.py": BASE,
      "pkg/api.py": "import pkg\nclass Client(pkg.Root):\n    pass\n"},
     {"pkg/__init__.py": "from pkg._base import Base as Root\n", "pkg/_base.py": BASE_AFTER,
      "pkg/api.py": "import pkg\nclass Client(pkg.Root):\n    pass\n"},
     {("object_removed", "pkg._base.Base.gone", False), ("object_removed", "pkg.api.Client.gone", True)}),
    ("overridden_below_is_kept", {"pkg/__init__.py": "", "pkg/mod.py": BASE + LEVELS},
     {"pkg/__init__.py": "", "pkg/mod.py": BASE_AFTER + "class Mid(Base):\n    def gone(self, a, b=1):\n"
      "        return a\n\nclass Leaf(Mid):\n    pass\n"},
     {("object_removed", f"{M}.Base.gone", True), ("object_added", f"{M}.Mid.gone", False)}),
    ("signature_change_reported_at_origin_only", {"pkg/__init__.py": "", "pkg/mod.py": BASE + LEVELS},
     {"pkg/__init__.py": "", "pkg/mod.py": BASE_SIG + LEVELS}, {("parameter_removed", f"{M}.Base.gone", True)}),
    ("signature_change_across_modules",
     {"pkg/__init__.py": "", "pkg/base.py": BASE, "pkg/leaf.py": "from pkg.base import Base\n" + LEVELS},
     {"pkg/__init__.py": "", "pkg/base.py": BASE_SIG, "pkg/leaf.py": "from pkg.base import Base\n" + LEVELS},
     {("parameter_removed", "pkg.base.Base.gone", True)}),
    ("base_dropped_midway", {"pkg/__init__.py": "", "pkg/mod.py": BASE + LEVELS},
     {"pkg/__init__.py": "", "pkg/mod.py": BASE + "class Mid:\n    pass\n\nclass Leaf(Mid):\n    pass\n"},
     {("base_class_removed", f"{M}.Mid", True), ("object_removed", f"{M}.Mid.gone", True),
      ("object_removed", f"{M}.Mid.keep", True), ("object_removed", f"{M}.Leaf.gone", True),
      ("object_removed", f"{M}.Leaf.keep", True)}),
    ("private_subclass_not_reported", {"pkg/__init__.py": "", "pkg/mod.py": BASE + "class _Hidden(Base):\n    pass\n"},
     {"pkg/__init__.py": "", "pkg/mod.py": BASE_AFTER + "class _Hidden(Base):\n    pass\n"},
     {("object_removed", f"{M}.Base.gone", True)}),
]

ALL = [*IMPORTS, *VALUES, *MOVES, *INHERITANCE]


@pytest.mark.parametrize(("old", "new", "expected"), [c[1:] for c in ALL], ids=[c[0] for c in ALL])
def test_case(tmp_path: Path, old: Tree, new: Tree, expected: set[tuple[str, str, bool]]) -> None:
    assert findings(diff(tmp_path, old, new)) == expected


def test_inherited_removal_names_its_origin(tmp_path: Path) -> None:
    old, new = INHERITANCE[1][1], INHERITANCE[1][2]
    result = diff(tmp_path, old, new)
    leaf = next(c for c in result.changes if c.path == "pkg.leaf.Leaf.gone")
    assert "pkg.base.Base.gone" in leaf.detail and leaf.old == "def gone(self, a, b=1)"


def test_inherited_breakages_are_grouped_under_their_origin(tmp_path: Path) -> None:
    result = diff(tmp_path, *INHERITANCE[1][1:3])
    text = to_text(result, width=200)
    lines = text.splitlines()
    origin = next(i for i, line in enumerate(lines) if "pkg.base.Base.gone  function removed" in line)
    assert lines[origin + 1].strip() == "inherited, so also gone from 2 public subclasses:"
    assert [line.split()[0] for line in lines[origin + 2:origin + 4]] == ["pkg.leaf.Leaf.gone", "pkg.mid.Mid.gone"]
    assert text.count("object_removed") == 1
    markdown = to_markdown(result)
    row = next(line for line in markdown.splitlines() if "inherited" in line)
    assert "2 public subclasses" in row and "`pkg.leaf.Leaf.gone`" in row and "pkg/mid.py:2" in row
    assert markdown.count("`object_removed`") == 2  # the origin's row and the one row of its heirs


def test_inherited_breakages_without_their_origin_in_view(tmp_path: Path) -> None:
    result = diff(tmp_path, *INHERITANCE[2][1:3])  # the origin is private: its removal is not breaking
    text = to_text(result, width=200)
    assert "pkg._base.Base.gone: inherited, so also gone from 1 public subclass:" in text
