"""`python -m genops.cli.selfcheck [REPO]`: CI's check that genops keeps its own ADRs (docs/adr)."""

from __future__ import annotations

import sys
from pathlib import Path

from genops.errors import GenopsError
from genops.gates.selfgov import check_package


def main(argv: list[str] | None = None) -> int:
    """Print each standing violation as file:line and exit 1 if any; 2 on a bad ADR."""
    args = sys.argv[1:] if argv is None else argv
    repo = Path(args[0]) if args else Path.cwd()
    try:
        report = check_package(repo)
    except GenopsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for v in (*report.violations, *report.unused_waivers):
        where = f"{v.file}:{v.line}" if v.line else (v.file or "")
        print(f"{where}: {v.severity}: {v.message}")
    print(f"genops self-check: {report.rules_checked} rule(s), {len(report.violations)} "
          f"violation(s), {len(report.waived)} waived, {len(report.unused_waivers)} stale waiver(s)")
    return 1 if report.violations else 0


if __name__ == "__main__":
    raise SystemExit(main())
