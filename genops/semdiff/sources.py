"""What OLD and NEW of `genops diff` name: a directory, a release id, or a git ref of the workspace.

Resolution order for one argument: an existing directory; a release id (`r0002`, or `current`)
with `.genops/releases/<id>/` in the workspace, read from its release commit (the tag
`genops/<id>` when present, else the commit found from its manifest and `Genops-Release` trailer:
tags are never required) at the workspace's output directory (genops.toml `[project] output`,
default `generated`); a git ref of the workspace repository, read at the output directory.
`REF:PATH` (or `RELEASE:PATH`) reads another directory of that commit.
With no arguments OLD is the current release and NEW the output directory; with one, NEW is the
output directory. Git trees are exported with `git archive` into temporary directories that live
as long as the `resolve_sides` context.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
import tomllib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from genops.errors import ConfigError, UsageError
from genops.semdiff.cache import find_workspace
from genops.store.gitops import open_repo, release_ref
from genops.store.releases import current_release
from genops.workspace.toml_config import not_in_workspace


@dataclass(frozen=True, slots=True)
class Side:
    """One side of a diff: a label for reports, a directory to read, and its path in the repository."""

    label: str
    path: Path
    prefix: str = ""  # repository-relative directory of the tree ("generated/"), for annotations


@contextmanager
def resolve_sides(old: str | None, new: str | None, *, cwd: Path | None = None) -> Iterator[tuple[Side, Side]]:
    """Resolve OLD and NEW (see module docstring); temporary exports are removed on exit."""
    here = (cwd or Path.cwd()).resolve()
    workspace = find_workspace(here)
    with ExitStack() as stack:
        if old is None:
            old = _current_release(workspace, here)
        new_side = (resolve_side(new, here, workspace, stack) if new is not None
                    else _output_side(workspace, here))
        yield resolve_side(old, here, workspace, stack), new_side


def resolve_side(spec: str, cwd: Path, workspace: Path | None, stack: ExitStack) -> Side:
    """One argument: a directory, a release id or a git ref (in that order)."""
    directory = cwd / spec
    if directory.is_dir():
        return Side(spec, directory, _repo_prefix(directory))
    ref, _, subpath = spec.partition(":")
    if workspace is not None:
        release = _current_release(workspace) if ref in ("current", "latest") else ref
        if (workspace / ".genops" / "releases" / release).is_dir():
            label = release if not subpath else f"{release}:{subpath}"
            return _export(workspace, _release_commit(workspace, release),
                           subpath.strip("/") or output_dir_name(workspace), label, stack)
    repo = workspace or cwd
    if _git_ok(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"):
        if not subpath and workspace is not None:
            subpath = output_dir_name(workspace)
        return _export(repo, ref, subpath.strip("/"), spec, stack)
    raise UsageError(f"{spec!r} is not a directory, a release id or a git ref",
                     hint="pass a directory, a release id such as r0002, or a git ref such as HEAD~1")


def output_dir_name(workspace: Path) -> str:
    """genops.toml `[project] output` (default `generated`)."""
    path = workspace / "genops.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(path, f"not valid TOML: {error}") from None
    project = data.get("project")
    output = project.get("output", "generated") if isinstance(project, dict) else "generated"
    return str(output).strip("/")


def _output_side(workspace: Path | None, here: Path) -> Side:
    """NEW by default: the workspace's output directory."""
    if workspace is None:
        raise not_in_workspace(here, also="`genops diff OLD NEW` compares two directories "
                               "anywhere")
    name = output_dir_name(workspace)
    path = workspace / name
    if not path.is_dir():
        raise UsageError(f"the output directory {name}/ does not exist yet", hint="run `genops regenerate` first")
    return Side(name, path, _repo_prefix(path))


def _release_commit(workspace: Path, release: str) -> str:
    """The commit of `release`: its tag, or the commit its manifest and trailer point to."""
    return release_ref(open_repo(workspace), release, workspace)


def _current_release(workspace: Path | None, here: Path | None = None) -> str:
    """The current release id, or a usage error saying why there is none."""
    if workspace is None:
        raise not_in_workspace(here or Path.cwd(), also="`genops diff OLD NEW` compares two directories "
                               "anywhere")
    current = current_release(workspace)
    if current is None:
        raise UsageError("this workspace has no release yet", hint="pass OLD explicitly, e.g. a directory or HEAD~1")
    return current


def _export(repo: Path, ref: str, subpath: str, label: str, stack: ExitStack) -> Side:
    """Extract `ref:subpath` with `git archive` into a temporary directory."""
    target = f"{ref}:{subpath}" if subpath else f"{ref}^{{tree}}"
    if not _git_ok(repo, "cat-file", "-e", target):
        raise UsageError(f"{ref} has no {subpath or 'tree'}", hint="check the ref, or pass REF:PATH")
    data = _git(repo, "archive", "--format=tar", ref, *(["--", subpath] if subpath else []))
    scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="genops-diff-")))
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
        archive.extractall(scratch, filter="data")
    root = scratch / subpath if subpath else scratch
    root.mkdir(parents=True, exist_ok=True)
    return Side(label, root, f"{subpath}/" if subpath else "")


def _repo_prefix(directory: Path) -> str:
    """The directory's path inside its git repository ("" at the top or outside any repository)."""
    if not _git_ok(directory, "rev-parse", "--show-prefix"):
        return ""
    return _git(directory, "rev-parse", "--show-prefix").decode().strip()


def _git(cwd: Path, *args: str) -> bytes:
    """Run git and return stdout; failures are usage errors carrying git's message."""
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError:
        raise UsageError("git is not installed", hint="install git to diff refs and releases") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip() or f"git {args[0]} failed"
        raise UsageError(f"git {' '.join(args[:2])}: {message}")
    return done.stdout


def _git_ok(cwd: Path, *args: str) -> bool:
    """True when a git command succeeds (used to probe refs and paths)."""
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False).returncode == 0
    except (FileNotFoundError, NotADirectoryError):
        return False
