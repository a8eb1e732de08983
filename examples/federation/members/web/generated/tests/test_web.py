"""Tests of web.app: REQ-WEB-1, REQ-WEB-2."""

from web.app import page


def test_page_req_web_1():
    """REQ-WEB-1"""
    assert page({"user": "u1", "item": "book"}) == "<p>u1 ordered book</p>"


def test_page_escapes_req_web_2():
    """REQ-WEB-2"""
    assert page({"user": "u1", "item": "<b>"}) == "<p>u1 ordered &lt;b&gt;</p>"
