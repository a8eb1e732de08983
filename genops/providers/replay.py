"""The replay provider: answers only from the archive, so a release rebuilds with no key or network.

A replayed run sends the very requests the original run sent (their `provider` field still names
the original provider), so the lookup is simply `request.key()`. A miss is an error that names the
nearest archived request and what differs, because a miss almost always means an input changed.
"""

from __future__ import annotations

from pathlib import Path

from genops.calls import CompletionRequest, CompletionResponse, TokenCallback
from genops.errors import ProviderError
from genops.ledger.archive import Archive

MAX_DIFFERENCES_SHOWN = 8


def archive_miss_error(archive: Archive, request: CompletionRequest, *, why: str) -> ProviderError:
    """A non-retryable `archive_miss` naming the nearest archived request and what differs."""
    key = request.key()
    what = (f"{why}: no archived response for request {key[:12]} ({request.provider} "
            f"{request.model}, {len(request.messages)} messages)")
    nearest = archive.nearest(request)
    if nearest is None:
        what += f"; the archive at {archive.root} is empty"
    else:
        near_key, differences = nearest
        shown = differences[:MAX_DIFFERENCES_SHOWN]
        more = len(differences) - len(shown)
        what += (f"; nearest archived request {near_key[:12]} differs (archived → requested): "
                 + "; ".join(shown) + (f"; and {more} more" if more > 0 else ""))
    return ProviderError(
        what, error_class="archive_miss", retryable=False,
        hint="replay needs the exact inputs of the recorded run: check out the release's specs, "
             "ADRs, prompts and genops.toml, or run `genops regenerate` with a real provider to "
             "record new responses")


class ReplayProvider:
    """A provider that never leaves the machine: every answer comes from the archive."""

    name = "replay"

    def __init__(self, workspace_root: Path) -> None:
        self.archive = Archive.for_workspace(Path(workspace_root))

    def complete(self, request: CompletionRequest, on_text: TokenCallback | None = None
                 ) -> CompletionResponse:
        """The archived response to `request`, or ProviderError(archive_miss)."""
        response = self.archive.get(request.key())
        if response is None:
            raise archive_miss_error(self.archive, request, why="replay")
        if on_text is not None and response.text:
            on_text(response.text)
        return response
