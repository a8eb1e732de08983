"""The manual provider: a person (or another agent) answers the requests, through files.

    run_dir/requests/NN-<label>.md    written by genops: where to answer, the protocol, the messages
    run_dir/responses/NN-<label>.md   written by the person: the answer, verbatim
    run_dir/requests/index.json       request key -> "NN-<label>", so numbering is stable

`complete` returns the response file when it exists and is usable; otherwise it writes the request
file and raises `ManualPending` (exit code 0: nothing failed, the run waits for answers).
An answer that is not UTF-8, empty, or unparseable (the file protocol; a blueprint's JSON) is
never returned, so it is never archived: the request stays waiting and `ManualPending.problems`
names the response file and what is wrong (the run then exits 2 with it). `genops resume`
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

from genops.calls import CompletionRequest, CompletionResponse, TokenCallback, Usage
from genops.errors import ExitCode, GenopsError, ProviderError, UsageError
from genops.fsutil import write_atomic
from genops.ledger.pricing import estimate_request_tokens, estimate_tokens
from genops.protocol.answers import answer_kind, check_answer
from genops.protocol.edits import render_edit_help
from genops.protocol.files import render_protocol_help
from genops.protocol.narrative import HEADINGS

INDEX_NAME = "index.json"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class ManualPending(ProviderError):
    """Requests are waiting for a person's answers; `pending` lists the request files."""

    exit_code = ExitCode.AWAITING  # not a failure: the CLI exits 5 (README "Output and exit codes")

    def __init__(self, pending: list[Path], *, responses_dir: Path,
                 problems: list[str] | None = None) -> None:
        self.pending = list(pending)
        self.responses_dir = responses_dir
        self.problems = list(problems or [])
        names = ", ".join(p.name for p in self.pending)
        super().__init__(
            f"{len(self.pending)} request(s) wait for a manual answer: {names}"
            + "".join(f"\n  rejected: {problem}" for problem in self.problems),
            error_class="manual_pending", retryable=False,
            hint=f"answer each request in {responses_dir}/ under the same file name, then run "
                 f"`genops resume {responses_dir.parent.name}`")

    @classmethod
    def merge(cls, errors: list["ManualPending"]) -> "ManualPending":
        """One ManualPending for several (all requests of a dependency level)."""
        pending = [path for error in errors for path in error.pending]
        problems = [problem for error in errors for problem in error.problems]
        return cls(pending, responses_dir=errors[0].responses_dir, problems=problems)

    def rejection(self, run_id: str) -> UsageError:
        """The error (exit 2) for answers that were rejected; their requests stay waiting."""
        return UsageError("manual answer(s) rejected, nothing archived: "
                          + "; ".join(self.problems),
                          hint=f"fix or rewrite the response file(s) named, then run "
                               f"`genops resume {run_id}`")


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
        path = self.requests_dir / f"{stem}.md"
        problem = None
        if answer.is_file():
            text, problem = read_answer(answer, request_label(request))
            if problem is None:
                if on_text is not None and text:
                    on_text(text)
                usage = Usage(input_tokens=estimate_request_tokens(request),
                              output_tokens=estimate_tokens(text))
                return CompletionResponse(text=text, stop="complete", usage=usage,
                                          model=request.model, raw_stop_reason="manual")
        else:
            problem = self._misnamed(stem, answer)
        self.responses_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(path, self.render_request(request, stem, answer))
        raise ManualPending([path], responses_dir=self.responses_dir,
                            problems=[problem] if problem else None)

    def _misnamed(self, stem: str, answer: Path) -> str | None:
        """An answer saved under another name (`01-blueprint.txt`, `01-blueprint.md.txt`) is
        reported, not silently ignored while the run keeps waiting."""
        if not self.responses_dir.is_dir():
            return None
        near = sorted(p.name for p in self.responses_dir.iterdir()
                      if p.is_file() and p.name != answer.name
                      and (p.name.startswith(stem + ".") or p.name == stem))
        if not near:
            return None
        return (f"{self.responses_dir / near[0]}: looks like the answer to request {stem}, but "
                f"genops reads {answer.name}: rename it")

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
        kind = answer_kind(request_label(request))
        how = {
            "narrative": ("This is the reviewer summary's narrative: answer in markdown under "
                          "exactly these headings, in this order: " + "; ".join(HEADINGS) + "."),
            "edits": "This is a patch: answer with edit blocks (SEARCH/REPLACE), not whole files.",
            "review": "This is a reviewer's request: answer with the one JSON object it describes.",
        }.get(kind, "File contents use the file protocol; a blueprint request is answered with "
                    "its JSON object instead.")
        lines = [
            f"# genops manual request {stem}",
            "",
            f"Write the answer to `{shown}` (the whole answer, verbatim),",
            f"then run `genops resume {self.run_dir.name}`.",
            "Answer what the last message asks. " + how,
            "",
            f"Model this request was rendered for: {request.provider} {request.model}",
            f"Request key: {request.key()}",
            "",
        ]
        if kind == "edits":
            lines += ["## The edit protocol", "", render_edit_help().rstrip(), ""]
        elif kind in ("files", "blueprint"):
            lines += ["## The file protocol", "", render_protocol_help().rstrip(), ""]
        for number, message in enumerate(request.messages, start=1):
            lines += ["---", "", f"## Message {number} ({message.role})", "",
                      message.content.rstrip(), ""]
        return "\n".join(lines) + "\n"


def read_answer(path: Path, label: str) -> tuple[str, str | None]:
    """The answer in `path` and, when it must not be used, why (naming the file)."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return "", (f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                    f"{exc.start}); save the answer as UTF-8")
    if not text.strip():
        return text, f"{path}: the answer is empty"
    if ".cont" in label:  # a continuation is the rest of a cut-off answer: any text goes
        return text, None
    try:
        check_answer(text, label)
    except GenopsError as exc:
        return text, f"{path}: {exc.message}"
    return text, None
