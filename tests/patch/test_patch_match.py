"""Edit matching as a table: (tree, answer) -> the new tree, or which blocks fail and why.

Every row goes through the real parser and the real matcher. A failing row also checks the
all-or-nothing rule: the input tree is never modified.
"""

from __future__ import annotations

import pytest

from genops.protocol.edits import EditProtocolError, parse_edits
from genops.patch.match import apply_blocks, tree_changes

S, D, R = "<<<<<<< SEARCH", "=======", ">>>>>>> REPLACE"


def edit(path: str, *pairs: tuple[str, str]) -> str:
    body = "".join(f"{S}\n{search}{D}\n{replace}{R}\n" for search, replace in pairs)
    return f'<edit path="{path}">\n{body}</edit>\n'


PY = "def f():\n    return 1\n\n\ndef g():\n    return 2\n"
CLS = "class A:\n    def f(self):\n        return 1\n"
TABS = "def f():\n\tif x:\n\t\treturn 1\n"
DUP = "x = 1\ny = 2\nx = 1\n"

# (id, tree, answer, expected tree or None, expected failures [(block number, reason)], strategy)
ROWS = [
    ("exact", {"a.py": PY}, edit("a.py", ("    return 1\n", "    return 10\n")),
     {"a.py": PY.replace("return 1\n", "return 10\n")}, [], "exact"),
    ("exact-multiline", {"a.py": PY}, edit("a.py", ("def g():\n    return 2\n", "def g():\n    return 3\n")),
     {"a.py": PY.replace("return 2", "return 3")}, [], "exact"),
    ("replace-with-nothing", {"a.py": PY}, edit("a.py", ("\n\ndef g():\n    return 2\n", "")),
     {"a.py": "def f():\n    return 1\n"}, [], "exact"),
    ("trailing-whitespace-in-file", {"a.py": "x = 1   \ny = 2\n"}, edit("a.py", ("x = 1\n", "x = 3\n")),
     {"a.py": "x = 3\ny = 2\n"}, [], "trailing_whitespace"),
    ("trailing-whitespace-in-search", {"a.py": "x = 1\ny = 2\n"}, edit("a.py", ("x = 1  \t\n", "x = 3\n")),
     {"a.py": "x = 3\ny = 2\n"}, [], "trailing_whitespace"),
    ("indentation-shifted-left", {"a.py": CLS}, edit("a.py", ("def f(self):\n    return 1\n",
                                                             "def f(self):\n    return 2\n")),
     {"a.py": CLS.replace("return 1", "return 2")}, [], "indentation"),
    ("indentation-shifted-right", {"a.py": PY}, edit("a.py", ("        return 1\n", "        return 5\n")),
     {"a.py": PY.replace("return 1", "return 5")}, [], "indentation"),
    ("indentation-reindents-new-lines", {"a.py": CLS},
     edit("a.py", ("return 1\n", "if True:\n    return 2\n")),
     {"a.py": CLS.replace("        return 1\n", "        if True:\n            return 2\n")}, [],
     "indentation"),
    ("tabs-exact", {"a.py": TABS}, edit("a.py", ("\t\treturn 1\n", "\t\treturn 2\n")),
     {"a.py": TABS.replace("return 1", "return 2")}, [], "exact"),
    ("tabs-shifted", {"a.py": TABS}, edit("a.py", ("if x:\n\treturn 1\n", "if x:\n\treturn 9\n")),
     {"a.py": TABS.replace("return 1", "return 9")}, [], "indentation"),
    ("tabs-vs-spaces-is-no-guess", {"a.py": TABS}, edit("a.py", ("    if x:\n        return 1\n",
                                                                "    if y:\n        return 1\n")),
     None, [(1, "missing")], None),
    ("crlf-file-lf-search", {"a.py": "a = 1\r\nb = 2\r\n"}, edit("a.py", ("a = 1\n", "a = 5\nz = 0\n")),
     {"a.py": "a = 5\r\nz = 0\r\nb = 2\r\n"}, [], "crlf"),
    ("crlf-untouched-lines-kept", {"a.py": "a\r\nb\r\nc\r\n"}, edit("a.py", ("b\n", "B\n")),
     {"a.py": "a\r\nB\r\nc\r\n"}, [], "crlf"),
    ("no-final-newline", {"a.py": "x = 1\ny = 2"}, edit("a.py", ("y = 2\n", "y = 3\n")),
     {"a.py": "x = 1\ny = 3"}, [], "exact"),
    ("no-final-newline-middle", {"a.py": "x = 1\ny = 2"}, edit("a.py", ("x = 1\n", "x = 0\n")),
     {"a.py": "x = 0\ny = 2"}, [], "exact"),
    ("unicode", {"a.py": "s = 'héllo ☃'\nt = 'ü'\n"}, edit("a.py", ("s = 'héllo ☃'\n", "s = 'grüß ☀'\n")),
     {"a.py": "s = 'grüß ☀'\nt = 'ü'\n"}, [], "exact"),
    ("unicode-line-separator-is-content", {"a.py": "s = 'a\u2028b'\nt = 1\n"},
     edit("a.py", ("t = 1\n", "t = 2\n")), {"a.py": "s = 'a\u2028b'\nt = 2\n"}, [], "exact"),
    ("ambiguous", {"a.py": DUP}, edit("a.py", ("x = 1\n", "x = 2\n")), None, [(1, "ambiguous")], None),
    ("ambiguous-resolved-by-context", {"a.py": DUP}, edit("a.py", ("y = 2\nx = 1\n", "y = 2\nx = 5\n")),
     {"a.py": "x = 1\ny = 2\nx = 5\n"}, [], "exact"),
    ("ambiguous-under-indentation", {"a.py": "if a:\n    x = 1\nif b:\n    x = 1\n"},
     edit("a.py", ("  x = 1\n", "  x = 2\n")), None, [(1, "ambiguous")], None),
    ("missing", {"a.py": PY}, edit("a.py", ("    return 7\n", "    return 8\n")), None,
     [(1, "missing")], None),
    ("missing-file", {"a.py": PY}, edit("b.py", ("x\n", "y\n")), None, [(1, "no_file")], None),
    ("overlapping", {"a.py": PY}, edit("a.py", ("def f():\n    return 1\n", "def f():\n    return 0\n"),
                                       ("    return 0\n", "    return 3\n")),
     None, [(2, "overlap")], None),
    ("same-search-twice", {"a.py": PY}, edit("a.py", ("    return 1\n", "    return 11\n"),
                                             ("    return 1\n", "    return 12\n")),
     None, [(2, "missing")], None),
    ("two-blocks-in-sequence", {"a.py": PY}, edit("a.py", ("    return 1\n", "    return 10\n    # one\n"),
                                                  ("    return 2\n", "    return 20\n")),
     {"a.py": PY.replace("return 1\n", "return 10\n    # one\n").replace("return 2", "return 20")},
     [], "exact"),
    ("second-block-sees-first", {"a.py": PY}, edit("a.py", ("    return 1\n", "    return 10\n")) +
     edit("a.py", ("def g():\n", "def h():\n")),
     {"a.py": PY.replace("return 1\n", "return 10\n").replace("def g", "def h")}, [], "exact"),
    ("one-good-one-bad", {"a.py": PY, "b.py": "b = 1\n"},
     edit("a.py", ("    return 1\n", "    return 10\n")) + edit("b.py", ("b = 9\n", "b = 2\n")),
     None, [(2, "missing")], None),
    ("create", {"a.py": PY}, edit("pkg/new.py", ("", "N = 1\n")),
     {"a.py": PY, "pkg/new.py": "N = 1\n"}, [], "create"),
    ("create-existing-refused", {"a.py": PY}, edit("a.py", ("", "x\n")), None, [(1, "exists")], None),
    ("delete", {"a.py": PY, "b.py": "b\n"}, '<delete path="b.py"/>\n', {"a.py": PY}, [], "delete"),
    ("delete-missing", {"a.py": PY}, '<delete path="b.py"/>\n', None, [(1, "no_file")], None),
    ("delete-and-recreate", {"a.py": PY}, '<delete path="a.py"/>\n' + edit("a.py", ("", "fresh = 1\n")),
     {"a.py": "fresh = 1\n"}, [], "delete"),
    ("edit-after-delete", {"a.py": PY}, '<delete path="a.py"/>\n' + edit("a.py", ("    return 1\n", "")),
     None, [(2, "no_file")], None),
    ("fenced-blocks-tolerated", {"a.py": PY},
     f'<edit path="a.py">\n```python\n{S}\n    return 1\n{D}\n    return 4\n{R}\n```\n</edit>\n',
     {"a.py": PY.replace("return 1", "return 4")}, [], "exact"),
]


