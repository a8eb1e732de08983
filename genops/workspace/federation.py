"""A federation of member workspaces: the root's `[federation]` table and each member's
`interface.toml`, loaded into validated data (docs/federation.md "Members, interfaces and checks").

Root genops.toml (the root is not itself a workspace; besides `[federation]` it may hold
`[audit] trusted_keys`):

    [federation]
    name = "shop"
    members = ["members/identity", "members/orders"]   # paths relative to the root
    budget_usd = 5.0                                     # one budget for a federation run
    concurrency = 2                                      # independent members run in parallel

Each member's `interface.toml`:

    [provides]
    version = "1.2.0"                  # semver of the published interface
    python = ["identity.api"]          # modules of the member's generated tree: the interface
    schemas = ["interface/schemas"]    # optional: folders of JSON Schema files
    name = "identity"                  # optional: the member's name (default: its folder's)
    [consumes.identity]
    range = ">=1.0,<2"                 # a PEP 440 specifier set
    contracts = "contracts/identity"   # the consumer's contract tests (pytest files)

Every error is a ConfigError naming the file, the line where it is known, and the field.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from genops.errors import ConfigError

CONFIG_NAME = "genops.toml"
INTERFACE_NAME = "interface.toml"
# A consumer's read-only copy of each interface it consumes (written by genops, committed, hashed
# into its manifests as an input, so a replay renders the same requests):
# interfaces/<provider>/interface.json.
SNAPSHOT_DIR = "interfaces"
SNAPSHOT_FILE = "interface.json"
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_ROOT_KEYS = {"name", "members", "budget_usd", "concurrency"}


@dataclass(frozen=True)
class Provides:
    version: str
    python: tuple[str, ...] = ()
    schemas: tuple[str, ...] = ()

    @property
    def semver(self) -> tuple[int, int, int]:
        return parse_semver(self.version)


@dataclass(frozen=True)
class Consumes:
    provider: str
    range: str
    contracts: str | None = None  # relative to the consumer's root

    @property
    def specifier(self) -> SpecifierSet:
        return SpecifierSet(self.range)

    def admits(self, version: str) -> bool:
        return self.specifier.contains(Version(version), prereleases=True)


@dataclass
class Member:
    name: str
    path: Path  # absolute
    rel: str  # posix, relative to the federation root
    provides: Provides | None = None
    consumes: dict[str, Consumes] = field(default_factory=dict)

    @property
    def interface_file(self) -> Path:
        return self.path / INTERFACE_NAME


@dataclass
class Federation:
    root: Path
    name: str
    members: list[Member]
    budget_usd: float
    concurrency: int

    def member(self, name: str) -> Member:
        return next(m for m in self.members if m.name == name)

    def by_name(self) -> dict[str, Member]:
        return {m.name: m for m in self.members}

    def consumers_of(self, name: str) -> list[Member]:
        return [m for m in self.members if name in m.consumes]

    def member_at(self, path: Path) -> Member | None:
        resolved = path.resolve()
        return next((m for m in self.members if m.path == resolved), None)

    def waves(self, names: set[str] | None = None) -> list[list[str]]:
        """Members in dependency order: each wave runs after every provider of its members.
        `names` restricts the result (the order still honours every edge)."""
        done: set[str] = set()
        waves: list[list[str]] = []
        left = {m.name for m in self.members}
        while left:
            ready = sorted(n for n in left
                           if all(p in done for p in self.member(n).consumes))
            if not ready:  # validated acyclic at load time
                raise AssertionError("consume cycle")
            done.update(ready)
            left.difference_update(ready)
            chosen = [n for n in ready if names is None or n in names]
            if chosen:
                waves.append(chosen)
        return waves


def parse_semver(text: str) -> tuple[int, int, int]:
    match = SEMVER.match(text)
    if not match:
        raise ValueError(text)
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def _line(text: str, pattern: str) -> int | None:
    regex = re.compile(pattern)
    for number, line in enumerate(text.splitlines(), start=1):
        if regex.search(line):
            return number
    return None


def _key_line(text: str, table: str, key: str | None = None) -> int | None:
    header = _line(text, r"^\s*\[\s*" + r"\s*\.\s*".join(
        r'"?' + re.escape(p) + r'"?' for p in table.split(".")) + r"\s*\]")
    if key is None or header is None:
        return header if key is None else _line(text, r"^\s*" + re.escape(key) + r"\s*=")
    lines = text.splitlines()
    for number, line in enumerate(lines[header:], start=header + 1):
        if line.lstrip().startswith("["):
            break
        if re.match(r"^\s*" + re.escape(key) + r"\s*=", line):
            return number
    return header


def _read_toml(path: Path, shown: str) -> tuple[dict[str, Any], str]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(shown, f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise ConfigError(shown, f"TOML syntax error: {exc}",
                          line=int(match.group(1)) if match else None) from None


def is_federation_root(path: Path) -> bool:
    config = path / CONFIG_NAME
    if not config.is_file():
        return False
    try:
        data = tomllib.loads(config.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False
    return isinstance(data.get("federation"), dict)


def find_federation_root(start: Path) -> Path | None:
    """The nearest directory at or above `start` whose genops.toml has a [federation] table."""
    start = start.resolve()
    for candidate in (start, *start.parents):
        if is_federation_root(candidate):
            return candidate
    return None


def _relative(value: Any, shown: str, text: str, table: str, key: str, *,
              what: str) -> str:
    line = _key_line(text, table, key)
    if not isinstance(value, str) or not value:
        raise ConfigError(shown, f"{table}.{key}: expected {what} (a non-empty string), got "
                          f"{value!r}", line=line)
    pure = PurePosixPath(value)
    if pure.is_absolute() or ".." in pure.parts or "\\" in value:
        raise ConfigError(shown, f"{table}.{key}: {value!r} must be a relative POSIX path "
                          "without '..'", line=line)
    return pure.as_posix()


def _string_list(data: dict[str, Any], key: str, shown: str, text: str,
                 table: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(shown, f"{table}.{key}: expected an array of strings, got {value!r}",
                          line=_key_line(text, table, key))
    return value


def load_interface(member_root: Path, shown: str) -> tuple[str | None, Provides | None,
                                                           dict[str, Consumes]]:
    """(name override, provides, consumes) of a member's interface.toml (all empty without one)."""
    path = member_root / INTERFACE_NAME
    if not path.is_file():
        return None, None, {}
    data, text = _read_toml(path, shown)
    unknown = sorted(set(data) - {"provides", "consumes"})
    if unknown:
        raise ConfigError(shown, f"{unknown[0]}: unknown table (allowed: provides, consumes)",
                          line=_key_line(text, unknown[0]))
    provides, name = None, None
    raw = data.get("provides")
    if raw is not None:
        if not isinstance(raw, dict):
            raise ConfigError(shown, "provides: expected a table", line=_key_line(text, "provides"))
        extra = sorted(set(raw) - {"version", "python", "schemas", "name"})
        if extra:
            raise ConfigError(shown, f"provides.{extra[0]}: unknown key (allowed: version, "
                              "python, schemas, name)", line=_key_line(text, "provides", extra[0]))
        version = raw.get("version")
        if not isinstance(version, str) or not SEMVER.match(version):
            raise ConfigError(shown, f"provides.version: expected a semantic version such as "
                              f"\"1.2.0\", got {version!r}", line=_key_line(text, "provides", "version"))
        modules = _string_list(raw, "python", shown, text, "provides")
        for module in modules:
            if not MODULE.match(module):
                raise ConfigError(shown, f"provides.python: {module!r} is not a dotted module "
                                  "name", line=_key_line(text, "provides", "python"))
        schemas = [_relative(s, shown, text, "provides", "schemas", what="a folder")
                   for s in _string_list(raw, "schemas", shown, text, "provides")]
        if not modules and not schemas:
            raise ConfigError(shown, "provides: names no python module and no schemas folder",
                              line=_key_line(text, "provides"))
        for folder in schemas:
            if not (member_root / folder).is_dir():
                raise ConfigError(shown, f"provides.schemas: folder {folder!r} does not exist",
                                  line=_key_line(text, "provides", "schemas"))
        if "name" in raw:
            name = raw["name"]
            if not isinstance(name, str) or not NAME.match(name):
                raise ConfigError(shown, f"provides.name: expected a lowercase name, got "
                                  f"{name!r}", line=_key_line(text, "provides", "name"))
        provides = Provides(version, tuple(modules), tuple(schemas))
    consumes: dict[str, Consumes] = {}
    table = data.get("consumes", {})
    if not isinstance(table, dict):
        raise ConfigError(shown, "consumes: expected a table of providers",
                          line=_key_line(text, "consumes"))
    for provider, entry in table.items():
        where = f"consumes.{provider}"
        if not isinstance(entry, dict):
            raise ConfigError(shown, f"{where}: expected a table", line=_key_line(text, where))
        extra = sorted(set(entry) - {"range", "contracts"})
        if extra:
            raise ConfigError(shown, f"{where}.{extra[0]}: unknown key (allowed: range, "
                              "contracts)", line=_key_line(text, where, extra[0]))
        spec = entry.get("range")
        try:
            if not isinstance(spec, str) or not spec.strip():
                raise InvalidSpecifier(str(spec))
            SpecifierSet(spec)
        except InvalidSpecifier:
            raise ConfigError(shown, f"{where}.range: expected a PEP 440 specifier set such as "
                              f"\">=1.0,<2\", got {spec!r}", line=_key_line(text, where, "range")
                              ) from None
        contracts = None
        if "contracts" in entry:
            contracts = _relative(entry["contracts"], shown, text, where, "contracts",
                                  what="a folder")
            if not (member_root / contracts).is_dir():
                raise ConfigError(shown, f"{where}.contracts: folder {contracts!r} does not "
                                  "exist", line=_key_line(text, where, "contracts"))
        consumes[provider] = Consumes(provider, spec, contracts)
    return name, provides, consumes


