"""The environment of the package tools genops runs on the host (pip download, uv resolve).

An allowlist: what a tool needs to reach the network (proxies, CA bundles) and nothing else, so a
user's GH_PAT, DATABASE_URL or provider key never reaches a resolver or an index, and no
configuration file (user, machine or environment: pip.conf, uv.toml, PIP_*/UV_* variables) can
point it at another index.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TOOL_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
            "http_proxy", "https_proxy", "no_proxy", "all_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR",
            "REQUESTS_CA_BUNDLE")


def tool_env(environ: Mapping[str, str], home: Path) -> dict[str, str]:
    """The whole environment of pip or uv on the host: network settings only, a private HOME,
    no configuration file and no secret."""
    env = {k: environ[k] for k in TOOL_ENV if k in environ}
    env.setdefault("PATH", SYSTEM_PATH)
    env.update({"HOME": str(home), "PIP_CONFIG_FILE": os.devnull, "PIP_NO_INPUT": "1",
                "PIP_DISABLE_PIP_VERSION_CHECK": "1", "UV_NO_CONFIG": "1",
                "XDG_CONFIG_HOME": str(home / ".config"), "PYTHONNOUSERSITE": "1"})
    return env
