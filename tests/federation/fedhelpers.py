"""A real federation in a temp git repository: three members (identity, orders, web), each a
genops workspace answered by the fake provider (`.genops/fake-responses.json`, strategy single).

identity provides identity.api (create_user, get_user); orders consumes identity >=1,<2 (with
contract tests) and provides orders.api (place_order); web consumes orders."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import git

from genops.protocol.files import format_protocol
from genops.workspace.scaffold import init_workspace

PYPROJECT = """[project]
name = "{name}"
version = "0.1.0"
dependencies = []
"""

IDENTITY_API = '''"""The identity interface. REQ-ID-1."""

_USERS: dict[str, dict[str, str]] = {{}}


def create_user(name: str{extra_param}) -> dict[str, str]:
    """Create a user; its record."""
    user = {{"id": f"u{{len(_USERS) + 1}}", "name": name}}
    _USERS[user["id"]] = user
    return user


def get_user(user_id: str) -> dict[str, str] | None:
    """The user with this id, or None."""
    return _USERS.get(user_id)
{more}'''

IDENTITY_TESTS = '''"""REQ-ID-1."""
from identity.api import create_user, get_user


def test_roundtrip():
    user = create_user("ada")
    assert get_user(user["id"])["name"] == "ada"
'''

ORDERS_API = '''"""The orders interface. REQ-ORD-1."""


def place_order(users, user_id: str, item: str) -> dict[str, str]:
    """An order for an existing user (`users` offers get_user)."""
    if users.get_user(user_id) is None:
        raise KeyError(user_id)
    return {"user": user_id, "item": item}
'''

ORDERS_TESTS = '''"""REQ-ORD-1."""
import pytest

from orders.api import place_order


class Users:
    def get_user(self, user_id):
        return {"id": user_id} if user_id == "u1" else None


def test_place():
    assert place_order(Users(), "u1", "book") == {"user": "u1", "item": "book"}
    with pytest.raises(KeyError):
        place_order(Users(), "u9", "book")
'''

WEB_APP = '''"""The web page. REQ-WEB-1."""


def page(order: dict[str, str]) -> str:
    return f"<p>{order['item']}</p>"
'''

WEB_TESTS = '''"""REQ-WEB-1."""
from web.app import page


def test_page():
    assert page({"item": "book"}) == "<p>book</p>"
'''

CONTRACT = '''"""orders' contract with identity: what orders relies on."""
from identity.api import create_user, get_user


def test_create_then_get():
    user = create_user("ada")
    assert get_user(user["id"]) == user


def test_missing_user_is_none():
    assert get_user("nobody") is None
