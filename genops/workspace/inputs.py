"""Input files must be the workspace's own: a symlink leading outside it is refused at load.

A spec, ADR, template or genops.toml that resolves outside the workspace (itself a symlink, or
inside a symlinked folder) could pull any file of the machine (`/etc/passwd`, a key file) into a
prompt or a manifest, so loading refuses it with the file named.
"""

from __future__ import annotations

from pathlib import Path

from genops.errors import ConfigError


def check_inside(root: Path, path: Path) -> str:
    """The path relative to `root`; ConfigError when it resolves outside the workspace."""
    rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.as_posix()
    if not path.resolve().is_relative_to(root.resolve()):
        raise ConfigError(rel, "is a symlink (or inside a symlinked folder) that leads outside "
                          "the workspace; inputs must be files of the workspace itself",
                          hint="copy the file into the workspace instead of linking it")
    return rel