def load_federation(root: Path) -> Federation:
    """The validated federation at `root` (its genops.toml has a [federation] table)."""
    root = root.resolve()
    path = root / CONFIG_NAME
    if not path.is_file():
        raise ConfigError(CONFIG_NAME, f"{root} has no {CONFIG_NAME}")
    data, text = _read_toml(path, CONFIG_NAME)
    table = data.get("federation")
    if not isinstance(table, dict):
        raise ConfigError(CONFIG_NAME, "no [federation] table: not a federation root")
    unknown = sorted(set(data) - {"federation", "audit"})
    if unknown:
        raise ConfigError(CONFIG_NAME, f"{unknown[0]}: unknown table at a federation root "
                          "(allowed: federation, audit)", line=_key_line(text, unknown[0]))
    extra = sorted(set(table) - _ROOT_KEYS)
    if extra:
        raise ConfigError(CONFIG_NAME, f"federation.{extra[0]}: unknown key (allowed: "
                          f"{', '.join(sorted(_ROOT_KEYS))})",
                          line=_key_line(text, "federation", extra[0]))
    name = table.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(CONFIG_NAME, f"federation.name: expected a non-empty string, got "
                          f"{name!r}", line=_key_line(text, "federation", "name"))
    budget = table.get("budget_usd", 10.0)
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not 0 < budget <= 1e6:
        raise ConfigError(CONFIG_NAME, f"federation.budget_usd: expected a number > 0 and at "
                          f"most 1000000, got {budget!r}",
                          line=_key_line(text, "federation", "budget_usd"))
    concurrency = table.get("concurrency", 1)
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) \
            or not 1 <= concurrency <= 64:
        raise ConfigError(CONFIG_NAME, f"federation.concurrency: expected an integer from 1 to "
                          f"64, got {concurrency!r}",
                          line=_key_line(text, "federation", "concurrency"))
    rels = _string_list(table, "members", CONFIG_NAME, text, "federation")
    if not rels:
        raise ConfigError(CONFIG_NAME, "federation.members: names no member",
                          line=_key_line(text, "federation", "members"))
    members: list[Member] = []
    for raw in rels:
        rel = _relative(raw, CONFIG_NAME, text, "federation", "members", what="a member folder")
        member_root = (root / rel).resolve()
        if not (member_root / CONFIG_NAME).is_file():
            raise ConfigError(CONFIG_NAME, f"federation.members: {rel!r} is not a genops "
                              f"workspace (no {CONFIG_NAME} there)",
                              line=_key_line(text, "federation", "members"))
        override, provides, consumes = load_interface(member_root, f"{rel}/{INTERFACE_NAME}")
        members.append(Member(override or PurePosixPath(rel).name, member_root, rel, provides,
                              consumes))
    federation = Federation(root, name, members, float(budget), concurrency)
    _validate(federation, text)
    return federation


