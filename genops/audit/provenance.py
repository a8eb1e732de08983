"""In-toto Statements about a release: SLSA provenance v1 and a test-result attestation.

Built and checked with the in-toto attestation library (its Statement and ResourceDescriptor, and
the SLSA/test-result predicate protos to check each predicate's shape), serialized as canonical
JSON (sorted keys, no spaces) so a replay produces the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
from in_toto_attestation.predicates.test_result.v0 import test_result_pb2
from in_toto_attestation.v1.resource_descriptor import ResourceDescriptor
from in_toto_attestation.v1.statement import Statement

from genops.junit import read_junit

SLSA_PROVENANCE = "https://slsa.dev/provenance/v1"
TEST_RESULT = "https://in-toto.io/attestation/test-result/v0.1"
BUILD_TYPE = "https://github.com/genops/genops/blob/main/docs/releases.md#release-v1"
BUILDER_ID = "https://github.com/genops/genops"


def canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _rd(name: str, sha256: str, **annotations: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "digest": {"sha256": sha256}}
    if annotations:
        out["annotations"] = annotations
    return out


def subjects(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The tree (by its tree hash) and every output file (by its sha256)."""
    output = manifest["output"]
    prefix = output["dir"].rstrip("/")
    items = [_rd(f"{prefix}/", output["tree_sha256"])]
    items += [_rd(f"{prefix}/{path}", digest) for path, digest in sorted(output["files"].items())]
    return items


def _statement(subject: list[dict[str, Any]], predicate_type: str,
               predicate: dict[str, Any]) -> dict[str, Any]:
    """A validated Statement v1 as data."""
    rds = [json_format.ParseDict(s, ResourceDescriptor().pb) for s in subject]
    statement = Statement(rds, predicate_type, predicate)
    statement.validate()
    data: dict[str, Any] = json_format.MessageToDict(statement.pb)
    return data


def provenance_statement(manifest: Mapping[str, Any], *, resolved: Sequence[dict[str, Any]],
                         byproducts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """SLSA provenance v1 of a release: inputs, model pins, archive keys, evidence, platform."""
    predicate = {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {
                "release": manifest["release"], "parent": manifest.get("parent"),
                "kind": manifest["kind"], "reason": manifest.get("reason", ""),
                "config_sha256": manifest.get("config", {}).get("sha256"),
                "prices_sha256": manifest.get("prices_sha256"),
                "models": manifest.get("models", []),
            },
            "internalParameters": {
                "genops_version": manifest.get("genops_version"),
                "python": manifest.get("platform", {}).get("python"),
                "platform": manifest.get("platform", {}).get("system"),
            },
            "resolvedDependencies": list(resolved),
        },
        "runDetails": {
            "builder": {"id": BUILDER_ID, "version": {"genops": str(manifest.get("genops_version"))}},
            "metadata": {"invocationId": str(manifest.get("run", "")),
                         "startedOn": manifest["created"], "finishedOn": manifest["created"]},
            "byproducts": list(byproducts),
        },
    }
    json_format.ParseDict(predicate, provenance_pb2.Provenance())  # the SLSA v1 shape, or raise
    return _statement(subjects(manifest), SLSA_PROVENANCE, predicate)


def junit_outcomes(junit: Path) -> dict[str, list[str]]:
    """Test ids by outcome (passed, skipped, failed: errors count as failed) from a JUnit file."""
    report = read_junit(junit)
    if report is None or not report.valid:
        raise ValueError(f"{junit}: missing or not JUnit XML")
    outcomes: dict[str, list[str]] = {"passed": [], "skipped": [], "failed": []}
    for case in report.cases:
        outcomes["failed" if case.outcome == "error" else case.outcome].append(case.id)
    return {k: sorted(v) for k, v in outcomes.items()}


def test_result_statement(manifest: Mapping[str, Any], junit: Path, junit_rel: str,
                          junit_sha256: str, command: str) -> dict[str, Any]:
    """The in-toto test-result attestation of the release's tests gate, from its JUnit evidence."""
    outcomes = junit_outcomes(junit)
    result = "FAILED" if outcomes["failed"] else ("WARNED" if outcomes["skipped"] else "PASSED")
    predicate = {
        "result": result,
        "configuration": [_rd(junit_rel, junit_sha256, command=command)],
        "passedTests": outcomes["passed"], "warnedTests": outcomes["skipped"],
        "failedTests": outcomes["failed"],
    }
    json_format.ParseDict(predicate, test_result_pb2.TestResult())
    return _statement(subjects(manifest), TEST_RESULT, predicate)
