"""`genops init`: create a working workspace atomically (all files, or nothing).

The files are built in a hidden sibling directory and renamed into place, so an interrupted init
never leaves a half workspace behind.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from genops.errors import UsageError
from genops.treeignore import GITIGNORE_LINES
from genops.workspace.catalog import capabilities
from genops.workspace.config import ModelConfig
from genops.workspace.prompts import DEFAULT_PROMPTS
from genops.workspace.workflow import workflow_text

GITIGNORE = """\
# genops: local state (the archive and releases are committed; these are not)
.genops/ledger.db*
.genops/runs/
.genops/cache/
.genops/trash/
.genops/venvs/
.genops/promote.*
# build leftovers and caches: never part of a release (genops.treeignore)
""" + "\n".join(GITIGNORE_LINES) + "\n"

PROVIDER_DEFAULT_MODELS = {
    "anthropic": "claude-sonnet-4-5-20250929",
    "openai": "gpt-5-2025-08-07",
    "gemini": "gemini-2.5-pro",
    "openai-compatible": "qwen2.5-coder:32b",
    "fake": "fake-1",
    "manual": "manual",
}


@dataclass(frozen=True)
class InitResult:
    root: Path
    files: list[str]
    git: bool


def _scaffold_text(name: str) -> str:
    return (resources.files("genops.workspace") / "scaffold" / name).read_text(encoding="utf-8")


def _default_prompts() -> dict[str, str]:
    """The default templates shipped with the synthesis engine, by file name."""
    return {p.name: p.read_text(encoding="utf-8") for p in DEFAULT_PROMPTS.iterdir()
            if p.name.endswith(".j2")}


def _workflow() -> str:
    return workflow_text()


def _temperature_line(provider: str) -> str:
    """Deterministic sampling where the model takes it; its one accepted value where it does not."""
    caps = capabilities(ModelConfig.model_validate(
        {"provider": provider, "model": PROVIDER_DEFAULT_MODELS[provider]}))
    if caps.temperature is False:
        return "# temperature: this model takes none"
    if isinstance(caps.temperature, bool):
        return "temperature = 0.0"
    return f"temperature = {float(caps.temperature)}  # the only value this model accepts"


def scaffold_files(name: str, provider: str) -> dict[str, str]:
    """Every file of a new workspace, by relative path."""
    if provider not in PROVIDER_DEFAULT_MODELS:
        raise UsageError(f"unknown provider {provider!r}",
                         hint="one of: " + ", ".join(PROVIDER_DEFAULT_MODELS))
    toml = (_scaffold_text("genops.toml").replace("{{name}}", name)
            .replace("{{provider}}", provider)
            .replace("{{model}}", PROVIDER_DEFAULT_MODELS[provider])
            .replace("{{temperature}}", _temperature_line(provider)))
    files = {
        "genops.toml": toml,
        "specs/requirements.md": _scaffold_text("requirements.md"),
        "specs/principles.md": _scaffold_text("principles.md"),
        "adr/ADR-0001-standard-library-only.yaml": _scaffold_text(
            "ADR-0001-standard-library-only.yaml").replace("{{date}}", dt.date.today().isoformat()),
        ".gitignore": GITIGNORE,
    }
    for filename, text in sorted(_default_prompts().items()):
        files[f"prompts/{filename}"] = text
    workflow = _workflow()
    if workflow:
        files[".github/workflows/genops.yml"] = workflow
    return files


def init_workspace(target: Path, *, name: str | None = None, provider: str = "anthropic",
                   git: bool = True) -> InitResult:
    """Create a workspace at `target` (which must not exist or be empty)."""
    target = target.resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UsageError(f"{target} exists and is not empty",
                         hint="choose a new directory; genops init never overwrites files")
    files = scaffold_files(name or target.name, provider)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.genops-init-", dir=target.parent))
    try:
        for rel, text in files.items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        (tmp / "generated").mkdir()
        (tmp / "diffs").mkdir()
        (tmp / ".genops" / "archive").mkdir(parents=True)
        (tmp / ".genops" / "releases").mkdir(parents=True)
        if git:
            _git_init(tmp)
        if target.exists():
            target.rmdir()
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return InitResult(root=target, files=sorted(files), git=git)


def init_here(target: Path, *, name: str | None = None, provider: str = "anthropic",
              git: bool = True) -> InitResult:
    """Add a workspace to an existing directory or repository (`genops init --here`).

    Nothing is overwritten: if any scaffold file, `generated/` or `.genops/` exists, nothing is
    written. An existing .gitignore gets genops's lines appended. Inside a git repository the new
    files are left for the user to review and commit; elsewhere `git` makes a repository whose
    first commit holds the scaffold (and nothing else of the directory).

    All or nothing: the files are written in a hidden folder inside `target`, then moved into
    place; any failure (a write, the .gitignore, git) takes back everything this call added, so
    running it again starts from the same directory.
    """
    target = target.resolve()
    if not target.is_dir():
        raise UsageError(f"{target} is not a directory", hint="`genops init DIR` creates one")
    files = scaffold_files(name or target.name, provider)
    gitignore = target / ".gitignore"
    original_gitignore: str | None = None
    missing: list[str] = []
    if gitignore.is_file():
        original_gitignore = gitignore.read_text(encoding="utf-8")
        present = set(original_gitignore.splitlines())
        missing = [line for line in files.pop(".gitignore").splitlines() if line not in present]
    folders = ("generated", "diffs", ".genops/archive", ".genops/releases")
    taken = sorted(rel for rel in [*files, "generated", "diffs", ".genops"]
                   if (target / rel).exists() or (target / rel).is_symlink())
    if taken:
        raise UsageError(f"{target} already has {', '.join(taken)}",
                         hint="genops init never overwrites files; move them aside, or run "
                              "`genops init NEWDIR`")
    in_repo = any((parent / ".git").exists() for parent in (target, *target.parents))
    made_repo = git and not in_repo
    moved: list[Path] = []
    tmp = Path(tempfile.mkdtemp(prefix=".genops-init-", dir=target))
    try:
        for rel, text in files.items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        for folder in folders:
            (tmp / folder).mkdir(parents=True)
        for rel in [*files, *folders]:
            moved.extend(_move_new(tmp, target, rel))
        if original_gitignore is not None and missing:
            ends = not original_gitignore or original_gitignore.endswith("\n")
            with gitignore.open("a", encoding="utf-8") as handle:
                handle.write(("" if ends else "\n") + "\n# genops\n" + "\n".join(missing) + "\n")
            files[".gitignore"] = ""
        if made_repo:
            _git_init(target, paths=[*files, *folders])
    except BaseException:
        _take_back(target, moved, gitignore, original_gitignore, made_repo)
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return InitResult(root=target, files=sorted(files), git=made_repo)


def _move_new(tmp: Path, target: Path, rel: str) -> list[Path]:
    """Move `rel` from `tmp` into `target` through its first missing ancestor; what was moved."""
    parts = Path(rel).parts
    for depth in range(1, len(parts) + 1):
        dest = target.joinpath(*parts[:depth])
        if not dest.exists():
            os.rename(tmp.joinpath(*parts[:depth]), dest)
            return [dest]
    return []


def _take_back(target: Path, moved: list[Path], gitignore: Path, original: str | None,
               made_repo: bool) -> None:
    """Undo a failed `init_here`: the moved files and folders, the .gitignore lines, the repo."""
    for path in reversed(moved):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    if original is not None:
        gitignore.write_text(original, encoding="utf-8")
    if made_repo:
        shutil.rmtree(target / ".git", ignore_errors=True)


def _git_init(root: Path, *, paths: list[str] | None = None) -> None:
    """A workspace is a git repository: releases are commits and tags. The first commit holds
    `paths` (files, or folders taken whole), default every file under `root`."""
    import git

    repo = git.Repo.init(root, initial_branch="main")
    tops = [root / p for p in paths] if paths is not None else [root]
    repo.index.add(sorted({f.relative_to(root).as_posix() for top in tops
                           for f in ([top] if top.is_file() else top.rglob("*"))
                           if f.is_file() and ".git" not in f.relative_to(root).parts}))
    with repo.config_writer() as cfg:
        if not _has_identity(repo):
            cfg.set_value("user", "name", "genops")
            cfg.set_value("user", "email", "genops@localhost")
    repo.index.commit("genops init: workspace scaffold")


def _has_identity(repo: object) -> bool:
    import git

    try:
        reader = repo.config_reader()  # type: ignore[attr-defined]
        return bool(reader.get_value("user", "email", default=""))
    except (git.GitError, KeyError, OSError):
        return False
