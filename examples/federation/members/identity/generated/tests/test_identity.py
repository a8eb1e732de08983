"""Tests of identity.api: REQ-ID-1, REQ-ID-2, REQ-ID-3."""

import pytest

from identity.api import create_user, get_user, list_users


def test_create_user_numbers_ids_req_id_1():
    """REQ-ID-1"""
    first, second = create_user("ada"), create_user("bob")
    assert first["name"] == "ada" and second["name"] == "bob"
    assert int(second["id"][1:]) == int(first["id"][1:]) + 1


def test_create_user_needs_a_name_req_id_1():
    """REQ-ID-1"""
    with pytest.raises(ValueError):
        create_user("")


def test_get_user_req_id_2():
    """REQ-ID-2"""
    user = create_user("cy")
    assert get_user(user["id"]) == user
    assert get_user("nobody") is None


def test_list_users_req_id_3():
    """REQ-ID-3"""
    user = create_user("dee")
    ids = list_users()
    assert ids[-1] == user["id"] and ids == sorted(ids, key=lambda i: int(i[1:]))
