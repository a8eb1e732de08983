"""The tests gate's sandbox: bubblewrap around the generated suite, and the environment it gets.

The generated suite is code a model wrote, so it runs as untrusted code. Under bubblewrap it sees
the system read-only (`/usr`, `/etc` minus the password shadows, the `/bin`-style links), the
interpreter and the cached venv read-only at their own paths, a fresh `/proc` and `/dev`, a private
`/tmp`, and exactly one writable directory: the run's scratch folder holding the copy of the tree.
The workspace and the user's home are not mounted at all. It gets new PID, IPC, UTS, cgroup and
network namespaces (loopback only, so the suite's own redis-server still works on 127.0.0.1), no
capabilities, its own session, and dies with genops.

`/etc` is mounted as a view of what every user of the machine may read: files that are not
world-readable (the password shadows, host keys, a root-only credential) are absent, so a suite
running as root learns no more than one running as nobody. Resource limits (`Limits`: CPU time,
address space, processes, file size) are set on the sandbox's processes with setrlimit.

Its environment is built from an allowlist whether or not bubblewrap runs: PATH, LANG/LC_ALL, HOME
and TMPDIR inside the scratch folder, plus exactly the names `[gates.tests] env` lists.
"""

from __future__ import annotations

import functools
import os
import resource
import stat
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from genops.toolenv import SYSTEM_PATH

SandboxMode = Literal["required", "preferred", "off"]
# Top-level system directories mounted read-only (or re-created as the same symlink).
SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
VIEWED_DIRS = ("/etc",)  # mounted as their world-readable part only
NAMESPACES = ("--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net",
              "--unshare-cgroup-try")
PROBE_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class Probe:
    """Whether bubblewrap can run here, and what to tell the user either way."""

    ok: bool
    executable: str | None
    message: str


@functools.lru_cache(maxsize=8)
def probe(bwrap: str = "bwrap") -> Probe:
    """Run bubblewrap once with the namespaces the gate uses; cached per executable."""
    path = shutil.which(bwrap)
    if path is None:
        return Probe(False, None, f"bubblewrap ({bwrap!r}) is not installed "
                                  "(Debian/Ubuntu: apt-get install bubblewrap)")
    argv = [path, "--ro-bind", "/", "/", *NAMESPACES, "--proc", "/proc", "--dev", "/dev",
            "--cap-drop", "ALL", "--die-with-parent", "--new-session", "true"]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S,
                              stdin=subprocess.DEVNULL, env={"PATH": SYSTEM_PATH})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Probe(False, path, f"bubblewrap cannot run here: {exc}")
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        why = lines[-1] if lines else f"exit code {proc.returncode}"
        return Probe(False, path, f"bubblewrap cannot run here: {why}")
    return Probe(True, path, f"bubblewrap at {path}")


def allowlist_env(environ: Mapping[str, str], names: Sequence[str], *, home: Path, tmpdir: Path,
                  python: Path | str) -> dict[str, str]:
    """The suite's whole environment: a fixed base plus exactly `names` copied from `environ`."""
    env = {"PATH": f"{Path(python).parent}{os.pathsep}{SYSTEM_PATH}",
           "LANG": environ.get("LANG", "C.UTF-8"), "HOME": str(home), "TMPDIR": str(tmpdir),
           "PYTHONDONTWRITEBYTECODE": "1"}
    if "LC_ALL" in environ:
        env["LC_ALL"] = environ["LC_ALL"]
    for name in names:
        if name in environ:
            env[name] = environ[name]
    return env


def interpreter_roots(python: Path | str) -> list[Path]:
    """Directories the gate's interpreter needs (its venv, its base install) outside /usr."""
    candidates = {Path(sys.base_prefix).resolve(), Path(os.path.realpath(python)).parent.parent}
    exe = Path(python)
    if (exe.parent.parent / "pyvenv.cfg").is_file():  # a venv: mount it at its own path
        candidates.add(exe.parent.parent.absolute())
    system = ("/usr", "/bin", "/sbin", "/lib", "/etc")
    return sorted(p for p in candidates
                  if p != Path("/") and not any(str(p).startswith(s + "/") or str(p) == s
                                                for s in system))


def _world_readable(path: Path) -> bool:
    try:
        mode = path.lstat().st_mode
    except OSError:
        return False
    if stat.S_ISDIR(mode):
        return bool(mode & stat.S_IROTH and mode & stat.S_IXOTH)
    return bool(stat.S_ISREG(mode) and mode & stat.S_IROTH) or stat.S_ISLNK(mode)


def _all_readable(path: Path) -> bool:
    """True when `path` and everything below it is world-readable (so one bind shows it all)."""
    if not _world_readable(path):
        return False
    if path.is_dir() and not path.is_symlink():
        try:
            return all(_all_readable(child) for child in path.iterdir())
        except OSError:
            return False
    return True


@functools.lru_cache(maxsize=4)
def readable_view(root: str) -> tuple[str, ...]:
    """bubblewrap arguments that show `root` with only its world-readable entries: whole
    subtrees are bound in one piece, a subtree holding a private file is rebuilt entry by entry."""
    args: list[str] = []

    def walk(path: Path) -> None:
        if _all_readable(path):
            args.extend(["--ro-bind", str(path), str(path)])
            return
        if not _world_readable(path):
            return
        args.extend(["--dir", str(path)])
        try:
            children = sorted(path.iterdir())
        except OSError:
            return
        for child in children:
            if child.is_symlink():
                args.extend(["--symlink", os.readlink(child), str(child)])
            elif child.is_dir() or child.is_file():
                walk(child)

    walk(Path(root))
    return tuple(args)


def _system_mounts() -> list[str]:
    args: list[str] = []
    for name in SYSTEM_DIRS:
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for viewed in VIEWED_DIRS:
        view = list(readable_view(viewed))
        if view[:2] == ["--dir", viewed]:  # rebuilt entry by entry: on a tmpfs made read-only
            view = ["--tmpfs", viewed, *view[2:], "--remount-ro", viewed]
        args += view
    return args


@dataclass(frozen=True)
class Limits:
    """What each of the tree's processes may use (setrlimit, inherited through bubblewrap)."""

    cpu_s: int = 1800
    memory_mb: int = 4096
    processes: int = 1024
    file_mb: int = 512

    def apply(self) -> None:
        """Set the limits on the calling process (a `preexec_fn`: runs in the child)."""
        for name, value in ((resource.RLIMIT_CPU, self.cpu_s),
                            (resource.RLIMIT_AS, self.memory_mb << 20),
                            (resource.RLIMIT_NPROC, self.processes),
                            (resource.RLIMIT_FSIZE, self.file_mb << 20),
                            (resource.RLIMIT_CORE, 0)):
            _soft, hard = resource.getrlimit(name)
            capped = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(name, (capped, capped))


def bwrap_argv(bwrap: str, argv: Sequence[str], *, scratch: Path, cwd: Path,
               readonly: Iterable[Path], env: Mapping[str, str]) -> list[str]:
    """`argv` wrapped in bubblewrap: the system read-only, only `scratch` writable."""
    args = [bwrap, *NAMESPACES, "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--clearenv", *_system_mounts(), "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for path in readonly:
        args += ["--ro-bind", str(path), str(path)]
    args += ["--bind", str(scratch), str(scratch), "--chdir", str(cwd)]
    for key, value in sorted(env.items()):
        args += ["--setenv", key, value]
    return [*args, "--", *argv]
