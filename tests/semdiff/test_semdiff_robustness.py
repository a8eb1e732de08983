"""What a user notices when trees are odd: broken files, encodings, empty trees, links, size, the cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from semdiff_helpers import diff, findings, module, write_tree

from genops.errors import UsageError
from genops.semdiff import build_model, diff_trees, import_graph
from genops.semdiff.cache import default_cache_dir


def test_syntax_error_is_a_finding_and_the_rest_is_still_diffed(tmp_path: Path) -> None:
    old = {"a.py": "def f():\n    return 1\n", "b.py": "def g():\n    return 1\n"}
    new = {"a.py": "def f():\n    return 1\n\ndef broken(:\n    pass\n", "b.py": "def g():\n    return 2\n"}
    result = diff(tmp_path, old, new)
    assert findings(result) == {("syntax_error", "a", True), ("body_changed", "b.g", False)}
    error = next(c for c in result.changes if c.kind.value == "syntax_error")
    assert (error.category.value, error.file, error.line) == ("error", "a.py", 4)


def test_syntax_error_on_the_old_side_is_reported_once_fixed(tmp_path: Path) -> None:
    result = diff(tmp_path, {"a.py": "def f(:\n"}, {"a.py": "def f():\n    return 1\n"})
    assert findings(result) == {("syntax_error", "a", False)}
    assert result.changes[0].old is not None and result.changes[0].new is None


def test_non_utf8_file_is_read_as_latin1_with_a_finding(tmp_path: Path) -> None:
    latin = "def f():\n    return 'caf\xe9'\n".encode("latin-1")
    result = diff(tmp_path, {"a.py": "def f():\n    return 'cafe'\n"}, {"a.py": latin})
    assert findings(result) == {("encoding_fallback", "a", False), ("body_changed", "a.f", False)}


def test_declared_encoding_is_honoured_without_a_finding(tmp_path: Path) -> None:
    source = "# -*- coding: latin-1 -*-\nX = 'caf\xe9'\n".encode("latin-1")
    result = diff(tmp_path, {"a.py": source}, {"a.py": source + b"Y = 1\n"})
    assert findings(result) == {("object_added", "a.Y", False)}


def test_empty_trees(tmp_path: Path) -> None:
    result = diff(tmp_path, {}, {})
    assert result.changes == [] and result.stats.to_json() == {
        "files_textually_changed": 0, "text_lines_changed": 0, "semantic_changes": 0}


def test_empty_old_tree_reports_modules_added(tmp_path: Path) -> None:
    result = diff(tmp_path, {}, {"pkg/__init__.py": "", "pkg/a.py": "X = 1\n"})
    assert findings(result) == {("module_added", "pkg", False), ("module_added", "pkg.a", False)}


def test_non_python_files_count_as_text_only(tmp_path: Path) -> None:
    result = diff(tmp_path, {"README.md": "one\ntwo\n", "a.py": "X = 1\n", "logo.png": b"\x89PNG\0\1"},
                  {"README.md": "one\nthree\nfour\n", "a.py": "X = 1\n", "logo.png": b"\x89PNG\0\2"})
    assert result.changes == []
    assert result.stats.to_json() == {"files_textually_changed": 2, "text_lines_changed": 3, "semantic_changes": 0}


def test_stats_show_the_noise_removed(tmp_path: Path) -> None:
    old = {"a.py": "".join(f"def f{i}(a,b):\n  return a+b\n" for i in range(50))}
    new = {"a.py": "".join(f"def f{i}(a, b):\n    return a + b  # sum\n\n\n" for i in range(50))}
    result = diff(tmp_path, old, new)
    assert findings(result, cosmetic=False) == set()
    assert result.stats.text_lines_changed >= 100 and result.stats.semantic_changes == 0


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlinks_out_of_the_tree_are_not_followed(tmp_path: Path) -> None:
    outside = write_tree(tmp_path / "outside", {"secret.py": "TOKEN = 'x'\n", "lib/m.py": "Y = 1\n"})
    old = write_tree(tmp_path / "old", {"a.py": "X = 1\n"})
    new = write_tree(tmp_path / "new", {"a.py": "X = 1\n"})
    (new / "secret.py").symlink_to(outside / "secret.py")
    (new / "lib").symlink_to(outside / "lib", target_is_directory=True)
    (new / "alias.py").symlink_to(new / "a.py")  # inside the tree: followed
    (new / "loop").symlink_to(new, target_is_directory=True)  # a cycle: walked once at most
    result = diff_trees(old, new, cache_dir=tmp_path / "cache")
    assert findings(result) == {("module_added", "alias", False)}


def test_missing_directory_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        diff_trees(tmp_path / "nope", tmp_path, cache_dir=tmp_path / "cache")


def test_five_thousand_files(tmp_path: Path) -> None:
    files = {f"pkg{i // 100}/m{i % 100}.py": f"def f{i}(x):\n    return x + {i}\n" for i in range(5000)}
    files.update({f"pkg{j}/__init__.py": "" for j in range(50)})
    changed = dict(files, **{"pkg7/m3.py": "def f703(x, y):\n    return x + 703\n"})
    result = diff(tmp_path, files, changed, jobs=2)
    assert findings(result) == {("parameter_added", "pkg7.m3.f703", True)}
    again = diff_trees(tmp_path / "old", tmp_path / "new", cache_dir=tmp_path / "cache")
    assert again.to_json() == result.to_json()


def test_unchanged_files_are_never_parsed_twice(tmp_path: Path) -> None:
    write_tree(tmp_path / "t", {"a.py": "X = 1\n", "b.py": "Y = 2\n"})
    assert build_model(tmp_path / "t", cache_dir=tmp_path / "c").parsed == 2
    assert build_model(tmp_path / "t", cache_dir=tmp_path / "c").parsed == 0
    (tmp_path / "t" / "b.py").write_text("Y = 3\n")
    assert build_model(tmp_path / "t", cache_dir=tmp_path / "c").parsed == 1
    write_tree(tmp_path / "copy", {"a.py": "X = 1\n", "c.py": "Y = 3\n"})  # same bytes elsewhere
    assert build_model(tmp_path / "copy", cache_dir=tmp_path / "c").parsed == 0


def test_damaged_cache_entries_are_misses(tmp_path: Path) -> None:
    write_tree(tmp_path / "t", {"a.py": "X = 1\n"})
    build_model(tmp_path / "t", cache_dir=tmp_path / "c")
    for entry in (tmp_path / "c").rglob("*"):
        if entry.is_file():
            entry.write_bytes(b"\x00garbage")
    model = build_model(tmp_path / "t", cache_dir=tmp_path / "c")
    assert model.parsed == 1 and "X" in model.modules["a"].model.objects


def test_default_cache_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workspace = write_tree(tmp_path / "ws", {"genops.toml": "[project]\nname = 'x'\n", "generated/a.py": ""})
    monkeypatch.chdir(tmp_path)
    assert default_cache_dir(workspace / "generated") == workspace / ".genops" / "cache" / "semdiff"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir(tmp_path / "elsewhere") == tmp_path / "xdg" / "genops" / "semdiff"


def test_import_graph_contract(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "t", {
        "mad/__init__.py": "from .bus import Bus\n",
        "mad/bus.py": "import json\nimport redis.asyncio\nfrom . import util\nfrom .util import helper\n",
        "mad/util.py": "def helper():\n    from mad.rogers import api\n",
        "mad/rogers/__init__.py": "",
        "mad/rogers/api.py": "from ..bus import Bus\nfrom .. import util as u\n",
        "main.py": "import mad\n",
    })
    graph = import_graph(root)
    assert graph["mad"] == {("mad.bus", 1)}
    assert graph["mad.bus"] == {("json", 1), ("redis.asyncio", 2), ("mad.util", 3), ("mad.util", 4)}
    assert graph["mad.util"] == {("mad.rogers.api", 2)}
    assert graph["mad.rogers.api"] == {("mad.bus", 1), ("mad.util", 2)}
    assert graph["main"] == {("mad", 1)} and graph["mad.rogers"] == set()


def test_source_files_with_same_bytes_in_two_places(tmp_path: Path) -> None:
    same = "from . import b\n"
    result = diff(tmp_path, {"p/__init__.py": "", "p/a.py": same, "p/b.py": "", "q/__init__.py": "", "q/b.py": ""},
                  {"p/__init__.py": "", "p/a.py": same, "p/b.py": "", "q/__init__.py": "", "q/b.py": "",
                   "q/a.py": same})
    assert findings(result) == {("module_added", "q.a", False)}
    assert import_graph(tmp_path / "new")["q.a"] == {("q.b", 1)}


def test_module_file_next_to_package_prefers_the_package(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "t", {"pkg.py": "X = 1\n", "pkg/__init__.py": "Y = 1\n"})
    model = build_model(root, cache_dir=tmp_path / "c")
    assert set(model.modules["pkg"].model.objects) == {"Y"} and model.shadowed == ["pkg.py"]


def test_module_name_of_root_init(tmp_path: Path) -> None:
    assert set(import_graph(write_tree(tmp_path / "t", {"__init__.py": "import os\n"}))) == {"__init__"}


def test_module_model_shape(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "t", module('''
        """Doc."""
        from typing import overload
        import functools
        __all__ = ["Bus", "LIMIT"]
        LIMIT: int = 5

        class Bus(Base, metaclass=Meta):
            def __init__(self, name, *args, timeout: float = 5.0, **kw) -> None:
                self.name = name
                if name:
                    self.extra = 1

            @property
            def size(self) -> int:
                return 1

            @size.setter
            def size(self, value):
                pass

            @functools.cached_property
            def cached(self):
                return 2

            @overload
            def get(self, x: int) -> int: ...
            def get(self, x):
                return x
    '''))
    objects = build_model(root, cache_dir=tmp_path / "c").modules["pkg.mod"].model.objects
    assert set(objects) == {"__all__", "LIMIT", "Bus", "Bus.__init__", "Bus.name", "Bus.extra", "Bus.size",
                            "Bus.cached", "Bus.get"}
    init = objects["Bus.__init__"]
    assert [(p.name, p.kind, p.default, p.annotation) for p in init.params] == [
        ("self", "positional_or_keyword", None, None), ("name", "positional_or_keyword", None, None),
        ("args", "var_positional", None, None), ("timeout", "keyword_only", "5.0", "float"),
        ("kw", "var_keyword", None, None)]
    assert init.returns == "None" and objects["Bus"].bases == ("Base",)
    assert objects["Bus.size"].kind == "attribute" and "property" in objects["Bus.size"].labels
    assert objects["Bus.cached"].kind == "attribute" and objects["LIMIT"].annotation == "int"
    assert objects["Bus.get"].kind == "function" and len(objects["Bus.get"].params) == 2
