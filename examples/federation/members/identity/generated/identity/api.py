"""The identity interface: create, look up and list users. Implements REQ-ID-1..3."""

from __future__ import annotations

_USERS: dict[str, dict[str, str]] = {}


def create_user(name: str) -> dict[str, str]:
    """Store a user named `name`; its record (REQ-ID-1)."""
    if not name:
        raise ValueError("a user needs a name")
    user = {"id": f"u{len(_USERS) + 1}", "name": name}
    _USERS[user["id"]] = user
    return dict(user)


def get_user(user_id: str) -> dict[str, str] | None:
    """The record stored under `user_id`, or None (REQ-ID-2)."""
    user = _USERS.get(user_id)
    return dict(user) if user is not None else None


def list_users() -> list[str]:
    """Every user id, in creation order (REQ-ID-3)."""
    return list(_USERS)
