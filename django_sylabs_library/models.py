"""Entity -> Collection -> Container -> Image, tags per architecture, blobs, uploads, tokens.

Shapes follow the client's JSON models (spec section 2). Sizes are 64-bit. Names are stored
lower-case and validated by ``refs.validate_name``. Who may see or change what is decided in
``permissions.py`` only; per-object grants live in guardian's direct foreign-key tables below.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q
from django.db.models.deletion import CASCADE, SET_NULL, ProtectedError
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from .refs import NAME_MAX_LENGTH, TAG_MAX_LENGTH


class Team(models.Model):
    """A team: a Django ``Group`` whose members act as owners of the team's entities.

    The team's name is a valid entity name; ``flows.teams.create_team`` creates the team's
    entity of the same name. Members are the group's users (``team.group.user_set``), so groups
    synchronised from LDAP or SSO can become teams.
    """

    group = models.OneToOneField(Group, on_delete=models.CASCADE, related_name="sylabs_team")
    name = models.CharField(
        max_length=NAME_MAX_LENGTH,
        unique=True,
        help_text="Lower-case letters and digits, optionally split by single '.', '_' or '-'.",
    )
    description = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


def PROTECT_CONTENT(collector: Any, field: Any, sub_objs: Any, using: str) -> None:  # noqa: N802 (like CASCADE)
    """``on_delete`` of ``Entity.owner`` and ``Entity.team``: never lose images silently.

    When the owning user (or team) is deleted, each of its entities is

    * kept, when it has another owner (a team, or a user for a team's entity): only the link
      to the deleted owner is cleared;
    * deleted with it, when it holds no collection (e.g. a personal entity never pushed to);
    * protected otherwise: the deletion is refused with ``ProtectedError`` (the admin lists the
      entities as protected objects). Transfer or remove their content first
      (``flows.users.transfer_content`` / ``remove_content``, or the user admin's action).
    """
    objs = list(sub_objs)
    if not objs:
        return
    other = "team_id" if field.name == "owner" else "owner_id"
    with_collections = set(
        Collection.objects.using(using)
        .filter(entity_id__in=[o.pk for o in objs])
        .values_list("entity_id", flat=True)
        .distinct()
    )
    keep = [o for o in objs if getattr(o, other) is not None]
    rest = [o for o in objs if getattr(o, other) is None]
    protected = [o for o in rest if o.pk in with_collections]
    empty = [o for o in rest if o.pk not in with_collections]
    if protected:
        names = ", ".join(sorted(o.name for o in protected))
        raise ProtectedError(
            f"Cannot delete: entities {names} hold collections. Transfer them to another owner or team, "
            "or remove their content, first.",
            set(protected),
        )
    if keep:
        SET_NULL(collector, field, keep, using)
    if empty:
        CASCADE(collector, field, empty, using)


class Entity(models.Model):
    """A namespace: a user's own (``personal``), a team's, or one created by staff.

    Owners of an entity are its ``owner`` user and, when ``team`` is set, every member of the
    team (``permissions.owns_entity``).
    """

    name = models.CharField(max_length=NAME_MAX_LENGTH, unique=True)
    description = models.TextField(blank=True, default="")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=PROTECT_CONTENT,
        related_name="sylabs_entities",
    )
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=PROTECT_CONTENT,
        related_name="entities",
        help_text="Members of this team act as owners of the entity's collections.",
    )
    personal = models.BooleanField(
        default=False, help_text="The owner's own namespace, created on first token use or push."
    )
    default_private = models.BooleanField(
        null=True,
        blank=True,
        help_text="Privacy of new collections; empty uses the site's DEFAULT_PRIVATE setting.",
    )
    quota = models.BigIntegerField(
        default=0,
        help_text="Storage quota in bytes: 0 uses SYLABS_LIBRARY['DEFAULT_ENTITY_QUOTA'], a negative value means unlimited.",
    )
    custom_data = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "entities"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["owner"], condition=Q(personal=True), name="sylabs_one_personal_entity"),
        ]

    def __str__(self) -> str:
        return self.name


class Collection(models.Model):
    entity = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="collections")
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    description = models.TextField(blank=True, default="")
    private = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    custom_data = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["entity__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["entity", "name"], name="sylabs_unique_collection_name"),
        ]
        permissions = [
            ("pull_collection", "Can see and pull from the collection (collaborator)"),
            ("push_collection", "Can push, tag, freeze and delete in the collection (owner)"),
        ]

    def __str__(self) -> str:
        return f"{self.entity.name}/{self.name}"


class CollectionUserObjectPermission(UserObjectPermissionBase):
    """guardian grants to users, with a direct foreign key (fast checks, cascade on delete)."""

    content_object = models.ForeignKey(Collection, on_delete=models.CASCADE)


class CollectionGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Collection, on_delete=models.CASCADE)


class Container(models.Model):
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="containers")
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    description = models.TextField(blank=True, default="")
    full_description = models.TextField(blank=True, default="")
    read_only = models.BooleanField(default=False, help_text="Frozen: no pushes, tag moves or deletes until cleared.")
    download_count = models.BigIntegerField(default=0)
    stars = models.IntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    custom_data = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["collection__entity__name", "collection__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["collection", "name"], name="sylabs_unique_container_name"),
        ]

    def __str__(self) -> str:
        return f"{self.collection}/{self.name}"

    @property
    def private(self) -> bool:
        """Containers follow their collection's privacy."""
        return self.collection.private


class Blob(models.Model):
    """Stored bytes, addressed by content: the same file pushed twice is stored once."""

    sha256 = models.CharField(max_length=64, unique=True)
    size = models.BigIntegerField()
    storage_name = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"sha256.{self.sha256}"


class Image(models.Model):
    container = models.ForeignKey(Container, on_delete=models.CASCADE, related_name="images")
    hash = models.CharField(max_length=80, help_text="sha256.<hex> of the whole file")
    description = models.TextField(blank=True, default="")
    size = models.BigIntegerField(default=0)
    arch = models.CharField(max_length=16, blank=True, default="")
    uploaded = models.BooleanField(
        default=False, help_text="True only once the bytes are stored and their SHA-256 verified."
    )
    blob = models.ForeignKey(Blob, null=True, blank=True, on_delete=models.PROTECT, related_name="images")
    sif_uuid = models.CharField(max_length=36, blank=True, default="")
    labels = models.JSONField(default=dict, blank=True, help_text="Labels from the SIF")
    definition = models.TextField(blank=True, default="", help_text="Definition file from the SIF")
    signed = models.BooleanField(null=True, blank=True)
    fingerprints = models.JSONField(default=list, blank=True)
    encrypted = models.BooleanField(null=True, blank=True)
    download_count = models.BigIntegerField(default=0)
    pushed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    custom_data = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    uploaded_at = models.DateTimeField(null=True, blank=True)
    first_tagged_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When a tag first pointed here; images never tagged are leftovers of refused pushes.",
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["container", "hash"], name="sylabs_unique_image_hash"),
        ]
        indexes = [models.Index(fields=["hash"], name="sylabs_image_hash")]

    def __str__(self) -> str:
        return f"{self.container}:{self.hash}"

    @property
    def sha256_hex(self) -> str:
        return self.hash.removeprefix("sha256.")


