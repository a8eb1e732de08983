"""The order page. Implements REQ-WEB-1 and REQ-WEB-2."""

from __future__ import annotations

import html


def page(order: dict[str, str]) -> str:
    """An order (orders.api.place_order's result) as one HTML paragraph, escaped."""
    user, item = html.escape(order["user"]), html.escape(order["item"])
    return f"<p>{user} ordered {item}</p>"
