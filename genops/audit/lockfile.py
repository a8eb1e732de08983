"""The generated tree's hash-pinned dependency lock: `<output>.lock`, committed beside the tree.

The tree declares its direct dependencies (requirements files or pyproject, see
`genops.gates.venvs.declared_dependencies`); `genops lock` resolves them with uv into a pip
requirements file with `--hash` lines for every distribution, universal across platforms. The
lock's first line records the sha256 of the declared set it was made from, so a dependency the
model adds without a lock update is detected offline, and the tests gate installs with
`--require-hashes` from exactly what a reviewer saw.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genops.errors import GenopsError, UsageError
from genops.toolenv import tool_env

HEADER = "# genops lock: declared sha256 "
LICENSE_PREFIX = "# license "  # `# license name==version: EXPRESSION`, one line per package
PYPI_JSON = ("https://pypi.org/pypi/{name}/{version}/json",  # this release's metadata
             "https://pypi.org/pypi/{name}/json")  # the project's, when a mirror lacks the first
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")
_HASH = re.compile(r"--hash=(sha256):([0-9a-f]{64})")


@dataclass(frozen=True)
class LockedPackage:
    """One pinned distribution of the lock, with every artifact hash pip may accept."""

    name: str
    version: str
    hashes: tuple[str, ...]
    license: str = "unknown"

    @property
    def purl(self) -> str:
        return f"pkg:pypi/{normalize(self.name)}@{self.version}"


def normalize(name: str) -> str:
    """PEP 503 name normalization."""
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_path(root: Path, output: str) -> Path:
    return root / f"{output}.lock"


def declared_sha256(requirements: list[str] | tuple[str, ...]) -> str:
    """The fingerprint of a declared dependency set (order and spacing do not matter)."""
    lines = sorted({" ".join(r.split()) for r in requirements})
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def lock_header(text: str) -> str | None:
    first = text.splitlines()[0] if text else ""
    return first.removeprefix(HEADER).strip() if first.startswith(HEADER) else None


def parse_lock(text: str) -> list[LockedPackage]:
    """The pinned packages of a lock (continuation lines joined; comments skipped)."""
    joined = re.sub(r"\\\n", " ", text)
    licenses: dict[str, str] = {}
    packages: list[LockedPackage] = []
    for line in joined.splitlines():
        if line.startswith(LICENSE_PREFIX):
            pin, _, expression = line.removeprefix(LICENSE_PREFIX).partition(": ")
            licenses[normalize(pin.split("==")[0])] = expression.strip() or "unknown"
            continue
        line = line.split(" #", 1)[0].strip()
        match = _PIN.match(line)
        if match:
            hashes = tuple(f"{algo}:{digest}" for algo, digest in _HASH.findall(line))
            packages.append(LockedPackage(match.group(1), match.group(2), hashes))
    packages = [LockedPackage(p.name, p.version, p.hashes, licenses.get(normalize(p.name), "unknown"))
                for p in packages]
    return sorted(packages, key=lambda p: normalize(p.name))


def stale_reason(requirements: list[str] | tuple[str, ...], lock: Path, *, fix: str) -> str | None:
    """Why the lock does not cover the declared dependencies, or None when it does."""
    if not requirements:
        return None
    if not lock.is_file():
        return f"the tree declares dependencies but has no lock {lock.name}; run `{fix}`"
    recorded = lock_header(lock.read_text(encoding="utf-8"))
    if recorded != declared_sha256(requirements):
        return (f"the declared dependencies changed since {lock.name} was made (a dependency was "
                f"added, removed or re-pinned without a lock update); run `{fix}` and review it")
    return None


def _uv() -> list[str]:
    found = shutil.which("uv")
    if found:
        return [found]
    try:
        import uv  # noqa: F401  (the PyPI package ships the binary)
    except ImportError:
        raise UsageError("`genops lock` needs uv", hint="pip install uv") from None
    return [sys.executable, "-m", "uv"]


def resolve(requirements: list[str] | tuple[str, ...], *, python_version: str,
            indexes: Sequence[str] = ("https://pypi.org/simple",)) -> str:
    """A universal, hash-pinned lock of `requirements`, with genops's header line (needs the
    index). uv runs with no configuration file, an allowlisted environment (no secret, no
    UV_*/PIP_* setting) and only the workspace's `indexes`; the tree passed the dependency
    policy first, so no option of its own reaches uv."""
    with tempfile.TemporaryDirectory(prefix="genops-lock-") as tmp:
        source = Path(tmp) / "requirements.in"
        target = Path(tmp) / "requirements.lock"
        home = Path(tmp) / "home"
        home.mkdir()
        source.write_text("\n".join(requirements) + "\n", encoding="utf-8")
        argv = [*_uv(), "pip", "compile", str(source), "-o", str(target), "--generate-hashes",
                "--universal", "--python-version", python_version, "--no-header", "--quiet",
                "--no-annotate", "--no-config", "--index-url", indexes[0],
                *[arg for extra in indexes[1:] for arg in ("--extra-index-url", extra)],
                "--cache-dir", str(Path(tmp) / "uv-cache")]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=tmp,
                              env=tool_env(os.environ, home), stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise GenopsError(f"uv could not resolve the tree's dependencies: "
                              f"{proc.stderr.strip()[-2000:]}")
        body = target.read_text(encoding="utf-8")
    lines = [f"{LICENSE_PREFIX}{p.name}=={p.version}: {license_of(p.name, p.version)}"
             for p in parse_lock(body)]
    return f"{HEADER}{declared_sha256(requirements)}\n{body}" + "\n".join(lines) + "\n"


def license_of(name: str, version: str) -> str:
    """A distribution's license as PyPI publishes it (SPDX expression when given), or "unknown"."""
    import httpx

    info: dict[str, Any] = {}
    for url in PYPI_JSON:
        try:
            reply = httpx.get(url.format(name=name, version=version), timeout=30,
                              follow_redirects=True)
            reply.raise_for_status()
            info = reply.json().get("info", {})
            break
        except (httpx.HTTPError, ValueError):
            continue
    expression = info.get("license_expression")
    if expression:
        return str(expression)
    license_text = (info.get("license") or "").strip()
    if license_text and "\n" not in license_text and len(license_text) < 80:
        return license_text
    for classifier in info.get("classifiers") or []:
        if str(classifier).startswith("License :: OSI Approved :: "):
            return str(classifier).rsplit(" :: ", 1)[1]
    return "unknown"
