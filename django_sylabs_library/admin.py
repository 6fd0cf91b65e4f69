"""Admin for every model; collections use guardian's object-permission admin."""

from __future__ import annotations

from django.contrib import admin
from guardian.admin import GuardedModelAdmin

from .models import (
    Blob,
    Collection,
    Container,
    Entity,
    Image,
    SigningKey,
    SigningKeyUserId,
    Tag,
    Token,
    UploadSession,
)


@admin.register(Entity)
class EntityAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "personal", "default_private", "quota", "created_at"]
    list_filter = ["personal", "default_private"]
    search_fields = ["name", "owner__username", "description"]
    raw_id_fields = ["owner"]


@admin.register(Collection)
class CollectionAdmin(GuardedModelAdmin):
    list_display = ["name", "entity", "private", "created_at", "updated_at"]
    list_filter = ["private"]
    search_fields = ["name", "entity__name", "description"]
    list_select_related = ["entity"]


class TagInline(admin.TabularInline):
    model = Tag
    extra = 0
    fields = ["name", "arch", "image", "frozen", "updated_at"]
    readonly_fields = ["updated_at"]
    raw_id_fields = ["image"]


@admin.register(Container)
class ContainerAdmin(admin.ModelAdmin):
    list_display = ["name", "collection", "read_only", "download_count", "updated_at"]
    list_filter = ["read_only"]
    search_fields = ["name", "collection__name", "collection__entity__name"]
    list_select_related = ["collection__entity"]
    inlines = [TagInline]


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ["hash", "container", "arch", "size", "uploaded", "download_count", "created_at"]
    list_filter = ["uploaded", "arch", "signed"]
    search_fields = ["hash", "container__name", "description"]
    list_select_related = ["container__collection__entity"]
    readonly_fields = [
        "hash",
        "size",
        "blob",
        "uploaded",
        "uploaded_at",
        "sif_uuid",
        "arch",
        "signed",
        "fingerprints",
        "encrypted",
        "labels",
        "definition",
        "created_at",
    ]
    raw_id_fields = ["container", "pushed_by"]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "arch", "container", "image", "frozen", "updated_at"]
    list_filter = ["frozen", "arch"]
    search_fields = ["name", "container__name"]
    raw_id_fields = ["container", "image", "updated_by"]


@admin.register(Blob)
class BlobAdmin(admin.ModelAdmin):
    list_display = ["sha256", "size", "storage_name", "created_at"]
    search_fields = ["sha256"]
    readonly_fields = ["sha256", "size", "storage_name", "created_at"]


@admin.register(UploadSession)
class UploadSessionAdmin(admin.ModelAdmin):
    list_display = ["upload_id", "image", "kind", "state", "expected_size", "created_at", "expires_at"]
    list_filter = ["kind", "state"]
    readonly_fields = [f.name for f in UploadSession._meta.fields if f.name != "secret_hash"]
    exclude = ["secret_hash"]


@admin.register(Token)
class TokenAdmin(admin.ModelAdmin):
    """Name, owner, dates; never the secret (only its hash is stored, and not shown)."""

    list_display = ["name", "user", "key_prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "user__username"]
    exclude = ["key_hash"]
    readonly_fields = ["key_prefix", "created_at", "last_used_at"]
    raw_id_fields = ["user"]

    def has_add_permission(self, request) -> bool:  # tokens are made on the token page or CLI
        return False


class SigningKeyUserIdInline(admin.TabularInline):
    model = SigningKeyUserId
    extra = 0
    can_delete = False
    readonly_fields = ["user_id"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SigningKey)
class SigningKeyAdmin(admin.ModelAdmin):
    """Keys pushed with `apptainer key push`; admins remove abusive ones here."""

    list_display = ["fingerprint", "uploaded_by", "algorithm", "bits", "revoked", "created_at"]
    list_filter = ["revoked"]
    search_fields = ["fingerprint", "user_ids__user_id", "uploaded_by__username"]
    readonly_fields = [
        "fingerprint",
        "armored",
        "algorithm",
        "bits",
        "key_created_at",
        "expires_at",
        "revoked",
        "created_at",
        "updated_at",
    ]
    raw_id_fields = ["uploaded_by"]
    inlines = [SigningKeyUserIdInline]

    def has_add_permission(self, request) -> bool:
        return False