'''

SPECS = {"identity": "- **REQ-ID-1** users can be created and looked up.\n",
         "orders": "- **REQ-ORD-1** orders are placed for existing users.\n",
         "web": "- **REQ-WEB-1** a page shows an order.\n"}


def identity_files(*, extra_param: str = "", more: str = "") -> dict[str, str]:
    return {"identity/__init__.py": "", "identity/api.py": IDENTITY_API.format(
        extra_param=extra_param, more=more), "tests/test_identity.py": IDENTITY_TESTS,
        "pyproject.toml": PYPROJECT.format(name="identity")}


def orders_files() -> dict[str, str]:
    return {"orders/__init__.py": "", "orders/api.py": ORDERS_API,
            "tests/test_orders.py": ORDERS_TESTS, "pyproject.toml": PYPROJECT.format(name="orders")}


def web_files() -> dict[str, str]:
    return {"web/__init__.py": "", "web/app.py": WEB_APP, "tests/test_web.py": WEB_TESTS,
            "pyproject.toml": PYPROJECT.format(name="web")}


FILES = {"identity": identity_files, "orders": orders_files, "web": web_files}

INTERFACES = {
    "identity": '[provides]\nversion = "1.0.0"\npython = ["identity.api"]\n',
    "orders": ('[provides]\nversion = "1.0.0"\npython = ["orders.api"]\n\n'
               '[consumes.identity]\nrange = ">=1.0,<2"\ncontracts = "contracts/identity"\n'),
    "web": '[consumes.orders]\nrange = ">=1.0,<2"\n',
}


def git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.invalid",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.invalid")
    return env


def script(member: Path, files: dict[str, str]) -> None:
    path = member / ".genops" / "fake-responses.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"Write the complete source tree": format_protocol(files)}),
                    encoding="utf-8")


def commit_all(root: Path, message: str) -> None:
    repo = git.Repo(root)
    repo.git.add("-A")
    repo.git.commit("-m", message, "--allow-empty")


def make_member(root: Path, name: str, provider: str = "fake") -> Path:
    member = root / "members" / name
    init_workspace(member, name=name, provider=provider, git=False)
    toml = (member / "genops.toml").read_text(encoding="utf-8")
    toml = toml.replace('rungs = ["senior", "fallback"]', 'rungs = ["senior"]')
    toml = toml.replace('strategy = "multi"', 'strategy = "single"')
    toml = toml.replace('unexercised = "fail"', 'unexercised = "warn"')
    toml = re.sub(r'\[prices\."fake-1"\]\ninput = 0.0\noutput = 0.0',
                  '[prices."fake-1"]\ninput = 1.0\noutput = 2.0', toml)
    toml = toml.replace("timeout_s = 900", "timeout_s = 120\nuse_venv = false")
    (member / "genops.toml").write_text(toml, encoding="utf-8")
    (member / "specs" / "requirements.md").write_text(
        f"# Requirements\n\n## {name}\n" + SPECS[name], encoding="utf-8")
    (member / "interface.toml").write_text(INTERFACES[name], encoding="utf-8")
    if name == "orders":
        (member / "contracts" / "identity").mkdir(parents=True)
        (member / "contracts" / "identity" / "test_identity_contract.py").write_text(
            CONTRACT, encoding="utf-8")
    if provider == "fake":
        script(member, FILES[name]())
    return member


def make_federation(tmp: Path, *, provider: str = "fake", concurrency: int = 2) -> Path:
    root = tmp / "shop"
    root.mkdir(parents=True)
    git.Repo.init(root)
    (root / "genops.toml").write_text(
        '[federation]\nname = "shop"\nmembers = ["members/identity", "members/orders", '
        f'"members/web"]\nbudget_usd = 5.0\nconcurrency = {concurrency}\n', encoding="utf-8")
    (root / ".gitignore").write_text(".genops/ledger.db*\n.genops/runs/\n.genops/cache/\n"
                                     ".genops/trash/\n.genops/venvs/\n__pycache__/\n",
                                     encoding="utf-8")
    for name in ("identity", "orders", "web"):
        make_member(root, name, provider)
    commit_all(root, "federation set up")
    return root


def genops(cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "genops.cli.main", *args], cwd=cwd,
                          env=git_env(), capture_output=True, text=True, timeout=timeout)


def ledger_calls(member: Path) -> int:
    """Requests the member's ledger recorded as answered (status ok)."""
    from genops.ledger.db import Ledger

    return sum(1 for c in Ledger.for_workspace(member).calls() if c.status == "ok")


def change_member(root: Path, name: str, files: dict[str, str] | None = None, *,
                  spec: str | None = None, version: str | None = None) -> Path:
    """Edit a member's inputs (a spec line, its [provides] version), script its model's next
    answer, commit everything."""
    member = root / "members" / name
    if spec:
        path = member / "specs" / "requirements.md"
        path.write_text(path.read_text(encoding="utf-8") + spec, encoding="utf-8")
    if version:
        path = member / "interface.toml"
        path.write_text(re.sub(r'version = "[^"]+"', f'version = "{version}"',
                               path.read_text(encoding="utf-8"), count=1), encoding="utf-8")
    if files is not None:
        script(member, files)
    commit_all(root, f"change {name}")
    return member


LIST_USERS = "\n\ndef list_users() -> list[str]:\n    \"\"\"Every user id.\"\"\"\n    return sorted(_USERS)\n"
