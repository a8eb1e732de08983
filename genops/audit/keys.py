"""Signing keys: the private key only from a path the user names, public keys committed.

genops never writes a private key into a workspace: `genops keygen PATH` refuses a PATH inside it.
The public half goes to `.genops/keys/<keyid>.pub` (PEM), and `genops verify` trusts exactly the
keys in that folder at the release's commit.
"""

from __future__ import annotations

import hashlib
import os
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


def load_public_keys(folder: Path) -> dict[str, Ed25519PublicKey]:
    """Every `*.pub` in `folder`, by key id; a file that is not an Ed25519 public key is an error."""
    keys: dict[str, Ed25519PublicKey] = {}
    if not folder.is_dir():
        return keys
    for path in sorted(folder.glob("*.pub")):
        try:
            public = serialization.load_pem_public_key(path.read_bytes())
        except ValueError as exc:
            raise UsageError(f"{path}: not a PEM public key ({exc})") from None
        if not isinstance(public, Ed25519PublicKey):
            raise UsageError(f"{path}: not an Ed25519 public key")
        keys[key_id(public)] = public
    return keys


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
    public_path = root / KEYS_DIR / f"{keyid[:16]}.pub"
    public_path.parent.mkdir(parents=True, exist_ok=True)
    public_path.write_bytes(public_pem(key.public_key()))
    return keyid, public_path
