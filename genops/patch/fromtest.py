"""`genops patch --from-test NODEID...`: the failure output of tests on the current tree, as the ask.

The tests run exactly as the test gate runs them (its venv, its isolation, no provider keys), on
the current release's tree, limited to the node ids given. Their JUnit failure text, normalized
like the repair loop's (scratch paths made tree-relative, durations blanked), is the instruction.
"""

from __future__ import annotations

import shlex
import tempfile
from pathlib import Path

from genops.errors import UsageError
from genops.gates.base import GateContext
from genops.gates.tests import make_gate
from genops.patch.failures import junit_failures, normalize
from genops.store.tree import tree_files
from genops.workspace import Workspace

OUTPUT_TAIL = 3000


def from_test_instruction(ws: Workspace, nodeids: list[str]) -> str:
    """The instruction for making `nodeids` pass, from their failures on the current tree."""
    cfg = ws.config.gates.tests
    if "pytest" not in cfg.command:
        raise UsageError("--from-test needs a pytest test command",
                         hint="[gates.tests] command runs the generated suite with pytest")
    tree = ws.output_dir
    if not tree.is_dir():
        raise UsageError(f"{ws.config.project.output}/ does not exist: nothing to test",
                         hint="make the first release with `genops regenerate`")
    command = cfg.command + " " + " ".join(shlex.quote(n) for n in nodeids)
    gate = make_gate(ws)  # the test gate exactly as configured (venv, sandbox, environment)
    gate.command, gate.required = command, True
    paths = sorted(tree_files(tree))
    with tempfile.TemporaryDirectory(prefix="genops-from-test-") as scratch:
        ctx = GateContext(workspace=ws, staged=tree, previous=None, evidence_dir=Path(scratch))
        result = gate.check(ctx)
        if result.passed:
            raise UsageError(f"{' '.join(nodeids)}: {result.summary}; there is nothing to fix",
                             hint="name tests that fail on the current tree")
        failures = junit_failures(Path(scratch) / "tests" / "junit.xml", paths)
        if not failures:
            log = (Path(scratch) / "tests" / "output.txt").read_text(encoding="utf-8",
                                                                     errors="replace")
            failures = [normalize(log[-OUTPUT_TAIL:], paths)]
    return ("Make these failing tests pass. Fix the code, unless a test contradicts the "
            "specification; change nothing else.\n\n" + "\n\n".join(failures) + "\n")
