"""The federation's config: the root [federation] table and each member's interface.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

import fedhelpers
from genops.errors import ConfigError
from genops.workspace.federation import find_federation_root, load_federation


@pytest.fixture()
def fed(tmp_path: Path) -> Path:
    return fedhelpers.make_federation(tmp_path)


def test_loads_members_interfaces_and_order(fed: Path) -> None:
    federation = load_federation(fed)
    assert federation.name == "shop" and federation.budget_usd == 5.0
    assert [m.name for m in federation.members] == ["identity", "orders", "web"]
    orders = federation.member("orders")
    assert orders.path == (fed / "members" / "orders").resolve() and orders.rel == "members/orders"
    assert orders.provides is not None and orders.provides.python == ("orders.api",)
    assert orders.consumes["identity"].admits("1.4.0")
    assert not orders.consumes["identity"].admits("2.0.0")
    assert federation.waves() == [["identity"], ["orders"], ["web"]]
    assert find_federation_root(fed / "members" / "web" / "specs") == fed.resolve()
    assert find_federation_root(fed.parent) is None


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.mark.parametrize("file,old,new,expected", [
    ("members/web/interface.toml", "[consumes.orders]", "[consumes.billing]",
     "consumes.billing: no member of federation 'shop' is named 'billing'"),
    ("members/identity/interface.toml", "[provides]", "[consumes.orders]\nrange = \">=0\"\n\n[provides]",
     "consume cycle"),
    ("members/orders/interface.toml", 'range = ">=1.0,<2"', 'range = "one or two"',
     "members/orders/interface.toml:6: consumes.identity.range: expected a PEP 440"),
    ("members/identity/interface.toml", 'version = "1.0.0"', 'version = "1.0"',
     "members/identity/interface.toml:2: provides.version: expected a semantic version"),
    ("members/identity/interface.toml", 'version = "1.0.0"', 'version = "1.0.0"\nflavour = 1',
     "provides.flavour: unknown key"),
    ("genops.toml", "concurrency = 2", "concurrency = 0",
     "genops.toml:5: federation.concurrency: expected an integer from 1 to 64"),
    ("genops.toml", "budget_usd = 5.0", "budget = 5.0", "federation.budget: unknown key"),
    ("genops.toml", '"members/web"]', '"members/web", "members/nowhere"]',
     "'members/nowhere' is not a genops workspace"),
    ("members/orders/interface.toml", 'contracts = "contracts/identity"',
     'contracts = "../identity"', "must be a relative POSIX path"),
])
def test_bad_config_names_file_line_and_field(fed: Path, file: str, old: str, new: str,
                                              expected: str) -> None:
    _edit(fed / file, old, new)
    with pytest.raises(ConfigError) as caught:
        load_federation(fed)
    assert expected in str(caught.value)


def test_duplicate_names_and_missing_interface_module(fed: Path) -> None:
    _edit(fed / "members/web/interface.toml", "[consumes.orders]",
          '[provides]\nversion = "1.0.0"\npython = ["web.app"]\nname = "orders"\n\n'
          "[consumes.orders]")
    with pytest.raises(ConfigError, match="are both named 'orders'"):
        load_federation(fed)
    _edit(fed / "members/web/interface.toml", 'name = "orders"\n', "")
    (fed / "members/web/generated/web").mkdir(parents=True)
    (fed / "members/web/generated/web/other.py").write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match="module 'web.app' is not in members/web/generated/"):
        load_federation(fed)
