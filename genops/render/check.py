"""Rendering a `genops check` report: text, markdown, json, github, sarif (2.1.0) and junit.

Every renderer takes the report's plain dict (`CheckReport.to_dict()`) and returns a string, so
the CLI decides where it goes (stdout or `--output FILE`). Paths are workspace-relative; `prefix`
(the workspace's directory inside the git repository) makes them repository-relative, which is
what GitHub annotations and code scanning need.
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from typing import Any

import genops

# The same GitHub escaping and SARIF schema as the semantic-diff renderers.
from genops.render.release import model_line, model_name
from genops.render.semdiff import SARIF_SCHEMA, _escape_data, _escape_property

FORMATS = ("text", "markdown", "json", "github", "sarif", "junit")
COMMENT_MARKER = "<!-- genops-check -->"
MAX_FINDINGS_SHOWN = 50
_MARK = {"pass": "✓", "fail": "✗", "warn": "!", "skip": "-"}
_ICON = {"pass": "✅", "fail": "❌", "warn": "⚠️", "skip": "⏭️"}
_LEVEL = {"error": "error", "warning": "warning", "note": "note"}


def _where(finding: dict[str, Any], prefix: str = "") -> str:
    file = finding.get("file")
    if not file:
        return ""
    path = f"{prefix}{file}"
    return f"{path}:{finding['line']}" if finding.get("line") else path


def _headline(report: dict[str, Any]) -> str:
    failed = [r for r in report["results"] if r["verdict"] == "fail"]
    state = "passed" if not failed else f"failed ({len(failed)} of {len(report['results'])} checks)"
    facts = [f"release {report['release']}" if report.get("release") else "no release yet"]
    if report.get("base"):
        facts.append(f"base {report['base']}")
    return f"{report.get('command', 'genops check')} {state} — {', '.join(facts)}"


def _findings(result: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from result.get("findings", [])[:MAX_FINDINGS_SHOWN]


def _more(result: dict[str, Any]) -> int:
    return max(0, len(result.get("findings", [])) - MAX_FINDINGS_SHOWN)


def to_text(report: dict[str, Any], prefix: str = "") -> str:
    """A terminal report: one line per check, its findings indented below."""
    lines = [_headline(report), ""]
    width = max((len(r["gate"]) for r in report["results"]), default=0)
    for result in report["results"]:
        lines.append(f"{_MARK[result['verdict']]} {result['gate']:<{width}}  "
                     f"{result['verdict']:<4}  {result['summary']}")
        for finding in _findings(result):
            where = _where(finding, prefix)
            message = finding["message"].replace("\n", "\n      ")
            lines.append(f"    {where + ': ' if where else ''}{message}")
        if _more(result):
            lines.append(f"    ... and {_more(result)} more")
    return "\n".join(lines) + "\n"


def _md_cell(text: str) -> str:
    """One markdown line: pipes escaped (tables), newlines folded."""
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(report: dict[str, Any], prefix: str = "") -> str:
    """A PR comment / job summary: a table of checks, then the findings of each that did not pass."""
    icon = _ICON["pass"] if report["passed"] else _ICON["fail"]
    lines = [COMMENT_MARKER, f"## {icon} {_headline(report)}", "",
             "| check | verdict | summary |", "|---|---|---|"]
    for result in report["results"]:
        lines.append(f"| {result['gate']} | {_ICON[result['verdict']]} {result['verdict']} | "
                     f"{_md_cell(result['summary'])} |")
    for result in report["results"]:
        if not result.get("findings"):
            continue
        lines += ["", f"### {result['gate']} ({result['verdict']})", ""]
        for finding in _findings(result):
            where = _where(finding, prefix)  # paths and messages may carry model text: inert
            rule = f" `{finding['rule']}`" if finding.get("rule") else ""
            message = model_line(finding["message"])
            lines.append(f"- {model_name(where) + ' ' if where else ''}{message}{rule}")
        if _more(result):
            lines.append(f"- ... and {_more(result)} more")
    return "\n".join(lines) + "\n"


def to_json(report: dict[str, Any], prefix: str = "") -> str:
    return json.dumps(report, indent=2, default=str) + "\n"


def _gh_command(level: str, message: str, title: str, file: str | None = None,
                line: int | None = None) -> str:
    props = []
    if file:
        props.append(f"file={_escape_property(file)}")
        if line:
            props.append(f"line={line}")
    props.append(f"title={_escape_property(title)}")
    return f"::{level} {','.join(props)}::{_escape_data(message)}"


def to_github(report: dict[str, Any], prefix: str = "") -> str:
    """GitHub Actions annotations: one per finding, one per failing check without findings."""
    commands = {"error": "error", "warning": "warning", "note": "notice"}
    lines = []
    for result in report["results"]:
        findings = result.get("findings", [])
        for finding in findings:
            file = f"{prefix}{finding['file']}" if finding.get("file") else None
            title = f"genops {result['gate']}" + (f": {finding['rule']}" if finding.get("rule") else "")
            lines.append(_gh_command(commands[finding.get("severity", "error")], finding["message"],
                                     title, file, finding.get("line")))
        if result["verdict"] in ("fail", "warn") and not findings:
            level = "error" if result["verdict"] == "fail" else "warning"
            lines.append(_gh_command(level, result["summary"], f"genops {result['gate']}"))
    lines.append(f"genops check: {'passed' if report['passed'] else 'failed'}")
    return "\n".join(lines) + "\n"


def _sarif_results(report: dict[str, Any], prefix: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(rule id, gate, SARIF result without ruleIndex) for every finding and bare failure."""
    for result in report["results"]:
        findings = result.get("findings", [])
        for finding in findings:
            rule = finding.get("rule") or result["gate"]
            yield rule, result["gate"], _sarif_result(
                rule, _LEVEL.get(finding.get("severity", "error"), "error"), finding["message"],
                f"{prefix}{finding['file']}" if finding.get("file") else None, finding.get("line"))
        if result["verdict"] in ("fail", "warn") and not findings:
            level = "error" if result["verdict"] == "fail" else "warning"
            yield result["gate"], result["gate"], _sarif_result(
                result["gate"], level, result["summary"], f"{prefix}genops.toml", None)


