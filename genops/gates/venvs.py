"""Virtual environments for the test gate, built from a generated tree's declared dependencies
without running any code the model chose on the host.

A model chooses the tree's dependencies, so installing them is where a hostile answer would first
run code. The build therefore has two halves:

- **download, on the host, builds nothing**: `pip download --only-binary=:all:` of exactly the
  hash-pinned lock (or, without a lock, of the declared requirements), from the workspace's
  `[audit] indexes` only, with pip isolated from user and machine configuration (`--isolated`,
  `PIP_CONFIG_FILE=/dev/null`), a per-workspace download cache, and an environment that holds
  no secret. A wheel is unpacked, never executed; an sdist is refused (building it would run its
  build backend), naming the package.
- **install, in the sandbox**: the venv's own pip installs from that wheelhouse with
  `--no-index`, under bubblewrap with no network, no secret and exactly one writable directory,
  the venv being built.

Before either, the declared requirements pass `genops.gates.requirements.check_policy` (no URL,
path, VCS reference or installer option). A venv is keyed by the sha256 of (interpreter, indexes,
sorted requirement list or lock) and cached per workspace under `.genops/cache/venvs/<key>`
(`$GENOPS_VENV_CACHE` overrides it, e.g. to share one cache between the workspaces of a test
run), built in `.build-<key>-<pid>/` and renamed into place only when complete, under a per-key
file lock. The suite later sees the venv read-only. Because the venv is renamed after it is built,
its console scripts' shebangs point at the build path; genops therefore always runs
`<venv>/bin/python -m <tool>`.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from genops.errors import GenopsError
from genops.gates.requirements import Declared, check_line, lock_lines, read_declared
from genops.gates.sandbox import Probe, bwrap_argv, interpreter_roots
from genops.toolenv import SYSTEM_PATH, tool_env

# Variables that may hold a credential: never handed to pip (the suite gets an allowlist instead).
_SECRET_PREFIXES = ("OPENAI_", "ANTHROPIC_", "GEMINI_", "GOOGLE_", "AZURE_OPENAI_", "MISTRAL_",
                    "COHERE_", "GROQ_", "DEEPSEEK_", "XAI_", "TOGETHER_", "OPENROUTER_", "AWS_")
_SECRET_PATTERN = re.compile(r"(API_?KEY|_TOKEN|SECRET|PASSWORD|CREDENTIALS)", re.IGNORECASE)
# Variables that would make the suite see genops's interpreter setup instead of its own.
_INTERPRETER_VARS = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "CONDA_PREFIX",
                     "PYTEST_ADDOPTS", "PYTEST_PLUGINS")
def scrub_env(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` without provider keys, credentials or interpreter overrides (a denylist; no
    tool genops runs gets it any more: pip and uv get `genops.toolenv.tool_env`, an allowlist)."""
    return {k: v for k, v in environ.items()
            if not k.upper().startswith(_SECRET_PREFIXES)
            and not _SECRET_PATTERN.search(k)
            and k not in _INTERPRETER_VARS and not k.startswith("GENOPS_")}


MARKER = "genops-venv.json"
PIP_TIMEOUT_S = 1800.0
DEFAULT_INDEXES = ("https://pypi.org/simple",)


class VenvBuildError(GenopsError):
    """pip could not install a tree's declared dependencies; `log` holds its output."""

    def __init__(self, message: str, *, log: str) -> None:
        super().__init__(message)
        self.log = log


@dataclass(frozen=True)
class Dependencies:
    """What a generated tree declares it needs, and where it says so."""

    requirements: tuple[str, ...]
    sources: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {"requirements": list(self.requirements), "sources": list(self.sources)}


@dataclass(frozen=True)
class Venv:
    path: Path
    key: str
    built: bool  # False when it came from the cache
    seconds: float

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"


def declared_dependencies(tree: Path) -> Dependencies:
    """The tree's pyproject [project.dependencies] + test extra, and its requirements*.txt (the
    set the lock's fingerprint covers; option lines are not requirements)."""
    declared = [d for d in read_declared(tree)
                if d.kind == "requirement" and d.installed and d.file != "setup.cfg"]
    sources = (["pyproject.toml"] if (tree / "pyproject.toml").is_file() else []) + \
        [p.name for p in sorted(tree.glob("requirements*.txt"))]
    unique = sorted({" ".join(d.text.split()) for d in declared})
    return Dependencies(tuple(unique), tuple(sources))


def cache_root(workspace: Path | None = None) -> Path:
    """Where built venvs live: `$GENOPS_VENV_CACHE`, else the workspace's `.genops/cache/venvs`
    (no other workspace reads it), else the user's cache (no workspace given)."""
    override = os.environ.get("GENOPS_VENV_CACHE")
    if override:
        return Path(override).expanduser()
    if workspace is not None:
        return Path(workspace) / ".genops" / "cache" / "venvs"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "genops" / "venvs"


def venv_key(requirements: tuple[str, ...] | list[str],
             indexes: Sequence[str] = DEFAULT_INDEXES) -> str:
    """sha256 of the interpreter identity, the indexes and the sorted requirement list."""
    identity = {"python": sys.version, "executable": os.path.realpath(sys.executable),
                "requirements": sorted(requirements), "layout": 2}
    if tuple(indexes) != DEFAULT_INDEXES:
        identity["indexes"] = list(indexes)
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]


def _checked_lock(lock: str, indexes: Sequence[str]) -> None:
    """The lock passes the policy too (a cloned repository's lock is as untrusted as its tree)."""
    for line in lock_lines(lock, "generated.lock"):
        why = check_line(line, indexes=indexes, pinned=True)
        if why:
            raise VenvBuildError(f"lock line {line.line}: {line.text!r}: {why}", log="")