@pytest.mark.parametrize("name,tree,answer,expected,failures,strategy", ROWS,
                         ids=[r[0] for r in ROWS])
def test_edit_matching(name: str, tree: dict[str, str], answer: str,
                       expected: dict[str, str] | None, failures: list[tuple[int, str]],
                       strategy: str | None) -> None:
    before = dict(tree)
    result = apply_blocks(tree, parse_edits(answer))
    assert tree == before  # never modified in place
    assert [(f.block.number, f.reason) for f in result.failures] == failures
    if expected is not None:
        assert result.ok
        assert result.tree == expected
        assert result.applied[0].strategy == strategy
    else:
        assert not result.ok


def test_table_is_large_enough() -> None:
    assert len(ROWS) >= 30


def test_missing_reports_nearest_lines_with_similarity() -> None:
    result = apply_blocks({"a.py": PY}, parse_edits(edit("a.py", ("def g():\n    return 3\n", "x\n"))))
    failure = result.failures[0]
    assert failure.nearest is not None and failure.nearest.start == 5
    assert 0.8 < failure.nearest.similarity < 1.0
    report = failure.report()
    assert "block 1 ('a.py')" not in report and "block 1 (a.py)" in report
    assert "similarity" in report and "    5 | def g():" in report


def test_ambiguous_report_names_every_place() -> None:
    failure = apply_blocks({"a.py": DUP}, parse_edits(edit("a.py", ("x = 1\n", "x = 2\n")))).failures[0]
    assert failure.places == (1, 3) and "lines 1, 3" in failure.report()


