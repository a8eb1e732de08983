"""The orders interface. Implements REQ-ORD-1, REQ-ORD-2 and REQ-ORD-3.

`users` is the identity member's interface (anything with `get_user(user_id)`), passed in by
the caller: orders never imports identity.
"""

from __future__ import annotations

from typing import Any


def place_order(users: Any, user_id: str, item: str) -> dict[str, str]:
    """An order of `item` for the existing user `user_id` (REQ-ORD-1, REQ-ORD-2)."""
    if not item:
        raise ValueError("an order needs an item")
    if users.get_user(user_id) is None:
        raise KeyError(user_id)
    return {"user": user_id, "item": item}


def order_line(order: dict[str, str]) -> str:
    """One line for an order: "<item> for <user>" (REQ-ORD-3)."""
    return f"{order['item']} for {order['user']}"
