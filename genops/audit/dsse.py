"""DSSE envelopes (https://github.com/secure-systems-lab/dsse), signed with Ed25519.

The signature covers the Pre-Authentication Encoding of the payload type and bytes, never the JSON
around them, so an envelope cannot be re-labelled as another type without breaking it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from genops.audit.keys import key_id

__all__ = ["INTOTO_PAYLOAD_TYPE", "envelope", "key_id", "pae", "payload_of", "statement_of", "verify"]

INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSEv1 Pre-Authentication Encoding."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def envelope(payload: bytes, payload_type: str = INTOTO_PAYLOAD_TYPE,
             key: Ed25519PrivateKey | None = None) -> dict[str, Any]:
    """An envelope around `payload`, signed by `key` (no signatures when `key` is None)."""
    signatures = []
    if key is not None:
        sig = key.sign(pae(payload_type, payload))
        signatures.append({"keyid": key_id(key.public_key()),
                           "sig": base64.b64encode(sig).decode("ascii")})
    return {"payload": base64.b64encode(payload).decode("ascii"), "payloadType": payload_type,
            "signatures": signatures}


def payload_of(env: Mapping[str, Any]) -> bytes:
    """The envelope's payload bytes (not yet verified)."""
    return base64.b64decode(str(env["payload"]), validate=True)


def statement_of(env: Mapping[str, Any]) -> dict[str, Any]:
    """The in-toto Statement inside an envelope, as data."""
    data = json.loads(payload_of(env))
    if not isinstance(data, dict):
        raise ValueError("the payload is not a JSON object")
    return data


def verify(env: Mapping[str, Any], keys: Mapping[str, Ed25519PublicKey]) -> list[str]:
    """The key ids whose signatures over `env` verify; raises ValueError on a bad signature.

    An envelope with no signatures returns []: it is unsigned, not forged.
    """
    payload = payload_of(env)
    message = pae(str(env["payloadType"]), payload)
    good: list[str] = []
    for entry in env.get("signatures", []):
        keyid = str(entry.get("keyid", ""))
        public = keys.get(keyid)
        if public is None:
            raise ValueError(f"signed by key {keyid}, which is not among the trusted keys")
        try:
            public.verify(base64.b64decode(entry["sig"]), message)
        except (InvalidSignature, ValueError):
            raise ValueError(f"the signature by key {keyid} does not verify") from None
        good.append(keyid)
    return good