def _sarif_result(rule: str, level: str, message: str, file: str | None,
                  line: int | None) -> dict[str, Any]:
    identity = f"{rule}:{file or ''}:{hashlib.sha256(message.encode()).hexdigest()[:16]}"
    item: dict[str, Any] = {"ruleId": rule, "level": level, "message": {"text": message},
                            "partialFingerprints": {"genopsCheck/v1": identity}}
    if file:
        physical: dict[str, Any] = {"artifactLocation": {"uri": file, "uriBaseId": "%SRCROOT%"}}
        if line and line > 0:
            physical["region"] = {"startLine": int(line)}
        item["locations"] = [{"physicalLocation": physical}]
    return item


def to_sarif(report: dict[str, Any], prefix: str = "", version: str = "") -> str:
    """A SARIF 2.1.0 log with one run; rules are the distinct rule ids, results point at files."""
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for rule, gate, item in _sarif_results(report, prefix):
        if rule not in rules:
            rules[rule] = {"id": rule, "name": _rule_name(rule),
                           "shortDescription": {"text": f"genops {gate} check: {rule}"},
                           "properties": {"gate": gate}}
        item["ruleIndex"] = list(rules).index(rule)
        results.append(item)
    driver: dict[str, Any] = {"name": "genops", "rules": list(rules.values())}
    if version:
        driver["version"] = version
    log = {"$schema": SARIF_SCHEMA, "version": "2.1.0",
           "runs": [{"tool": {"driver": driver}, "results": results,
                     "invocations": [{"executionSuccessful": True}],
                     "properties": {"passed": report["passed"], "release": report.get("release"),
                                    "base": report.get("base")}}]}
    return json.dumps(log, indent=2) + "\n"


def _rule_name(rule: str) -> str:
    """A SARIF rule name: an identifier-like form of the id (ADR-0003/independent -> Adr0003Independent)."""
    parts = [p for p in rule.replace("#", "/").replace("-", "/").replace("_", "/").split("/") if p]
    return "".join(p[:1].upper() + p[1:].lower() for p in parts) or "Genops"


def to_junit(report: dict[str, Any], prefix: str = "") -> str:
    """JUnit XML: one test case per check; a failing check is a failure listing its findings."""
    results = report["results"]
    failures = sum(r["verdict"] == "fail" for r in results)
    skipped = sum(r["verdict"] == "skip" for r in results)
    seconds = f"{sum(r.get('seconds', 0.0) for r in results):.3f}"
    counts = {"tests": str(len(results)), "failures": str(failures), "errors": "0",
              "skipped": str(skipped), "time": seconds}
    root = ET.Element("testsuites", {"name": "genops check", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": "genops check", **counts})
    for result in results:
        case = ET.SubElement(suite, "testcase", {"classname": "genops.check", "name": result["gate"],
                                                 "time": f"{result.get('seconds', 0.0):.3f}"})
        details = "\n".join(f"{_where(f, prefix)}: {f['message']}".lstrip(": ")
                            for f in result.get("findings", []))
        if result["verdict"] == "fail":
            failure = ET.SubElement(case, "failure", {"message": result["summary"], "type": "fail"})
            failure.text = details or result["summary"]
        elif result["verdict"] == "skip":
            ET.SubElement(case, "skipped", {"message": result["summary"]})
        else:
            ET.SubElement(case, "system-out").text = "\n".join(filter(None, [result["summary"],
                                                                             details]))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


RENDERERS: dict[str, Callable[..., str]] = {
    "text": to_text, "markdown": to_markdown, "json": to_json, "github": to_github,
    "sarif": to_sarif, "junit": to_junit,
}


def render(report: dict[str, Any], fmt: str, *, prefix: str = "") -> str:
    """The report in one of FORMATS."""
    if fmt == "sarif":
        return to_sarif(report, prefix, version=genops.__version__)
    return RENDERERS[fmt](report, prefix)
