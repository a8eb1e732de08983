"""A federation inside the repository of another workspace (this repository: the MAD workspace at
the top, examples/federation below it). Member releases carry `Genops-Release:` trailers too, so
lookups must stay scoped: a member in a subfolder numbers its releases on its own, writes no
`genops/<release>` tag, and the top workspace's release lookups never take a member's commit."""

from __future__ import annotations

import shutil
from pathlib import Path

import git

import fedhelpers as h
from genops.store import gitops
from genops.workspace.scaffold import init_workspace

SPEC = "# Requirements\n\n- **REQ-TOP-1** a package.\n"
TOP_TEST = '"""REQ-TOP-1."""\nimport top\n\n\ndef test_top():\n    assert top.__name__ == "top"\n'


def _top_files(doc: str = "") -> dict[str, str]:
    return {"top/__init__.py": doc, "tests/test_top.py": TOP_TEST,
            "pyproject.toml": h.PYPROJECT.format(name="top")}


def _top_with_federation(released: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A workspace at a repository's top with a first release (tag genops/r0001), and the
    released federation copied under examples/ in the same repository."""
    top = tmp_path / "top"
    init_workspace(top, name="top", provider="fake", git=False)
    git.Repo.init(top)
    h.script(top, _top_files())
    toml = (top / "genops.toml").read_text(encoding="utf-8")
    (top / "genops.toml").write_text(
        toml.replace('rungs = ["senior", "fallback"]', 'rungs = ["senior"]')
        .replace('strategy = "multi"', 'strategy = "single"')
        .replace("timeout_s = 900", "timeout_s = 120\nuse_venv = false")
        .replace('unexercised = "fail"', 'unexercised = "warn"'), encoding="utf-8")
    (top / "specs" / "requirements.md").write_text(SPEC, encoding="utf-8")
    h.commit_all(top, "top workspace")
    done = h.genops(top, "regenerate")
    assert done.returncode == 0, done.stdout + done.stderr
    shutil.copytree(released, top / "examples" / "shop", symlinks=True,
                    ignore=shutil.ignore_patterns(".git"))
    h.commit_all(top, "the example federation")
    return top, top / "examples" / "shop"


def test_members_in_a_subfolder_keep_their_own_numbers_and_no_tags(released: Path,
                                                                     tmp_path: Path) -> None:
    top, shop = _top_with_federation(released, tmp_path)
    repo = git.Repo(top)
    assert [t.name for t in repo.tags] == ["genops/r0001"]
    identity = shop / "members" / "identity"
    spec = identity / "specs" / "requirements.md"
    spec.write_text(spec.read_text(encoding="utf-8") + "- **REQ-ID-2** users can be listed.\n",
                    encoding="utf-8")
    interface = identity / "interface.toml"
    interface.write_text(interface.read_text(encoding="utf-8").replace('"1.0.0"', '"1.1.0"'),
                         encoding="utf-8")
    h.script(identity, h.identity_files(more=h.LIST_USERS))
    h.commit_all(top, "identity 1.1.0")
    done = h.genops(identity, "regenerate")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "promoted r0002" in done.stdout and "tag genops/" not in done.stdout
    assert [t.name for t in repo.tags] == ["genops/r0001"]  # the member wrote no tag
    member_commit = repo.head.commit.hexsha
    assert gitops.release_of_commit(repo.head.commit) == "r0002"
    # the top workspace's r0001 is its tag, never the member's commit; the member's r0002 is
    # its own commit, found by trailer and path
    assert gitops.release_ref(repo, "r0001", top) == "genops/r0001"
    assert gitops.release_ref(repo, "r0002", identity) == member_commit
    # the top workspace's next release is r0002: the member's r0002 takes nothing from it
    h.script(top, _top_files('"""v2."""\n'))
    (top / "specs" / "requirements.md").write_text(SPEC + "v2\n", encoding="utf-8")
    h.commit_all(top, "top v2")
    again = h.genops(top, "regenerate")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "promoted r0002" in again.stdout and "tag genops/r0002" in again.stdout
    for where in (top, identity):
        verified = h.genops(where, "verify", "--all")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "r0001..r0002: 2 release(s) verified" in verified.stdout
    check = h.genops(top, "check")
    assert check.returncode == 0, check.stdout + check.stderr
