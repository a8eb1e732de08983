"""The file protocol parser: a response becomes files, or a ProtocolError naming the block."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from genops.errors import ExitCode, GenopsError
from genops.protocol.files import (ProtocolError, format_protocol, parse_protocol,
                                       render_protocol_help)

# (case, response text, expected files, expected deletes)
VALID = [
    ("one file", '<file path="mad/bus.py">\nX = 1\n</file>\n', {"mad/bus.py": "X = 1\n"}, []),
    ("two files and prose",
     'Here you go.\n<file path="a.py">\na = 1\n</file>\nand\n'
     '<file path="pkg/b.py">\nb = 2\n</file>\nDone.',
     {"a.py": "a = 1\n", "pkg/b.py": "b = 2\n"}, []),
    ("fence stripped", '<file path="a.py">\n```python\nprint(1)\n```\n</file>\n',
     {"a.py": "print(1)\n"}, []),
    ("tilde fence stripped", '<file path="a.py">\n~~~\nprint(1)\n~~~\n</file>\n',
     {"a.py": "print(1)\n"}, []),
    ("inner fences kept",
     '<file path="README.md">\n```bash\npip install x\n```\ntext\n```py\nx\n```\n</file>\n',
     {"README.md": "```bash\npip install x\n```\ntext\n```py\nx\n```\n"}, []),
    ("longer outer fence stripped, inner kept",
     '<file path="doc.md">\n````markdown\n# T\n```\ncode\n```\n````\n</file>\n',
     {"doc.md": "# T\n```\ncode\n```\n"}, []),
    ("empty file", '<file path="pkg/__init__.py">\n</file>\n', {"pkg/__init__.py": ""}, []),
    ("closer at end of last line", '<file path="a.py">\nx = 1</file>\n', {"a.py": "x = 1\n"}, []),
    ("closer string inside a line kept",
     '<file path="a.py">\nTAG = "</file>" + "x"\n</file>\n',
     {"a.py": 'TAG = "</file>" + "x"\n'}, []),
    ("delete", '<delete path="mad/old.py"/>\n', {}, ["mad/old.py"]),
    ("delete with space and closing tag",
     '<delete path="a.py" />\n<delete path="b.py"></delete>\n', {}, ["a.py", "b.py"]),
    ("file and delete", '<file path="a.py">\n1\n</file>\n<delete path="b.py"/>',
     {"a.py": "1\n"}, ["b.py"]),
    ("leading ./ dropped", '<file path="./a.py">\n1\n</file>\n', {"a.py": "1\n"}, []),
    ("single quotes", "<file path='a.py'>\n1\n</file>\n", {"a.py": "1\n"}, []),
    ("no blocks", "I cannot do that.", {}, []),
    ("crlf after opener", '<file path="a.py">\r\nx\n</file>\n', {"a.py": "x\n"}, []),
]


@pytest.mark.parametrize("case,text,files,deletes", VALID, ids=[c[0] for c in VALID])
def test_valid(case: str, text: str, files: dict[str, str], deletes: list[str],
               tmp_path: Path) -> None:
    for rel in deletes:  # a delete names a file of the current tree
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("old\n")
    parsed = parse_protocol(text, root=tmp_path)
    assert parsed.files == files
    assert parsed.deletes == deletes


# (case, response text, block named, words in the message)
REFUSED = [
    ("absolute", '<file path="/etc/passwd">\nx\n</file>\n', 1, "absolute"),
    ("dotdot", '<file path="a.py">\n1\n</file>\n<file path="pkg/../../x.py">\n1\n</file>\n', 2,
     ".."),
    ("dotdot delete", '<delete path="../x.py"/>', 1, ".."),
    ("backslash", '<file path="pkg\\x.py">\n1\n</file>\n', 1, "backslash"),
    ("drive", '<file path="C:/x.py">\n1\n</file>\n', 1, "drive"),
    ("empty path", '<file path="">\n1\n</file>\n', 1, "empty"),
    ("empty component", '<file path="a//b.py">\n1\n</file>\n', 1, "empty"),
    ("duplicate", '<file path="a.py">\n1\n</file>\n<file path="a.py">\n2\n</file>\n', 2, "twice"),
    ("duplicate via ./", '<file path="a.py">\n1\n</file>\n<file path="./a.py">\n2\n</file>\n', 2,
     "twice"),
    ("file and delete of one path", '<file path="a.py">\n1\n</file>\n<delete path="a.py"/>', 2,
     "twice"),
    ("unclosed at end", '<file path="a.py">\n1\n</file>\n<file path="b.py">\nx = 1\n', 2,
     "never closed"),
    ("unclosed before next block",
     '<file path="a.py">\n1\n<file path="b.py">\n2\n</file>\n', 1, "never closed"),
    ("control character", '<file path="a\x01.py">\n1\n</file>\n', 1, "control"),
]


@pytest.mark.parametrize("case,text,block,words", REFUSED, ids=[c[0] for c in REFUSED])
def test_refused(case: str, text: str, block: int, words: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_protocol(text)
    assert info.value.block == block
    assert f"block {block}" in str(info.value)
    assert words in str(info.value)
    assert isinstance(info.value, GenopsError) and info.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize("target", ["pkg/evil.py", "pkg/sub/evil.py", "link.py"])
def test_symlink_in_existing_tree_is_refused(tmp_path: Path, target: str) -> None:
    root = tmp_path / "tree"
    (root / "real").mkdir(parents=True)
    os.symlink(tmp_path, root / "pkg")
    os.symlink(tmp_path / "elsewhere.py", root / "link.py")
    with pytest.raises(ProtocolError) as info:
        parse_protocol(f'<file path="{target}">\nx\n</file>\n', root=root)
    assert "symlink" in str(info.value)
    assert info.value.path == target
    # the same path through a real directory is fine
    assert parse_protocol('<file path="real/ok.py">\nx\n</file>\n', root=root).files


def test_format_round_trips(tmp_path: Path) -> None:
    (tmp_path / "old.py").write_text("x = 0\n")
    files = {"a.py": "x = 1\n", "pkg/__init__.py": "", "doc.md": "# T\n"}
    parsed = parse_protocol(format_protocol(files, ["old.py"]), root=tmp_path)
    assert parsed.files == files
    assert parsed.deletes == ["old.py"]


@pytest.mark.parametrize(("tree_files", "delete"), [
    ([], "pkg/obsolete.py"),            # the help's old example, copied by a small model
    (["mad/bus.py"], "mad/gone.py"),    # a path the current release never had
    (["mad/bus.py"], "mad"),            # a directory is not a file to delete
    (None, "mad/bus.py"),               # a first release has nothing to delete
])
def test_a_delete_of_a_path_not_in_the_tree_is_refused(tmp_path: Path, tree_files: list[str] | None,
                                                        delete: str) -> None:
    for rel in tree_files or []:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x = 1\n")
    text = f'<file path="mad/new.py">\nx = 2\n</file>\n<delete path="{delete}"/>\n'
    with pytest.raises(ProtocolError) as info:
        parse_protocol(text, root=None if tree_files is None else tmp_path)
    assert info.value.block == 2 and info.value.path == delete
    assert "not in the current tree" in str(info.value)


def test_help_names_both_blocks_with_placeholders_no_model_would_copy() -> None:
    help_text = render_protocol_help()
    assert '<file path="' in help_text and "<delete path=" in help_text and "</file>" in help_text
    assert "pkg/" not in help_text and "obsolete" not in help_text


def test_the_file_protocol_example_names_a_real_file_of_the_current_release(
        tmp_path: Path) -> None:
    from synth_helpers import write_workspace

    from genops.synthesis.context import base_context

    ws = write_workspace(tmp_path / "ws")
    tree = tmp_path / "tree"
    for rel in ("mad/__init__.py", "mad/bus.py", "mad/store.py"):
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text("x = 1\n")

    later = base_context(ws, tree, release="r0001")["file_protocol"]
    first = base_context(ws, None)["file_protocol"]

    assert '<file path="mad/bus.py">' in later and "RELATIVE/PATH/OF/THE/FILE\">" not in later
    assert "pkg/" not in later and '<delete path="mad/' not in later  # no real path to delete
    assert first == render_protocol_help()  # a first release has no real path: placeholders
    assert render_protocol_help("mad/bus.py") == later
