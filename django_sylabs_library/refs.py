"""Names, tags, hashes and references, validated by the client's own rules.

The Apptainer library client accepts a push path part when it is lower-case letters and digits,
optionally split into runs by single ``.``, ``_`` or ``-`` (``client/util.go`` ``IsRefPart``). We
apply the same rule to every name we store, so anything we create can be pushed to and pulled
from. Pull references are looked up case-insensitively by lower-casing them (names are stored
lower-case).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .exceptions import InvalidInput

NAME_MAX_LENGTH = 64
TAG_MAX_LENGTH = 128

# Validators use ``fullmatch``: ``$`` alone would let a trailing newline through.
NAME_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
# Tags: what OCI and the library allow in practice; no path separators or colons.
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
SHA256_HASH_RE = re.compile(r"^sha256\.([0-9a-f]{64})$")
SIF_HASH_RE = re.compile(r"^sif\.([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")
HEX64_RE = re.compile(r"^[0-9a-f]{64}$")
HEX32_RE = re.compile(r"^[0-9a-f]{32}$")
ARCH_RE = re.compile(r"^[a-z0-9_]{1,16}$")

#: Go GOARCH names the SIF format knows (sylabs/sif pkg/sif/arch.go).
KNOWN_ARCHES = frozenset(
    ["386", "amd64", "arm", "arm64", "ppc64", "ppc64le", "mips", "mipsle", "mips64", "mips64le", "s390x", "riscv64"]
)


def is_valid_name(value: str) -> bool:
    return bool(value) and len(value) <= NAME_MAX_LENGTH and bool(NAME_RE.fullmatch(value))


def validate_name(value: object, what: str = "name") -> str:
    """Return ``value`` if it is a valid entity/collection/container name, else raise."""
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a string")
    if not value:
        raise InvalidInput(f"{what} must not be empty")
    if len(value) > NAME_MAX_LENGTH:
        raise InvalidInput(f"{what} is longer than {NAME_MAX_LENGTH} characters")
    if not NAME_RE.fullmatch(value):
        raise InvalidInput(
            f"invalid {what} {value[:80]!r}: use lower-case letters and digits, optionally "
            "separated by single '.', '_' or '-' (no capitals, spaces or slashes)"
        )
    return value


def validate_tag(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput("tag must be a non-empty string")
    if len(value) > TAG_MAX_LENGTH or not TAG_RE.fullmatch(value):
        raise InvalidInput(
            f"invalid tag {value[:80]!r}: use letters, digits, '_', '.' and '-' "
            f"(at most {TAG_MAX_LENGTH} characters, not starting with '.' or '-')"
        )
    if SHA256_HASH_RE.fullmatch(value) or value.startswith("sha256.") or value.startswith("sif."):
        raise InvalidInput("a tag cannot look like an image hash")
    return value


def validate_arch(value: object, *, allow_empty: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput("arch must be a string")
    if not value:
        if allow_empty:
            return ""
        raise InvalidInput("arch must not be empty")
    if not ARCH_RE.fullmatch(value):
        raise InvalidInput(f"invalid architecture {value[:40]!r}")
    return value


def validate_image_hash(value: object) -> str:
    """Image hashes are ``sha256.<64 lower-case hex>``, the SHA-256 of the whole file."""
    if not isinstance(value, str) or not SHA256_HASH_RE.fullmatch(value):
        raise InvalidInput("hash must be 'sha256.' followed by 64 lower-case hex digits")
    return value


def is_hash(value: str) -> bool:
    return bool(SHA256_HASH_RE.fullmatch(value) or SIF_HASH_RE.fullmatch(value))


@dataclass(frozen=True)
class ImageRef:
    """A parsed pull/delete reference: ``[entity/][collection/]container[:tag|:hash]``.

    ``entity``/``collection`` are None when the reference leaves them out; the resolver fills
    them in from the settings (spec section 1.7 and 8.2).
    """

    entity: str | None
    collection: str | None
    container: str
    tag: str | None = None
    hash: str | None = None

    @property
    def path(self) -> str:
        return "/".join(p for p in (self.entity, self.collection, self.container) if p)

    def __str__(self) -> str:
        return f"{self.path}:{self.hash or self.tag}"


def parse_ref(raw: str, *, default_tag: str = "latest") -> ImageRef:
    """Parse what follows ``v1/images/`` or ``v1/imagefile/`` in a request path.

    Raises InvalidInput for anything the client could not have produced.
    """
    if not isinstance(raw, str) or not raw or len(raw) > 512:
        raise InvalidInput("image reference must be 1 to 512 characters")
    raw = raw.strip("/")
    path, sep, tag = raw.partition(":")
    if sep and not tag:
        raise InvalidInput("empty tag in image reference")
    # Old clients leave empty segments (`//`) for entity or collection; treat them as absent.
    parts = path.split("/")
    if len(parts) > 3 or not parts[-1]:
        raise InvalidInput("image reference must be container, collection/container or entity/collection/container")
    parts = [p.lower() for p in parts]
    for p in parts:
        if p:
            validate_name(p, "name in image reference")
    entity = collection = None
    if len(parts) == 3:
        entity, collection, container = parts[0] or None, parts[1] or None, parts[2]
    elif len(parts) == 2:
        collection, container = parts[0] or None, parts[1]
    else:
        container = parts[0]
    tag = tag or default_tag
    if not tag:
        return ImageRef(entity, collection, container)
    if "," in tag:
        raise InvalidInput("a reference names one tag; push several tags with separate requests")
    if tag.startswith("sha256.") or tag.startswith("sif."):
        if not is_hash(tag):
            raise InvalidInput("hash must be 'sha256.' followed by 64 lower-case hex digits")
        return ImageRef(entity, collection, container, hash=tag)
    validate_tag(tag)
    return ImageRef(entity, collection, container, tag=tag)


_SEPARATORS = "._-"


def normalise_entity_name(username: str) -> str:
    """Turn any username (SSO, LDAP, e-mail) into a valid entity name.

    The documented rule (docs/permissions.md): lower-case; ``@`` and every character other than
    ``a-z 0-9 . _ -`` become ``-``; a run of separators collapses to its first; separators at
    either end are dropped; the result is cut to 64 characters (and trimmed again). An empty
    result becomes ``user``. ``J.Smith@uni.edu`` becomes ``j.smith-uni.edu``. Collisions and
    reserved names are resolved by the caller with a numeric suffix.
    """
    lowered = username.lower()
    chars = [c if (c.isascii() and (c.isalnum() or c in _SEPARATORS)) else "-" for c in lowered]
    out: list[str] = []
    for c in chars:
        if c in _SEPARATORS and (not out or out[-1] in _SEPARATORS):
            continue
        out.append(c)
    name = "".join(out).strip(_SEPARATORS)[:NAME_MAX_LENGTH].strip(_SEPARATORS)
    return name or "user"
