"""The manual provider: a person (or another agent) answers the requests, through files.

    run_dir/requests/NN-<label>.md    written by genops: where to answer, the protocol, the messages
    run_dir/responses/NN-<label>.md   written by the person: the answer, verbatim
    run_dir/requests/index.json       request key -> "NN-<label>", so numbering is stable

`complete` returns the response file when it exists; otherwise it writes the request file and
raises `ManualPending` (exit code 0: nothing failed, the run waits for answers). `genops resume`
re-runs the same synthesis: answered requests are read (and archived by the client), finished ones
are archive hits. NN is the request's position in the order genops first asked (count + 1), so
a re-run numbers the same requests the same way. The label travels in the request's `extra`
(`("label", "...")`), which the synthesis engine sets for manual rungs.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

from genops.errors import ExitCode, ProviderError, UsageError
from genops.fsutil import write_atomic
from genops.ledger.pricing import estimate_request_tokens, estimate_tokens
from genops.providers.base import CompletionRequest, CompletionResponse, TokenCallback, Usage
from genops.synthesis.protocol import render_protocol_help

INDEX_NAME = "index.json"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class ManualPending(ProviderError):
    """Requests are waiting for a person's answers; `pending` lists the request files."""

    exit_code = ExitCode.AWAITING  # not a failure: the CLI exits 5 (README "Output and exit codes")

    def __init__(self, pending: list[Path], *, responses_dir: Path) -> None:
        self.pending = list(pending)
        self.responses_dir = responses_dir
        names = ", ".join(p.name for p in self.pending)
        super().__init__(
            f"{len(self.pending)} request(s) wait for a manual answer: {names}",
            error_class="manual_pending", retryable=False,
            hint=f"answer each request in {responses_dir}/ under the same file name, then run "
                 "`genops resume`")

    @classmethod
    def merge(cls, errors: list["ManualPending"]) -> "ManualPending":
        """One ManualPending for several (all requests of a dependency level)."""
        pending = [path for error in errors for path in error.pending]
        return cls(pending, responses_dir=errors[0].responses_dir)


def request_label(request: CompletionRequest) -> str:
    """The request's label from `extra`, made safe for a file name."""
    label = dict(request.extra).get("label") or "request"
    return _SAFE.sub("-", str(label)).strip("-") or "request"


class ManualProvider:
    """Answers come from files a person writes; missing answers become request files."""

    name = "manual"

    def __init__(self, workspace_root: Path, run_dir: Path | None = None) -> None:
        self.workspace_root = Path(workspace_root)
        self.run_dir = Path(run_dir) if run_dir is not None else \
            self.workspace_root / ".genops" / "runs" / "manual"
        self.requests_dir = self.run_dir / "requests"
        self.responses_dir = self.run_dir / "responses"
        self._lock = threading.Lock()

    def complete(self, request: CompletionRequest, on_text: TokenCallback | None = None
                 ) -> CompletionResponse:
        """The person's answer to `request`, or ManualPending after writing the request file."""
        stem = self._stem(request)
        answer = self.responses_dir / f"{stem}.md"
        if answer.is_file():
            text = answer.read_text(encoding="utf-8")
            if on_text is not None and text:
                on_text(text)
            usage = Usage(input_tokens=estimate_request_tokens(request),
                          output_tokens=estimate_tokens(text))
            return CompletionResponse(text=text, stop="complete", usage=usage,
                                      model=request.model, raw_stop_reason="manual")
        self._refuse_misnamed(stem, answer)
        self.responses_dir.mkdir(parents=True, exist_ok=True)
        path = self.requests_dir / f"{stem}.md"
        write_atomic(path, self.render_request(request, stem, answer))
        raise ManualPending([path], responses_dir=self.responses_dir)

    def _refuse_misnamed(self, stem: str, answer: Path) -> None:
        """An answer saved under another name (`01-blueprint.txt`, `01-blueprint.md.txt`) is
        reported, not silently ignored while the run keeps waiting."""
        if not self.responses_dir.is_dir():
            return
        near = sorted(p.name for p in self.responses_dir.iterdir()
                      if p.is_file() and p.name != answer.name
                      and (p.name.startswith(stem + ".") or p.name == stem))
        if near:
            raise UsageError(
                f"{self.responses_dir / near[0]}: looks like the answer to request {stem}, but "
                f"genops reads {answer.name}", hint=f"rename it to {answer}, then run "
                "`genops resume` again")

    def _stem(self, request: CompletionRequest) -> str:
        """`NN-<label>` for this request, assigned once and kept in index.json."""
        key = request.key()
        with self._lock:
            self.requests_dir.mkdir(parents=True, exist_ok=True)
            index_path = self.requests_dir / INDEX_NAME
            index: dict[str, str] = {}
            if index_path.is_file():
                index = json.loads(index_path.read_text(encoding="utf-8"))
            if key not in index:
                index[key] = f"{len(index) + 1:02d}-{request_label(request)}"
                write_atomic(index_path, json.dumps(index, indent=2, sort_keys=True) + "\n")
            return index[key]

    def render_request(self, request: CompletionRequest, stem: str, answer: Path) -> str:
        """The request file: instructions for the person first, then every message by role."""
        try:
            shown = answer.relative_to(self.workspace_root)
        except ValueError:
            shown = answer
        lines = [
            f"# genops manual request {stem}",
            "",
            f"Write the answer to `{shown}` (the whole answer, verbatim),",
            "then run `genops resume`.",
            "Answer what the last message asks. File contents use the file protocol; a blueprint",
            "request is answered with its JSON object instead.",
            "",
            f"Model this request was rendered for: {request.provider} {request.model}",
            f"Request key: {request.key()}",
            "",
            "## The file protocol",
            "",
            render_protocol_help().rstrip(),
            "",
        ]
        for number, message in enumerate(request.messages, start=1):
            lines += ["---", "", f"## Message {number} ({message.role})", "",
                      message.content.rstrip(), ""]
        return "\n".join(lines) + "\n"