class Tag(models.Model):
    """``tag`` + ``arch`` -> image, within one container."""

    container = models.ForeignKey(Container, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=TAG_MAX_LENGTH)
    arch = models.CharField(max_length=16)
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="tags")
    frozen = models.BooleanField(default=False, help_text="Frozen tags never move or go away.")
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "arch"]
        constraints = [
            models.UniqueConstraint(fields=["container", "name", "arch"], name="sylabs_unique_tag_per_arch"),
        ]

    def __str__(self) -> str:
        return f"{self.container}:{self.name} ({self.arch})"


def _new_upload_id() -> str:
    return uuid.uuid4().hex


class UploadSession(models.Model):
    """One attempt to upload an image's bytes (v1 body, v2 single PUT, or v2 multipart)."""

    class Kind(models.TextChoices):
        LEGACY = "legacy", "v1 request body"
        SINGLE = "single", "v2 single-part"
        MULTIPART = "multipart", "v2 multipart"

    class State(models.TextChoices):
        OPEN = "open", "waiting for bytes"
        RECEIVING = "receiving", "receiving bytes"
        RECEIVED = "received", "bytes stored and verified"
        COMPLETED = "completed", "image marked uploaded"
        FAILED = "failed", "failed"
        ABORTED = "aborted", "aborted"

    upload_id = models.CharField(max_length=32, unique=True, default=_new_upload_id)
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="upload_sessions")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    secret_hash = models.CharField(max_length=64, unique=True, null=True, blank=True)
    expected_size = models.BigIntegerField()
    expected_sha256 = models.CharField(max_length=64)
    part_size = models.BigIntegerField(null=True, blank=True)
    total_parts = models.IntegerField(null=True, blank=True)
    temp_name = models.CharField(max_length=255, blank=True, default="")
    blob = models.ForeignKey(Blob, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    sif_metadata = models.JSONField(
        default=dict, blank=True, help_text="What the SIF reader found in the received bytes."
    )
    error = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.kind} upload {self.upload_id} of {self.image_id} ({self.state})"


