"""Failure text as a patch instruction: failing tests and findings, normalized for stable requests.

The repair loop and `genops patch --from-test` both turn a failed run of the generated suite into
text for the model. Scratch-tree paths are made tree-relative and durations blanked, so running the
same failure again asks the same question (and replay finds the archived answer).
"""

from __future__ import annotations

import re
from pathlib import Path

from genops.junit import read_junit

_TAG = {"failed": "failure", "error": "error"}  # JUnit's element names, as the request shows them
FAILURE_CHARS = 3000  # of each failing test's JUnit text
_ABS_PATH = re.compile(r"(?<![\w.])/[^\s:'\"(),]+")
_DURATION = re.compile(r"\b\d+(?:\.\d+)?s\b")


def normalize(text: str, paths: list[str]) -> str:
    """Scratch-tree absolute paths made tree-relative and durations blanked, for stable requests."""
    known = set(paths)

    def relative(match: re.Match[str]) -> str:
        parts = match.group(0).split("/")
        for i in range(1, len(parts)):
            tail = "/".join(parts[i:])
            if tail in known:
                return tail
        return match.group(0)

    return _DURATION.sub("<t>s", _ABS_PATH.sub(relative, text))


def junit_failures(path: Path, paths: list[str]) -> list[str]:
    """Each failed or erroring test case with its failure text, from a JUnit XML file."""
    report = read_junit(path)
    if report is None:
        return []
    return [f"{case.id} ({_TAG[case.outcome]}):\n{normalize(case.detail[-FAILURE_CHARS:], paths)}"
            for case in report.cases if case.outcome in _TAG]
