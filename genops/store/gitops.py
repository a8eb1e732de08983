"""Git for releases: refuse hand edits in owned paths, commit a release, tag it, export a tag.

gitpython's own errors are wrapped in `UsageError` with what to do; nothing here catches more.
A release commit holds everything genops wrote (the output tree, diffs, the release directory,
the response archive) and the inputs hashed into the manifest, so the tag `genops/<release>` is a
snapshot from which `genops replay` can rebuild the tree.

The output tree is committed exactly as its manifest lists it: every listed file is added with
`git add -f` (a `.gitignore`, the workspace's or one inside the output, can never hide a release
file) and every other tracked file under it is removed from the index (nothing the manifest does
not list, such as build leftovers or caches, is ever committed). Commits and tags run with
`core.hooksPath` pointing at an empty directory and `core.fsmonitor` off, so no hook or monitor
planted in the repository runs during a promotion.
"""

from __future__ import annotations

import atexit
import io
import os
import shutil
import tarfile
import threading
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import git

from genops.errors import UsageError
from genops.faults import git_fault_hooks
from genops.treeignore import ignored_component

TAG_PREFIX = "genops/"
RELEASE_TRAILER = "Genops-Release"
_FALLBACK_IDENTITY = {"GIT_AUTHOR_NAME": "genops", "GIT_AUTHOR_EMAIL": "genops@localhost",
                      "GIT_COMMITTER_NAME": "genops", "GIT_COMMITTER_EMAIL": "genops@localhost"}


_NO_HOOKS: list[str] = []  # one empty directory per process, made on first use


def _empty_hooks_dir() -> str:
    if not _NO_HOOKS or not os.path.isdir(_NO_HOOKS[0]):
        path = tempfile.mkdtemp(prefix="genops-nohooks-")
        atexit.register(shutil.rmtree, path, True)
        _NO_HOOKS[:] = [path]
    return _NO_HOOKS[0]


def safe_options() -> list[str]:
    """`-c` settings for every git command genops runs: no hooks, no fsmonitor."""
    return [f"core.hooksPath={_empty_hooks_dir()}", "core.fsmonitor=false"]


