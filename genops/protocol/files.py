"""The file protocol: how a model (or a person) returns whole files and deletions.

    <file path="mad/bus.py">
    ...the whole file, verbatim...
    </file>
    <delete path="mad/old_module.py"/>

`parse_protocol` only returns data; it never writes. Every problem is a `ProtocolError` naming the
block (1-based, counting file and delete blocks in order) and its path:

    ResponseFormatError          a response a model must be asked to repair      -> exit 2
    ├── ProtocolError            a file-protocol block is refused
    └── (BlueprintError)         defined in genops.synthesis.blueprint

Paths are relative POSIX paths inside the output tree, judged by the workspace's path policy
(`genops.pathpolicy`: no ignored, hidden, reserved or over-long names, no control or bidi
characters, no file over `max_file_bytes`). Also refused: a path through a symlink in the
existing tree, a path given twice (also as file and delete), a path that is both a file and the
directory of another file, a delete of a path that is not a file of the existing tree, and a file
block left open. A leading `./` is dropped. One markdown
fence wrapped around a file's content is stripped. Text outside blocks is ignored. A closing
`</file>` counts when it starts or ends a line, so a file may contain `"</file>"` inside a line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from genops.errors import GenopsError
from genops.pathpolicy import DEFAULT_POLICY, PathPolicy, PathRefused, file_dir_clashes

_TAG = re.compile(
    r"<file\s+path\s*=\s*(?P<fq>[\"'])(?P<file>.*?)(?P=fq)\s*>"
    r"|<delete\s+path\s*=\s*(?P<dq>[\"'])(?P<delete>.*?)(?P=dq)\s*(?:/>|>\s*</delete>)")
# A closer counts at the start of a line or at the end of one (`last line</file>`).
_CLOSE = re.compile(r"(?m)^[ \t]*</file>|</file>[ \t]*$")
_NESTED_OPEN = re.compile(r"(?m)^[ \t]*<file\s+path\s*=")
FENCE_LINE = re.compile(r"^(?P<ticks>`{3,}|~{3,})[\w+.#-]*[ \t]*$")


_REPAIR_HINTS = {
    "ignored": "write source files only; never inside .git, .genops, environments, caches or "
               "build output (venv, node_modules, __pycache__, *.egg-info, build/, dist/)",
    "hidden": "use a name that does not start with '.', or list it in [project] allow_hidden",
    "reserved": "rename it: con, prn, aux, nul, com1-9 and lpt1-9 are device names on Windows",
    "trailing": "remove the trailing dot or space from the name",
    "character": "use printable characters only in paths",
    "too-long": "use a shorter name",
    "size": "split the content into smaller files",
}


class ResponseFormatError(GenopsError):
    """A model's answer does not have the agreed shape; the engine asks once for a repair."""


class ProtocolError(ResponseFormatError):
    """A file-protocol block is refused; `block` is 1-based, `path` as the response gave it."""

    def __init__(self, message: str, *, block: int | None = None, path: str | None = None,
                 hint: str | None = None) -> None:
        self.block = block
        self.path = path
        where = ""
        if block is not None:
            where = f"block {block}" + (f" ({path!r})" if path is not None else "") + ": "
        super().__init__(where + message, hint=hint)


@dataclass(frozen=True)
class ParsedOutput:
    """What a response asks for: files by path (in response order) and paths to delete."""

    files: dict[str, str] = field(default_factory=dict)
    deletes: list[str] = field(default_factory=list)


def check_path(path: str, *, root: Path | None = None,
               policy: PathPolicy = DEFAULT_POLICY) -> str:
    """The normalized relative POSIX path, or ValueError (PathRefused) saying why it is refused."""
    return policy.check(path, root=root)


def strip_fence(content: str) -> str:
    """Remove one markdown fence wrapped around the whole content, if there is exactly one."""
    lines = content.strip("\n").split("\n")
    if len(lines) < 2:
        return content
    opener = FENCE_LINE.match(lines[0])
    if not opener or lines[-1].strip() != opener.group("ticks"):
        return content
    ticks = opener.group("ticks")
    inner = lines[1:-1]
    # A fence line inside with the same marker means the first and last lines are not a wrapper
    # (a README that starts and ends with code blocks).
    if any(line.strip().startswith(ticks) for line in inner):
        return content
    return "\n".join(inner) + "\n" if inner else ""


def _file_content(raw: str) -> str:
    """The file text between the tags: drop the newline after the opener, strip a fence."""
    if raw.startswith("\r\n"):
        raw = raw[2:]
    elif raw.startswith("\n"):
        raw = raw[1:]
    content = strip_fence(raw)
    if content and not content.endswith("\n"):
        content += "\n"
    return content