def _index_args(indexes: Sequence[str]) -> list[str]:
    args = ["--index-url", indexes[0]]
    for extra in indexes[1:]:
        args += ["--extra-index-url", extra]
    return args


def _sdist_hint(stderr: str) -> str:
    missing = re.findall(r"No matching distribution found for (\S+)", stderr)
    if missing:
        return (f"; {missing[0]} has no wheel for this interpreter and platform on the workspace's "
                "indexes: genops installs wheels only (building an sdist runs its build code), so "
                "pin a version that ships a wheel")
    return ""


class _Steps:
    """Runs the build's commands, keeping one log for the error a user reads."""

    def __init__(self) -> None:
        self.log: list[str] = []

    def run(self, argv: list[str], env: dict[str, str], what: str) -> None:
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, env=env,
                                  timeout=PIP_TIMEOUT_S, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise VenvBuildError(f"{what} timed out", log="\n".join(self.log)) from None
        self.log += [f"$ {' '.join(argv)}", proc.stdout, proc.stderr]
        if proc.returncode != 0:
            raise VenvBuildError(f"{what} failed (exit {proc.returncode})"
                                 f"{_sdist_hint(proc.stderr)}", log="\n".join(self.log))


def _build(build_dir: Path, requirements: list[str], lock: str | None, *, root: Path,
           indexes: Sequence[str], sandbox: Probe | None) -> None:
    """Create a venv in `build_dir`: wheels downloaded on the host (nothing built or run), then
    installed by the venv's pip inside the sandbox, offline."""
    steps = _Steps()
    steps.run([sys.executable, "-m", "venv", str(build_dir)], {"PATH": SYSTEM_PATH},
              "creating the venv")
    with tempfile.TemporaryDirectory(prefix="genops-wheels-") as tmp:
        house, home = Path(tmp) / "wheels", Path(tmp) / "home"
        house.mkdir()
        home.mkdir()
        wanted = requirements
        if lock is not None:
            (house / "requirements.lock").write_text(lock, encoding="utf-8")
            wanted = ["--require-hashes", "--no-deps", "-r", str(house / "requirements.lock")]
        if wanted:
            steps.run([sys.executable, "-m", "pip", "download", "--isolated", "-q", "--no-input",
                       "--only-binary=:all:", "--dest", str(house),
                       "--cache-dir", str(root / ".pip-cache"), *_index_args(indexes), *wanted],
                      tool_env(os.environ, home), "downloading the tree's dependencies (wheels only)")
        install = [str(build_dir / "bin" / "python"), "-m", "pip", "install", "--isolated", "-q",
                   "--no-input", "--no-index", "--only-binary=:all:", "--no-cache-dir",
                   "--find-links", str(house), *wanted]
        env = {"PATH": f"{build_dir / 'bin'}:{SYSTEM_PATH}", "HOME": str(build_dir),
               "PIP_CONFIG_FILE": os.devnull, "LANG": "C.UTF-8", "PYTHONNOUSERSITE": "1"}
        if wanted and sandbox is not None and sandbox.executable:
            install = bwrap_argv(sandbox.executable, install, scratch=build_dir, cwd=build_dir,
                                 readonly=[*interpreter_roots(sys.executable), house], env=env)
        if wanted:
            steps.run(install, env, "installing the tree's dependencies (in the sandbox, offline)"
                      if sandbox is not None else "installing the tree's dependencies (offline)")


def ensure_venv(requirements: list[str] | tuple[str, ...], lock: str | None = None, *,
                workspace: Path | None = None, indexes: Sequence[str] = DEFAULT_INDEXES,
                sandbox: Probe | None = None) -> Venv:
    """The cached venv for `requirements` (or for the hash-pinned `lock` when given), building it
    (atomically, once) when missing: downloaded on the host without building, installed inside
    `sandbox` (bubblewrap; None only when the workspace explicitly runs unsandboxed)."""
    started = time.monotonic()
    for text in requirements:  # the gate checked the tree; a direct caller meets the policy too
        why = check_line(Declared("(requirement)", None, text), indexes=indexes)
        if why:
            raise VenvBuildError(f"{text!r}: {why}", log="")
    if lock is not None:
        _checked_lock(lock, indexes)
    key = venv_key([*requirements, *([f"lock:{hashlib.sha256(lock.encode()).hexdigest()}"]
                                      if lock is not None else [])], indexes)
    root = cache_root(workspace)
    root.mkdir(parents=True, exist_ok=True)
    final = root / key
    if (final / MARKER).is_file():
        return Venv(final, key, built=False, seconds=time.monotonic() - started)
    with open(root / f".{key}.lock", "w") as builder:
        fcntl.flock(builder, fcntl.LOCK_EX)  # one builder per key; the others wait and reuse
        if (final / MARKER).is_file():
            return Venv(final, key, built=False, seconds=time.monotonic() - started)
        for stale in root.glob(f".build-{key}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        build_dir = root / f".build-{key}-{os.getpid()}"
        try:
            _build(build_dir, list(requirements), lock, root=root, indexes=indexes,
                   sandbox=sandbox)
            (build_dir / MARKER).write_text(json.dumps(
                {"key": key, "requirements": sorted(requirements), "python": sys.version,
                 "indexes": list(indexes), "sandboxed_install": sandbox is not None},
                indent=2) + "\n", encoding="utf-8")
            shutil.rmtree(final, ignore_errors=True)  # a marker-less leftover from an old genops
            os.rename(build_dir, final)
        except BaseException:
            shutil.rmtree(build_dir, ignore_errors=True)
            raise
    return Venv(final, key, built=True, seconds=time.monotonic() - started)