def _validate(federation: Federation, text: str) -> None:
    seen: dict[str, str] = {}
    for member in federation.members:
        if member.name in seen:
            raise ConfigError(CONFIG_NAME, f"federation.members: {seen[member.name]!r} and "
                              f"{member.rel!r} are both named {member.name!r}",
                              line=_key_line(text, "federation", "members"),
                              hint="give one a [provides] name in its interface.toml")
        seen[member.name] = member.rel
    names = federation.by_name()
    for member in federation.members:
        shown = f"{member.rel}/{INTERFACE_NAME}"
        for provider in member.consumes:
            if provider not in names:
                raise ConfigError(shown, f"consumes.{provider}: no member of federation "
                                  f"{federation.name!r} is named {provider!r} (members: "
                                  f"{', '.join(sorted(names))})")
            if provider == member.name:
                raise ConfigError(shown, f"consumes.{provider}: a member cannot consume itself")
            if names[provider].provides is None:
                raise ConfigError(shown, f"consumes.{provider}: member {provider!r} provides no "
                                  "interface ([provides] in its interface.toml)")
        tree = member_output(member)
        missing = interface_modules_missing(member, tree) if any(tree.glob("*")) else []
        if missing:
            raise ConfigError(shown, f"provides.python: module {missing[0]!r} is not in "
                              f"{member.rel}/{tree.relative_to(member.path).as_posix()}/ (the "
                              "member's current tree)", hint="name a module the tree has, or "
                              "regenerate the member so that it has it")
    cycle = _cycle(federation)
    if cycle:
        raise ConfigError(CONFIG_NAME, "federation.members: consume cycle "
                          + " -> ".join(cycle), hint="members may only consume in one direction")