class UploadPart(models.Model):
    session = models.ForeignKey(UploadSession, on_delete=models.CASCADE, related_name="parts")
    number = models.IntegerField()
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64, blank=True, default="")
    secret_hash = models.CharField(max_length=64, unique=True)
    state = models.CharField(max_length=16, choices=UploadSession.State.choices, default=UploadSession.State.OPEN)
    etag = models.CharField(max_length=80, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["session", "number"], name="sylabs_unique_upload_part"),
        ]


def hash_secret(raw: str) -> str:
    """Tokens and upload secrets are stored as their SHA-256, never in plain text."""
    return hashlib.sha256(raw.encode()).hexdigest()


class Token(models.Model):
    """An API token for `apptainer remote login`. Only its SHA-256 is stored.

    ``scope`` limits what the token may do: ``write`` (the default) acts with all of its user's
    rights; ``read`` may only read (pull, search, list) what the user may see. It is enforced in
    one place, ``api/authentication.py`` (``ReadOnlyTokenPermission``).
    """

    class Scope(models.TextChoices):
        WRITE = "write", "read and write"
        READ = "read", "read only"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sylabs_tokens")
    name = models.CharField(max_length=100)
    scope = models.CharField(
        max_length=16,
        choices=Scope.choices,
        default=Scope.WRITE,
        help_text="read only: pull, search and list; never push, tag, delete, freeze or change privacy.",
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    key_prefix = models.CharField(max_length=16, editable=False, help_text="First characters, to tell tokens apart.")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    @property
    def is_active(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    @property
    def read_only(self) -> bool:
        return self.scope == self.Scope.READ


class SigningKey(models.Model):
    """A public OpenPGP key served by the HKP keyserver (``apptainer key push/pull``, verify)."""

    fingerprint = models.CharField(max_length=40, unique=True, help_text="40 lower-case hex")
    armored = models.TextField()
    algorithm = models.IntegerField(default=0)
    bits = models.IntegerField(default=0)
    key_created_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="sylabs_keys"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.fingerprint.upper()


class SigningKeyId(models.Model):
    """The 64-bit key IDs of a key and its subkeys: signatures name the signing (sub)key's ID."""

    signing_key = models.ForeignKey(SigningKey, on_delete=models.CASCADE, related_name="key_ids")
    key_id = models.CharField(max_length=16, db_index=True)
    fingerprint = models.CharField(max_length=40, db_index=True)

    def __str__(self) -> str:
        return self.key_id


class SigningKeyUserId(models.Model):
    signing_key = models.ForeignKey(SigningKey, on_delete=models.CASCADE, related_name="user_ids")
    user_id = models.CharField(max_length=512)

    def __str__(self) -> str:
        return self.user_id


class AuditEvent(models.Model):
    """One change to the library: who, what, when, from where (``flows/audit.py`` writes them).

    No foreign key to library objects: an event names its object by type, reference string and
    primary key, so it outlives the object. The actor is a nullable foreign key (``SET_NULL``)
    plus the username at the time, so it outlives the user too.
    """

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(
        max_length=150, blank=True, default="",
        help_text="Username at the time, or 'manage.py <command>'; kept when the user is deleted.",
    )
    action = models.CharField(max_length=64, db_index=True, help_text="e.g. image.push, tag.set, collection.delete")
    object_type = models.CharField(max_length=32, blank=True, default="")
    object_ref = models.CharField(
        max_length=512, blank=True, default="", help_text="e.g. entity/collection/container:tag"
    )
    object_id = models.BigIntegerField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    via = models.CharField(
        max_length=32, blank=True, default="",
        help_text="Token prefix, 'session' (web UI) or 'command' (manage.py).",
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="sylabs_audit_object"),
            models.Index(fields=["actor_name"], name="sylabs_audit_actor"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_name or '-'} {self.action} {self.object_ref}"
