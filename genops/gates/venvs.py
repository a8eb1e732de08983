"""Virtual environments for the test gate, built from a generated tree's declared dependencies.

A venv is keyed by the sha256 of (interpreter, sorted requirement list) and cached under
`~/.cache/genops/venvs/<key>` (or `$GENOPS_VENV_CACHE/<key>`), so a second run with the same
dependencies pays nothing. It is built in `.build-<key>-<pid>/` and renamed into place only when
pip has finished, under a per-key file lock: a killed build leaves a stray build directory (removed
by the next builder), never a half-built cached venv. Because the venv is renamed after it is
built, its console scripts' shebangs point at the build path; genops therefore always runs
`<venv>/bin/python -m <tool>`, which does not depend on them.

Requirement files are read as data: pip options in them (`--index-url`, `-e`, `--trusted-host`)
are ignored, so a generated tree cannot point pip at another package index.
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
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from genops.errors import GenopsError

# Variables that may hold a credential: never handed to pip (the suite gets an allowlist instead).
_SECRET_PREFIXES = ("OPENAI_", "ANTHROPIC_", "GEMINI_", "GOOGLE_", "AZURE_OPENAI_", "MISTRAL_",
                    "COHERE_", "GROQ_", "DEEPSEEK_", "XAI_", "TOGETHER_", "OPENROUTER_", "AWS_")
_SECRET_PATTERN = re.compile(r"(API_?KEY|_TOKEN|SECRET|PASSWORD|CREDENTIALS)", re.IGNORECASE)
# Variables that would make the suite see genops's interpreter setup instead of its own.
_INTERPRETER_VARS = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "CONDA_PREFIX",
                     "PYTEST_ADDOPTS", "PYTEST_PLUGINS")


def scrub_env(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` without provider keys, credentials or interpreter overrides (for pip builds)."""
    return {k: v for k, v in environ.items()
            if not k.upper().startswith(_SECRET_PREFIXES)
            and not _SECRET_PATTERN.search(k)
            and k not in _INTERPRETER_VARS and not k.startswith("GENOPS_")}


MARKER = "genops-venv.json"
TEST_EXTRAS = ("test", "tests", "testing")
PIP_TIMEOUT_S = 1800.0


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


def _requirement_lines(path: Path, root: Path, seen: set[Path]) -> list[str]:
    """Requirement strings of a requirements file, following `-r` only inside the tree."""
    if path in seen or not path.is_file():
        return []
    seen.add(path)
    found: list[str] = []
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not line:
            continue
        include = re.match(r"^(?:-r|--requirement)[\s=]+(\S+)$", line)
        if include:
            nested = (path.parent / include.group(1)).resolve()
            if nested.is_relative_to(root.resolve()):
                found += _requirement_lines(nested, root, seen)
            continue
        if not line.startswith("-"):
            found.append(line)
    return found


def _pyproject_requirements(path: Path) -> list[str]:
    try:
        project = tomllib.loads(path.read_text(encoding="utf-8")).get("project", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return []
    found = [str(r) for r in project.get("dependencies", []) or []]
    extras = project.get("optional-dependencies", {}) or {}
    for extra in TEST_EXTRAS:
        found += [str(r) for r in extras.get(extra, []) or []]
    return found


def declared_dependencies(tree: Path) -> Dependencies:
    """The tree's pyproject [project.dependencies] + test extra, and its requirements*.txt."""
    requirements: list[str] = []
    sources: list[str] = []
    if (tree / "pyproject.toml").is_file():
        requirements += _pyproject_requirements(tree / "pyproject.toml")
        sources.append("pyproject.toml")
    seen: set[Path] = set()
    for path in sorted(tree.glob("requirements*.txt")):
        requirements += _requirement_lines(path.resolve(), tree, seen)
        sources.append(path.name)
    unique = sorted({" ".join(r.split()) for r in requirements})
    return Dependencies(tuple(unique), tuple(sources))


def cache_root() -> Path:
    override = os.environ.get("GENOPS_VENV_CACHE")
    if override:
        return Path(override).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "genops" / "venvs"


def venv_key(requirements: tuple[str, ...] | list[str]) -> str:
    """sha256 of the interpreter identity and the sorted requirement list."""
    identity = {"python": sys.version, "executable": os.path.realpath(sys.executable),
                "requirements": sorted(requirements)}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]


def _pip_env() -> dict[str, str]:
    env = scrub_env(os.environ)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _build(build_dir: Path, requirements: list[str], lock: str | None = None) -> None:
    """Create a venv in `build_dir` and install `requirements` into it, or exactly the
    hash-pinned `lock` (pip `--require-hashes --no-deps`: nothing unlisted, nothing unhashed)."""
    log: list[str] = []
    steps = [[sys.executable, "-m", "venv", str(build_dir)]]
    pip = [str(build_dir / "bin" / "python"), "-m", "pip", "install", "-q", "--no-input"]
    if lock is not None:
        build_dir.mkdir(parents=True, exist_ok=True)  # venv accepts an existing directory
        lock_file = build_dir / "genops-requirements.lock"
        lock_file.write_text(lock, encoding="utf-8")
        steps.append([*pip, "--require-hashes", "--no-deps", "-r", str(lock_file)])
    elif requirements:
        steps.append([*pip, *requirements])
    for argv in steps:
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, env=_pip_env(),
                                  timeout=PIP_TIMEOUT_S, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise VenvBuildError(f"`{' '.join(argv[1:4])}` timed out", log="\n".join(log)) from None
        log += [f"$ {' '.join(argv)}", proc.stdout, proc.stderr]
        if proc.returncode != 0:
            raise VenvBuildError(f"installing the tree's dependencies failed "
                                 f"(exit {proc.returncode})", log="\n".join(log))


def ensure_venv(requirements: list[str] | tuple[str, ...], lock: str | None = None) -> Venv:
    """The cached venv for `requirements` (or for the hash-pinned `lock` when given), building it
    (atomically, once) when missing."""
    started = time.monotonic()
    key = venv_key([*requirements, *([f"lock:{hashlib.sha256(lock.encode()).hexdigest()}"]
                                      if lock is not None else [])])
    root = cache_root()
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
            _build(build_dir, list(requirements), lock)
            (build_dir / MARKER).write_text(json.dumps(
                {"key": key, "requirements": sorted(requirements), "python": sys.version},
                indent=2) + "\n", encoding="utf-8")
            shutil.rmtree(final, ignore_errors=True)  # a marker-less leftover from an old genops
            os.rename(build_dir, final)
        except BaseException:
            shutil.rmtree(build_dir, ignore_errors=True)
            raise
    return Venv(final, key, built=True, seconds=time.monotonic() - started)