def test_tree_changes_lists_writes_and_deletes() -> None:
    result = apply_blocks({"a.py": PY, "b.py": "b\n"}, parse_edits(
        '<delete path="b.py"/>\n' + edit("c.py", ("", "c\n"))))
    assert tree_changes({"a.py": PY, "b.py": "b\n"}, result.tree) == ({"c.py": "c\n"}, ["b.py"])


MALFORMED = [
    ("no-blocks", "just prose", "no <edit>"),
    ("unclosed-edit", f'<edit path="a.py">\n{S}\nx\n{D}\ny\n{R}\n', "never closed"),
    ("missing-divider", f'<edit path="a.py">\n{S}\nx\n{R}\n</edit>\n', "block 1 ('a.py')"),
    ("missing-replace", f'<edit path="a.py">\n{S}\nx\n{D}\ny\n</edit>\n', "missing '>>>>>>> REPLACE'"),
    ("second-block-broken", edit("a.py", ("x\n", "y\n")) + f'<edit path="b.py">\n{S}\nx\n</edit>\n',
     "block 2 ('b.py')"),
    ("prose-inside-edit", f'<edit path="a.py">\nhere is the fix\n{S}\nx\n{D}\ny\n{R}\n</edit>\n',
     "text outside"),
    ("escaping-path", edit("../x.py", ("", "y\n")), "escapes"),
    ("absolute-path", '<delete path="/etc/passwd"/>', "absolute"),
    ("blank-search", edit("a.py", ("\n\n", "y\n")), "only blank lines"),
    ("empty-edit", '<edit path="a.py">\n</edit>\n', "holds no SEARCH/REPLACE"),
]


@pytest.mark.parametrize("name,answer,needle", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_answers_are_refused_naming_the_block(name: str, answer: str, needle: str) -> None:
    with pytest.raises(EditProtocolError) as info:
        parse_edits(answer)
    assert needle in str(info.value)
