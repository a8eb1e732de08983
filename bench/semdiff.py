"""Benchmark: genops' semantic diff against griffe on real package pairs (not a timed test).

For each pair prints the files per side, genops cold (empty cache), warm (best of 5: every model
cached, the comparison redone) and same (best of 5: the stored result of an already diffed pair),
griffe (both trees loaded the way `griffe check` loads them, aliases resolved, then
`find_breaking_changes`), the ratios to griffe; recall (griffe's breaking changes that genops
reports as breaking at griffe's own path, with a matching kind); and precision (the breaking
changes genops reports where griffe reports none, each checked against griffe's own models of
both trees and classified "genops right" or "genops wrong", with a sample of each class).
griffe 2.4.1 crashes on the Django pair with AliasResolutionError; the crash is caught and
reported, then griffe is timed again with the small patch in tests/semdiff/griffe_reference.py.

Run by hand: `python bench/semdiff.py [--work DIR] [--pairs packaging,httpx,pydantic,django,attrs]`.
The wheels are fetched with `pip download --no-deps` into DIR (default: the user cache); a pair
that cannot be fetched is skipped. Bars on a 2-core machine (Django 5.0.14 -> 5.1.15): cold at
most half griffe's time, warm at most a tenth.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "semdiff")]

from griffe_reference import classify, extras, griffe_breakages, griffe_check, patched_griffe, unmatched  # noqa: E402

from genops.semdiff import Change, DiffResult, diff_trees  # noqa: E402

FIXTURES = REPO / "tests" / "semdiff" / "fixtures"
WARM_RUNS = 5
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


def timed(action: Callable[[], object]) -> tuple[float, object]:
    """Seconds an action takes, and what it returned."""
    start = time.perf_counter()
    value = action()
    return time.perf_counter() - start, value


def bench_pair(name: str, old: Path, new: Path, package: str) -> None:
    """Time genops cold and warm and griffe on one pair, and print the comparison."""
    files = sum(1 for _ in old.rglob("*.py")), sum(1 for _ in new.rglob("*.py"))
    with tempfile.TemporaryDirectory(prefix="genops-bench-cache-") as cache:
        cold, result = timed(lambda: diff_trees(old, new, cache_dir=Path(cache)))
        warm = min(timed(lambda: diff_trees(old, new, cache_dir=Path(cache), reuse_result=False))[0]
                   for _ in range(WARM_RUNS))
        again = min(timed(lambda: diff_trees(old, new, cache_dir=Path(cache)))[0] for _ in range(WARM_RUNS))
    crash = ""
    try:
        griffe_time, checked = timed(lambda: griffe_check(old, new, package))
    except Exception as error:  # noqa: BLE001 - the point is to report griffe's crash, whatever it is
        crash = f"{type(error).__name__}: {str(error)[:100]}"
        with patched_griffe():
            griffe_time, checked = timed(lambda: griffe_check(old, new, package))
    assert isinstance(result, DiffResult) and isinstance(checked, tuple)
    reference, old_model, new_model = checked
    missed = unmatched(reference, result)
    print(f"\n{name}: {files[0]} -> {files[1]} Python files")
    print(f"  genops cold {cold:6.2f} s   ratio to griffe {cold / griffe_time:5.2f}  (bar <= 0.50)")
    print(f"  genops warm {warm:6.2f} s   ratio to griffe {warm / griffe_time:5.2f}  (bar <= 0.10; models cached, "
          "pair compared again)")
    print(f"  genops same {again:6.2f} s   ratio to griffe {again / griffe_time:5.2f}  (pair already diffed: stored "
          "result)")
    print(f"  griffe      {griffe_time:6.2f} s" + (" (patched; unpatched it crashed)" if crash else ""))
    if crash:
        print(f"  griffe crash: {crash}")
    print(f"  changes {len(result.changes)} ({len(result.breaking)} breaking); stats {result.stats.to_json()}")
    print(f"  recall: griffe breaking changes reported by genops at griffe's path: "
          f"{len(reference) - len(missed)}/{len(reference)}")
    for kind, path in missed:
        print(f"    missed {kind} {path}")
    precision(extras(reference, result), old_model, new_model)


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
    args = parser.parse_args()
    wanted = args.pairs.split(",")
    print(f"semantic diff benchmark on {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}")
    warm_up()
    if "packaging" in wanted:
        bench_pair("packaging 21.3 -> 22.0 (vendored sample)", FIXTURES / "packaging-21.3",
                   FIXTURES / "packaging-22.0", "packaging")
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
        bench_pair(f"{old_req} -> {new_req}", old, new, package)


if __name__ == "__main__":
    main()
