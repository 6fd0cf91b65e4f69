"""Parsing public OpenPGP keys with Sequoia (pysequoia). No Django imports.

We keep what an HKP index shows and what look-ups need: fingerprint, the key IDs of the primary
key and its subkeys (a signature names the key ID of whichever key signed), algorithm, size,
creation/expiry, revocation and user IDs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pysequoia
from pysequoia.packet import PacketPile, Tag

#: RFC 9580 public-key algorithm numbers, by pysequoia's enum names.
ALGORITHM_IDS = {
    "RSAEncryptSign": 1,
    "RSAEncrypt": 2,
    "RSASign": 3,
    "ElGamalEncrypt": 16,
    "DSA": 17,
    "ECDH": 18,
    "ECDSA": 19,
    "ElGamalEncryptSign": 20,
    "EdDSA": 22,
    "X25519": 25,
    "X448": 26,
    "Ed25519": 27,
    "Ed448": 28,
}
_FIXED_BITS = {"EdDSA": 256, "Ed25519": 256, "X25519": 256, "Ed448": 456, "X448": 448}


class KeyParseError(ValueError):
    """The text is not a usable OpenPGP public key."""


@dataclass
class ParsedKey:
    fingerprint: str  # 40 lower-case hex (v4)
    key_ids: list[str]  # 16 lower-case hex: primary first, then subkeys
    subkey_fingerprints: list[str]
    algorithm: int
    bits: int
    created_at: datetime | None
    expires_at: datetime | None
    revoked: bool
    user_ids: list[str] = field(default_factory=list)
    armored: str = ""


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or ["unreadable"])[0][:200]


def _bits(packet: object, algorithm_name: str) -> int:
    if algorithm_name in _FIXED_BITS:
        return _FIXED_BITS[algorithm_name]
    body = getattr(packet, "body", b"") or b""
    # v4 key packet: version(1) created(4) algorithm(1), then the first MPI's bit count (2).
    if len(body) >= 8 and body[0] == 4 and algorithm_name.startswith(("RSA", "DSA", "ElGamal")):
        return int.from_bytes(body[6:8], "big")
    return 0


def parse_public_keys(data: bytes, *, max_keys: int = 10) -> list[ParsedKey]:
    """Every public key in ``data`` (armored or binary). Secret keys are refused."""
    try:
        tags = [packet.tag for packet in PacketPile.from_bytes(data)]
    except Exception as exc:  # pysequoia raises RuntimeError/ValueError for garbage
        raise KeyParseError(f"not an OpenPGP public key: {_first_line(exc)}") from None
    if any(tag in (Tag.SecretKey, Tag.SecretSubkey) for tag in tags):
        raise KeyParseError("this is a secret (private) key: upload only the public key")
    try:
        certs = pysequoia.Cert.split_bytes(data)
    except Exception as exc:  # pysequoia raises RuntimeError/ValueError for garbage
        raise KeyParseError(f"not an OpenPGP public key: {_first_line(exc)}") from None
    if not certs:
        raise KeyParseError("no OpenPGP public key found in the text")
    if len(certs) > max_keys:
        raise KeyParseError(f"too many keys in one request (at most {max_keys})")
    keys = []
    for cert in certs:
        armored = str(cert)
        try:
            packets = list(PacketPile.from_bytes(armored.encode()))
        except Exception as exc:
            raise KeyParseError(f"unreadable key: {_first_line(exc)}") from None
        primary = next((p for p in packets if p.tag == Tag.PublicKey), None)
        if primary is None or not primary.fingerprint:
            raise KeyParseError("key has no primary public key packet")
        subkeys = [p for p in packets if p.tag == Tag.PublicSubkey and p.fingerprint]
        algorithm_name = str(primary.key_algorithm).rsplit(".", 1)[-1]
        keys.append(
            ParsedKey(
                fingerprint=primary.fingerprint.lower(),
                key_ids=[primary.key_id.lower()] + [p.key_id.lower() for p in subkeys],
                subkey_fingerprints=[p.fingerprint.lower() for p in subkeys],
                algorithm=ALGORITHM_IDS.get(algorithm_name, 0),
                bits=_bits(primary, algorithm_name),
                created_at=primary.key_created,
                expires_at=cert.expiration,
                revoked=bool(cert.is_revoked),
                user_ids=[str(u) for u in cert.user_ids],
                armored=armored,
            )
        )
    return keys
