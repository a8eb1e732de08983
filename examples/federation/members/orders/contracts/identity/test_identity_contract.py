"""orders' contract with identity: what orders relies on (run in the sandbox against each
identity release's staged tree before it is promoted)."""
from identity.api import create_user, get_user


def test_created_user_is_found_by_id():
    user = create_user("ada")
    assert get_user(user["id"]) == user


def test_unknown_user_is_none():
    assert get_user("nobody") is None