def _cycle(federation: Federation) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        stack.append(name)
        for provider in sorted(federation.member(name).consumes):
            if state.get(provider) == 1:
                return [*stack[stack.index(provider):], provider]
            if provider not in state:
                found = visit(provider)
                if found:
                    return found
        stack.pop()
        state[name] = 2
        return None

    for member in federation.members:
        if member.name not in state:
            found = visit(member.name)
            if found:
                return found
    return None


def member_output(member: Member) -> Path:
    """The member's generated tree folder ([project] output, default `generated`)."""
    try:
        data = tomllib.loads((member.path / CONFIG_NAME).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        data = {}
    project = data.get("project") if isinstance(data.get("project"), dict) else {}
    output = project.get("output", "generated") if isinstance(project, dict) else "generated"
    return member.path / (output if isinstance(output, str) else "generated")


def interface_modules_missing(member: Member, tree: Path) -> list[str]:
    """The provided python modules `tree` (the member's generated tree) does not hold."""
    if member.provides is None:
        return []
    missing = []
    for module in member.provides.python:
        base = tree.joinpath(*module.split("."))
        if not (base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()):
            missing.append(module)
    return missing


def version_ok(text: str) -> bool:
    try:
        Version(text)
    except InvalidVersion:
        return False
    return True


def load_snapshots(member_root: Path) -> list[dict[str, Any]]:
    """The consumed interfaces' snapshots of a member (sorted by provider; [] without any)."""
    found = []
    for path in sorted((member_root / SNAPSHOT_DIR).glob(f"*/{SNAPSHOT_FILE}")):
        shown = path.relative_to(member_root).as_posix()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(shown, f"not a valid interface snapshot ({exc})",
                              hint="`genops regenerate` at the federation root rewrites it") from None
        if not isinstance(data, dict) or not isinstance(data.get("provider"), str) \
                or not isinstance(data.get("python", []), list) \
                or not isinstance(data.get("surface", ""), str) \
                or not isinstance(data.get("schemas", {}), dict):
            raise ConfigError(shown, "not a valid interface snapshot (provider, version, python, "
                              "surface, schemas)")
        found.append({"provider": data["provider"], "version": str(data.get("version", "")),
                      "range": str(data.get("range", "")), "python": list(data.get("python", [])),
                      "surface": data.get("surface", ""),
                      "schemas": dict(sorted(data.get("schemas", {}).items()))})
    return found


def snapshot_text(snapshot: dict[str, Any]) -> str:
    return json.dumps(snapshot, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def read_only_packages(snapshots: list[dict[str, Any]]) -> frozenset[str]:
    """Top-level packages of consumed interface modules: a consumer's tree may not define them."""
    return frozenset(m.split(".")[0] for s in snapshots for m in s.get("python", []))
