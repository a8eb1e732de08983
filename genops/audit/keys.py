"""Signing keys: the private key only from a path the user names, public keys committed and pinned.

genops never writes a private key into a workspace: `genops keygen PATH` refuses a PATH inside it.
The public half goes to `.genops/keys/<keyid>.pub` (PEM; keys made before pinning are named by the
first 16 hex digits of the id) and the key id is pinned in genops.toml `[audit] trusted_keys`
(`pin_key`). A key file alone is trusted by nothing: `genops verify` accepts a signature only by a
key whose id a committed genops.toml pins and whose committed `.pub` hashes to that id
(`genops.release.verify`, docs/security.md "Trust root").
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from genops.errors import UsageError

KEYS_DIR = Path(".genops") / "keys"
KEY_ENV = "GENOPS_SIGNING_KEY"


def key_id(public: Ed25519PublicKey) -> str:
    """sha256 of the raw public key: stable, and names the key file."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def public_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo)


def key_file_names(keyid: str) -> tuple[str, str]:
    """The names a key's public half may have in `.genops/keys/`: the whole id, or (keys made
    before pinning) its first 16 hex digits."""
    return f"{keyid}.pub", f"{keyid[:16]}.pub"


def public_key_from_pem(data: bytes, where: str) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM bytes; `where` names the file in the error."""
    try:
        public = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise UsageError(f"{where}: not a PEM public key ({exc})") from None
    if not isinstance(public, Ed25519PublicKey):
        raise UsageError(f"{where}: not an Ed25519 public key")
    return public


def load_public_keys(folder: Path) -> dict[str, Ed25519PublicKey]:
    """Every `*.pub` in `folder`, by key id; a file that is not an Ed25519 public key is an error.

    Not a trust decision: `genops verify` reads keys from commits, never from this folder."""
    keys: dict[str, Ed25519PublicKey] = {}
    if not folder.is_dir():
        return keys
    for path in sorted(folder.glob("*.pub")):
        public = public_key_from_pem(path.read_bytes(), str(path))
        keys[key_id(public)] = public
    return keys


_TABLE = re.compile(r"\s*\[\[?\s*[A-Za-z0-9_.\"' -]+\]\]?\s*(#.*)?$")
_AUDIT = re.compile(r"\s*\[\s*audit\s*\]\s*(#.*)?$")
_TRUSTED = re.compile(r"\s*trusted_keys\s*=")


def pin_line(keyids: list[str]) -> str:
    """`trusted_keys = [...]` as genops writes it, one id a line."""
    return "trusted_keys = [\n" + "".join(f'    "{k}",\n' for k in keyids) + "]\n"


def pin_key(text: str, keyid: str) -> str:
    """genops.toml's `text` with `keyid` added to `[audit] trusted_keys`; every other line kept.

    Raises UsageError when the file is not TOML or is laid out so that the edit cannot be made
    safely (then the user adds the line by hand)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"genops.toml is not valid TOML ({exc}); cannot pin the key") from None
    audit = doc.get("audit", {})
    current = list(audit.get("trusted_keys", [])) if isinstance(audit, dict) else []
    if keyid in current:
        return text
    wanted = [*current, keyid]
    lines = text.splitlines(keepends=True)
    header = next((i for i, line in enumerate(lines) if _AUDIT.match(line)), None)
    if header is None:
        edited = text + ("" if not text or text.endswith("\n") else "\n") + "\n[audit]\n" \
            + pin_line(wanted)
    else:
        end = next((i for i in range(header + 1, len(lines)) if _TABLE.match(lines[i])),
                   len(lines))
        start = next((i for i in range(header + 1, end) if _TRUSTED.match(lines[i])), None)
        if start is None:
            lines[header + 1:header + 1] = [pin_line(wanted)]
        else:
            stop, depth = start, 0
            for stop in range(start, end):
                code = lines[stop].split("#", 1)[0]
                depth += code.count("[") - code.count("]")
                if depth <= 0:
                    break
            lines[start:stop + 1] = [pin_line(wanted)]
        edited = "".join(lines)
    try:
        again = tomllib.loads(edited).get("audit", {}).get("trusted_keys")
    except tomllib.TOMLDecodeError:
        again = None
    if again != wanted:
        raise UsageError("cannot add the key to genops.toml [audit] trusted_keys automatically",
                         hint="add it by hand: " + pin_line(wanted).replace("\n", " "))
    return edited


def signing_key(configured: str | None, root: Path) -> Ed25519PrivateKey | None:
    """The private key from $GENOPS_SIGNING_KEY or `[audit] signing_key` (a path), else None."""
    where = os.environ.get(KEY_ENV) or configured
    if not where:
        return None
    path = Path(where).expanduser()
    if not path.is_absolute():
        path = root / path
    workspace, target = root.resolve(), path.resolve()
    if Path(os.path.abspath(path)).is_relative_to(workspace) or target.is_relative_to(workspace):
        named = f"${KEY_ENV}" if os.environ.get(KEY_ENV) else "genops.toml [audit] signing_key"
        shown = f"{path}" if target == Path(os.path.abspath(path)) else f"{path} (-> {target})"
        raise UsageError(
            f"signing key {shown} (from {named}) is inside the workspace {workspace}: a private "
            "key there can be committed, pushed or read by anything the workspace is shared with",
            hint=f"move it outside the workspace (e.g. ~/.config/genops/release.pem) and point "
                 f"{named} at it; if it was ever committed, make a new one with `genops keygen "
                 "PATH`")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise UsageError(f"signing key {path} does not exist",
                         hint=f"set {KEY_ENV} to the private key made by `genops keygen PATH`") from None
    except (ValueError, TypeError) as exc:
        raise UsageError(f"signing key {path}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"signing key {path}: not an Ed25519 key")
    return key


def generate(root: Path, private_path: Path) -> tuple[str, Path]:
    """A new key pair: the private key at `private_path` (outside the workspace, mode 0600) and the
    public key in `.genops/keys/`. Returns the key id and the public key's path."""
    private_path = private_path.expanduser().resolve()
    if private_path.is_relative_to(root.resolve()):
        raise UsageError(f"{private_path} is inside the workspace",
                         hint="keep the private key outside the repository, e.g. ~/.config/genops/")
    if private_path.exists():
        raise UsageError(f"{private_path} already exists; genops never overwrites a key")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    private_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    keyid = key_id(key.public_key())
    public_path = root / KEYS_DIR / key_file_names(keyid)[0]
    public_path.parent.mkdir(parents=True, exist_ok=True)
    public_path.write_bytes(public_pem(key.public_key()))
    return keyid, public_path
