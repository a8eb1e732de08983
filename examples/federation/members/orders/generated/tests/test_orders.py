"""Tests of orders.api: REQ-ORD-1, REQ-ORD-2, REQ-ORD-3."""

import pytest

from orders.api import order_line, place_order


class Users:
    """A stand-in for identity.api: one user, u1."""

    def __init__(self):
        self.asked = []

    def get_user(self, user_id):
        self.asked.append(user_id)
        return {"id": user_id, "name": "ada"} if user_id == "u1" else None


def test_place_order_req_ord_1():
    """REQ-ORD-1"""
    assert place_order(Users(), "u1", "book") == {"user": "u1", "item": "book"}
    with pytest.raises(KeyError):
        place_order(Users(), "u9", "book")


def test_empty_item_is_refused_first_req_ord_2():
    """REQ-ORD-2"""
    users = Users()
    with pytest.raises(ValueError):
        place_order(users, "u1", "")
    assert users.asked == []


def test_order_line_req_ord_3():
    """REQ-ORD-3"""
    assert order_line(place_order(Users(), "u1", "book")) == "book for u1"