def parse_protocol(text: str, *, root: Path | None = None,
                   policy: PathPolicy = DEFAULT_POLICY) -> ParsedOutput:
    """Parse every `<file>` and `<delete>` block in `text`; any refused block is a ProtocolError.

    `root` is the existing output tree, checked for symlinks along each path; `policy` is the
    workspace's path policy.
    """
    files: dict[str, str] = {}
    deletes: list[str] = []
    seen: dict[str, int] = {}
    block = 0
    pos = 0
    while True:
        match = _TAG.search(text, pos)
        if match is None:
            break
        block += 1
        is_file = match.group("file") is not None
        raw_path = match.group("file") if is_file else match.group("delete")
        try:
            path = policy.check(raw_path, root=root)
        except PathRefused as exc:
            raise ProtocolError(str(exc), block=block, path=raw_path,
                                hint=_REPAIR_HINTS.get(exc.rule)) from None
        if path in seen:
            raise ProtocolError(f"path given twice (first in block {seen[path]})",
                                block=block, path=raw_path)
        seen[path] = block
        if not is_file:
            if root is None or not (root / path).is_file():
                raise ProtocolError("deletes a path that is not in the current tree", block=block,
                                    path=raw_path, hint="delete only files of the current release")
            deletes.append(path)
            pos = match.end()
            continue
        close = _CLOSE.search(text, match.end())
        nested = _NESTED_OPEN.search(text, match.end())
        if close is None or (nested is not None and nested.start() < close.start()):
            raise ProtocolError("block is never closed (missing </file>)", block=block,
                                path=raw_path,
                                hint="end every file with a line holding only </file>")
        files[path] = _file_content(text[match.end():close.start()])
        try:
            policy.check_size(path, len(files[path].encode("utf-8", errors="surrogatepass")))
        except PathRefused as exc:
            raise ProtocolError(str(exc), block=block, path=raw_path,
                                hint=_REPAIR_HINTS["size"]) from None
        pos = close.end()
    clashes = file_dir_clashes(files)
    if clashes:
        file, below = clashes[0]
        raise ProtocolError(f"{file!r} is a file and also the directory of {below!r} "
                            f"(block {seen[below]})", block=seen[file], path=file,
                            hint="rename one of the two paths")
    return ParsedOutput(files=files, deletes=deletes)


def format_protocol(files: dict[str, str], deletes: list[str] | tuple[str, ...] = ()) -> str:
    """Files and deletes written in the protocol, in the given order (the inverse of parsing)."""
    parts = []
    for path, content in files.items():
        body = content if content.endswith("\n") or not content else content + "\n"
        parts.append(f'<file path="{path}">\n{body}</file>\n')
    parts.extend(f'<delete path="{path}"/>\n' for path in deletes)
    return "".join(parts)


# The protocol help as first written. Workspaces whose templates use `{{ protocol }}` keep getting
# it byte for byte, so their archived requests stay replayable; new workspaces' default templates
# use `{{ file_protocol }}` (render_protocol_help), whose example paths steer no model.
LEGACY_PROTOCOL_HELP = """\
Return files with the file protocol (text outside the blocks is ignored):

<file path="pkg/module.py">
...the whole file, verbatim, every line...
</file>
<delete path="pkg/obsolete.py"/>

Rules:
- `path` is a relative POSIX path inside the output tree (forward slashes; no leading '/',
  no '..', no drive letters, no backslashes).
- Write the complete content of every file, never a fragment, an ellipsis or "unchanged".
- Put `</file>` on its own line after the last line of the file.
- Give each path once. Do not wrap the content in markdown fences.
"""


def render_protocol_help(example: str | None = None) -> str:
    """The file protocol explained, for prompts and for people answering manual requests.

    The example block names `example`, one of the request's real files (synthesis passes a file
    of the current release), else placeholders in capitals, not plausible paths: small models copy
    an example path (and its `<delete>`) into their answer.
    """
    if example:
        return f"""\
Return files with the file protocol (text outside the blocks is ignored), for example:

<file path="{example}">
...the whole file, verbatim, every line...
</file>

Rules:
- Write each file under its own real path ({example} in the example is one of this project's
  files), a relative POSIX path inside the output tree (forward slashes; no leading '/', no
  '..', no drive letters, no backslashes).
- Write the complete content of every file, never a fragment, an ellipsis or "unchanged".
- Put `</file>` on its own line after the last line of the file.
- Give each path once. Do not wrap the content in markdown fences.
- Only to remove a file that exists in the current release, write
  <delete path="RELATIVE/PATH/OF/THE/FILE"/> with its real path; a delete of any other path is
  refused.
"""
    return """\
Return files with the file protocol (text outside the blocks is ignored):

<file path="RELATIVE/PATH/OF/THE/FILE">
...the whole file, verbatim, every line...
</file>

Rules:
- RELATIVE/PATH/OF/THE/FILE is a placeholder: write the real path of each file you return, a
  relative POSIX path inside the output tree (forward slashes; no leading '/', no '..', no drive
  letters, no backslashes).
- Write the complete content of every file, never a fragment, an ellipsis or "unchanged".
- Put `</file>` on its own line after the last line of the file.
- Give each path once. Do not wrap the content in markdown fences.
- Only to remove a file that exists in the current release, write
  <delete path="RELATIVE/PATH/OF/THE/FILE"/>; a delete of any other path is refused.
"""