def open_repo(root: Path) -> git.Repo:
    """The git repository holding the workspace, or UsageError saying how to make one.

    Every command run through it has hooks and fsmonitor off (see `safe_options`).
    """
    try:
        repo = git.Repo(root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise UsageError(f"{root} is not inside a git repository; releases are commits and tags",
                         hint=f"run `git init {root}` and commit the workspace first") from None
    repo.git.set_persistent_git_options(c=safe_options())
    return repo


def _rel(repo: git.Repo, path: Path) -> str:
    return Path(os.path.relpath(path.resolve(), Path(repo.working_tree_dir or ".").resolve())).as_posix()


def dirty_paths(repo: git.Repo, paths: list[Path]) -> list[str]:
    """Modified, staged, deleted or untracked files under `paths` (as `git status` names them)."""
    specs = [_rel(repo, p) for p in paths]
    out = repo.git.status("--porcelain=v1", "-z", "--untracked-files=all", "--", *specs)
    entries = [e for e in out.split("\0") if e]
    found: list[str] = []
    skip = False
    for entry in entries:
        if skip:  # the second name of a rename record
            skip = False
            continue
        found.append(entry[3:])
        skip = entry[0] in "RC"
    return found


def refuse_dirty(repo: git.Repo, paths: list[Path], *, tree: Path | None = None) -> None:
    """Raise UsageError when a path genops owns has changes git does not hold in HEAD.

    Under `tree` (the output tree) names the tree ignores (build leftovers, caches) are not
    changes: they are never part of a release.
    """
    dirty = dirty_paths(repo, [p for p in paths])
    if tree is not None:
        prefix = _rel(repo, tree).rstrip("/") + "/"
        dirty = [d for d in dirty if not (d.startswith(prefix)
                                          and ignored_component(d[len(prefix):]))]
    if not dirty:
        return
    shown = ", ".join(dirty[:5]) + (f" and {len(dirty) - 5} more" if len(dirty) > 5 else "")
    raise UsageError(
        f"refusing to run: paths genops owns have changes not in a release: {shown}",
        hint="genops writes generated/, diffs/ and .genops/releases/ only through releases; "
        "undo hand edits with `git checkout -- <path>` (and `git clean` for new files), "
        "or change specs/ or adr/ and regenerate")


def _identity_env(repo: git.Repo) -> dict[str, str]:
    """GIT_* identity variables for a repository that has no user configured."""
    reader = repo.config_reader()
    has_user = bool(reader.get_value("user", "email", default="")) or "GIT_AUTHOR_EMAIL" in os.environ
    return {} if has_user else {k: os.environ.get(k, v) for k, v in _FALLBACK_IDENTITY.items()}


@contextmanager
def hooks_off(repo: git.Repo) -> Iterator[Callable[..., git.cmd.Git]]:
    """A git runner for one step whose every command runs no hook, no fsmonitor, and takes
    pathspecs literally (a release file may be named `*.py`).

    Call it fresh per command (`run().add(...)`): gitpython resets per-command options after
    each one. Stated here as well as in `open_repo`, for a repository opened elsewhere.
    """
    with tempfile.TemporaryDirectory(prefix="genops-nohooks-") as empty:
        def run(step: str | None = None) -> git.cmd.Git:
            # The only hooks that ever run are the test suite's kill hooks (GENOPS_CRASH_AT=in-git-*).
            hooks = (git_fault_hooks(step) if step else None) or empty
            return repo.git(c=[f"core.hooksPath={hooks}", "core.fsmonitor=false"],
                            literal_pathspecs=True)
        yield run


BATCH = 500  # paths per git command, well under the argument-length limit


def _track_exactly(run: Callable[..., git.cmd.Git], repo: git.Repo, folder: Path,
                   files: Sequence[str], env: dict[str, str]) -> None:
    """Make the index hold exactly `files` (relative to `folder`) under `folder`."""
    prefix = _rel(repo, folder)
    wanted = [f"{prefix}/{f}" for f in files]
    tracked = [p for p in str(run().ls_files("-z", "--", prefix)).split("\0") if p]
    stale = sorted(set(tracked) - set(wanted))
    for i in range(0, len(stale), BATCH):
        run().rm("--cached", "-q", "--", *stale[i:i + BATCH], env=env)
    for i in range(0, len(wanted), BATCH):
        run().add("-f", "--", *wanted[i:i + BATCH], env=env)


def commit_release(repo: git.Repo, paths: list[Path], *, release: str, message: str,
                   exact: Mapping[Path, Sequence[str]] | None = None) -> str:
    """Commit `paths` (only those) as the release commit; returns its sha. Idempotent per release.

    A folder in `exact` is committed holding exactly the listed files (see the module docstring).
    """
    with _COMMITTING:  # members of one repository may promote from parallel threads
        return _commit_release(repo, paths, release=release, message=message, exact=exact)


def _commit_release(repo: git.Repo, paths: list[Path], *, release: str, message: str,
                    exact: Mapping[Path, Sequence[str]] | None = None) -> str:
    head = _head_commit(repo)
    if head is not None and release_of_commit(head) == release \
            and _touches(repo, head.hexsha, [_rel(repo, p) for p in paths]):
        return head.hexsha  # (in a monorepo another member's release may have the same id)
    env = _identity_env(repo)
    exact = dict(exact or {})
    try:
        with hooks_off(repo) as run:
            for folder, files in exact.items():
                _track_exactly(run, repo, folder, files, env)
            rest = [_rel(repo, p) for p in paths if p.exists() and p not in exact]
            if rest:
                run().add("-A", "--", *rest, env=env)
            specs = [s for s in (_rel(repo, p) for p in paths) if _known_to_git(repo, s)]
            if not specs:  # `git commit --` with no path would commit whatever else is staged
                raise UsageError(f"release {release} has nothing to commit")
            run("commit").commit("--no-verify", "--allow-empty", "-m",
                                 f"{message}\n\n{RELEASE_TRAILER}: {release}", "--", *specs, env=env)
    except git.GitCommandError as exc:
        raise UsageError(f"git commit of release {release} failed: {exc.stderr.strip()}",
                         hint="fix the repository state, then run any genops command: the "
                         "interrupted promotion is finished from its journal") from None
    return repo.head.commit.hexsha


_COMMITTING = threading.RLock()


def _known_to_git(repo: git.Repo, spec: str) -> bool:
    """True when a pathspec matches the index or HEAD (`git commit -- spec` errors otherwise)."""
    if repo.git.ls_files("--", spec):
        return True
    return _head_commit(repo) is not None and bool(repo.git.ls_tree("HEAD", "--", spec))


def _head_commit(repo: git.Repo) -> git.Commit | None:
    try:
        return repo.head.commit
    except ValueError:  # a repository without commits
        return None


def release_of_commit(commit: git.Commit) -> str | None:
    message = commit.message if isinstance(commit.message, str) else commit.message.decode()
    for line in reversed(message.splitlines()):
        if line.startswith(f"{RELEASE_TRAILER}: "):
            return line.split(": ", 1)[1].strip()
    return None


def tag_release(repo: git.Repo, release: str, sha: str, message: str) -> None:
    """Create the annotated tag `genops/<release>` on `sha` unless it already points there."""
    with _COMMITTING:
        _tag_release(repo, release, sha, message)


def _tag_release(repo: git.Repo, release: str, sha: str, message: str) -> None:
    name = TAG_PREFIX + release
    existing = next((t for t in repo.tags if t.name == name), None)
    if existing is not None:
        if existing.commit.hexsha != sha:
            raise UsageError(f"tag {name} already exists on another commit",
                             hint=f"inspect it with `git show {name}`; release ids are never reused")
        return
    try:
        with hooks_off(repo) as run:
            run("tag").tag("-a", name, sha, "-m", message, env=_identity_env(repo))
    except git.GitCommandError as exc:
        raise UsageError(f"git tag {name} failed: {exc.stderr.strip()}",
                         hint="fix the repository state, then run any genops command: the "
                         "interrupted promotion is finished from its journal") from None


def tags_releases(repo: git.Repo, root: Path) -> bool:
    """True when the workspace at `root` owns the repository's `genops/<release>` tags: it is
    the repository's top folder. A workspace in a subfolder (a federation member, an example)
    numbers its releases on its own and neither writes nor reads those tags, so its r0001 is
    never taken for (or blocked by) the top workspace's r0001; its releases are found by their
    trailer and its own `.genops/releases/` path."""
    return Path(repo.working_tree_dir or "").resolve() == root.resolve()


def release_tags(repo: git.Repo, root: Path) -> list[str]:
    """Release ids the repository's tags hold, when the workspace at `root` owns them."""
    if not tags_releases(repo, root):
        return []
    return [t.name.removeprefix(TAG_PREFIX) for t in repo.tags if t.name.startswith(TAG_PREFIX)]


def has_tag(repo: git.Repo, release: str) -> bool:
    return any(t.name == TAG_PREFIX + release for t in repo.tags)


def release_ref(repo: git.Repo, release: str, root: Path | None = None) -> str:
    """The commit of a release: its tag, else its commit found from its manifest and trailer.

    Tags are a convenience: CI clones often have none (or are shallow). Without the tag, the
    release commit is the newest commit whose `Genops-Release:` trailer names the release, else
    the commit that added its manifest when that commit's newest release is this one (what a
    squash merge or a shallow clone leaves). `root` is the workspace (default: the repo's top).
    """
    releases = _rel(repo, root / ".genops" / "releases") if root is not None \
        else ".genops/releases"
    manifest = f"{releases}/{release}/manifest.json"
    if (root is None or tags_releases(repo, root)) and has_tag(repo, release):
        return TAG_PREFIX + release  # (a workspace in a subfolder never owns these tags)
    for sha in _git_lines(repo, "log", "-E", f"--grep=^{RELEASE_TRAILER}: {release}$",
                          "--format=%H", "--", manifest):
        if release_of_commit(repo.commit(sha)) == release and _has_path(repo, sha, manifest):
            return sha
    for sha in _git_lines(repo, "log", "-1", "--diff-filter=A", "--format=%H", "--", manifest):
        if release_of_commit(repo.commit(sha)) in (release, None) \
                and _newest_release_at(repo, sha, releases) == release:
            return sha
    raise UsageError(f"release {release} has a manifest, but the commit that made it is not in "
                     "this clone's history (no tag, no commit with its trailer)",
                     hint="fetch the history: `git fetch --unshallow` (or actions/checkout with "
                     "fetch-depth: 0); `git fetch --tags` brings the release tags")


def _touches(repo: git.Repo, sha: str, paths: list[str]) -> bool:
    """True when commit `sha` changed anything under one of `paths` (repository-relative)."""
    return bool(_git_lines(repo, "diff-tree", "--no-commit-id", "--name-only", "-r", "--root",
                           sha, "--", *paths)) if paths else False


def _git_lines(repo: git.Repo, *args: str) -> list[str]:
    """Non-empty output lines of a git command; an error (no commits yet) is no lines."""
    try:
        return [line for line in str(repo.git.execute(["git", *args])).splitlines() if line]
    except git.GitCommandError:
        return []


def _has_path(repo: git.Repo, sha: str, path: str) -> bool:
    try:
        repo.git.cat_file("-e", f"{sha}:{path}")
    except git.GitCommandError:
        return False
    return True


def _newest_release_at(repo: git.Repo, sha: str, releases: str) -> str | None:
    """The highest release id with a manifest in commit `sha`."""
    found = [name.split("/")[-2] for name in _git_lines(repo, "ls-tree", "-r", "--name-only", sha,
                                                          "--", f"{releases}/")
             if name.endswith("/manifest.json") and name.count("/") == releases.count("/") + 2]
    ids = [r for r in found if r[1:].isdigit() and r.startswith("r")]
    return max(ids, key=lambda r: int(r[1:]), default=None)


def export_tree(repo: git.Repo, ref: str, dest: Path, subpath: str | None = None) -> Path:
    """Write the files of `ref` (or of `subpath` inside it) into `dest`; returns `dest`.

    Uses `git archive`, so the result holds exactly what the commit holds, nothing local.
    """
    try:
        repo.git.rev_parse("--verify", f"{ref}^{{commit}}")
    except git.GitCommandError:
        raise UsageError(f"no such git ref: {ref}",
                         hint="`genops log` lists releases; `git fetch --tags` brings missing tags") from None
    args = ["--format=tar", ref]
    if subpath:
        args += ["--", subpath]
    buffer = io.BytesIO()
    try:
        repo.git.archive(*args, output_stream=buffer)
    except git.GitCommandError:
        dest.mkdir(parents=True, exist_ok=True)  # the path is empty in that commit
        return dest
    buffer.seek(0)
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=buffer, mode="r:") as archive:
        archive.extractall(dest, filter="data")
    return dest


def export_output(root: Path, output_dir: Path, ref: str, dest: Path, *,
                  release: str | None = None) -> Path:
    """The output tree as it is in git `ref`, or in `release`'s commit (tag or trailer).

    Returns the exported output folder under `dest`, or an empty folder when the commit does not
    hold it (a release before the first, say).
    """
    repo = open_repo(root)
    top = Path(repo.working_tree_dir or root).resolve()
    sub = Path(os.path.relpath(output_dir.resolve(), top)).as_posix()
    if release is not None:
        ref = release_ref(repo, release, root)
    export_tree(repo, ref, dest / "tree", subpath=sub)
    inner = dest / "tree" / sub
    if inner.is_dir():
        return inner
    (dest / "empty").mkdir(parents=True, exist_ok=True)
    return dest / "empty"
