"""Shared rich consoles and the one way errors are printed."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

from genops.errors import ConfigError, GenopsError

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def print_error(exc: GenopsError) -> None:
    """One clear error: what, where, and what to do."""
    err.print(f"[bold red]error:[/] {exc.message}", markup=True, highlight=False)
    if exc.hint:
        err.print(f"  [dim]hint:[/] {exc.hint}")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def error_dict(exc: GenopsError) -> dict[str, Any]:
    data: dict[str, Any] = {"error": exc.message, "exit_code": int(exc.exit_code)}
    if exc.hint:
        data["hint"] = exc.hint
    if isinstance(exc, ConfigError):
        data.update(file=exc.file, line=exc.line)
    return data
