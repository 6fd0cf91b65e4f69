"""The admin: every model, guardian's object permissions on collections and containers, bulk
actions, and what happens to a user's images when the user leaves (docs/admin.md).

Deletions respect frozen content everywhere, as the API does: an entity, collection,
container, image or tag holding a frozen tag or a read-only container is not deleted, neither
from its delete button nor by the bulk "Delete selected" action; the admin says which and why.
Hashes, sizes and what was read from the SIF file are read-only. Tokens never show their secret
(only its SHA-256 is stored).

Users: the user admin the site registered gets two actions, "Transfer or remove library content
of the selected users…" and "Deactivate the selected users (keep their library content)", and a
delete confirmation page that lists the library content (``install_user_admin_actions``).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from guardian.admin import GuardedModelAdmin

from .conf import library_settings
from .exceptions import LibraryError
from .flows import audit, protection, teams, users
from .flows.quotas import quota_total
from .models import (
    AuditEvent,
    Blob,
    Collection,
    CollectionGroupObjectPermission,
    CollectionUserObjectPermission,
    Container,
    Entity,
    Image,
    SigningKey,
    SigningKeyId,
    SigningKeyUserId,
    Tag,
    Team,
    Token,
    UploadPart,
    UploadSession,
)
from .refs import validate_name

logger = logging.getLogger(__name__)

UPLOADED = Q(images__uploaded=True)


# --- deletions that respect frozen content ---------------------------------------------------------


class RespectFrozenMixin:
    """Refuse to delete objects that hold frozen tags or read-only containers, and say why.

    ``blockers`` is one of ``flows.protection``'s functions: ``{pk: reason}``.
    """

    blockers: Callable[[Any], dict[Any, str]] = staticmethod(lambda ids: {})

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> dict[str, Any]:
        # Django 6.1 passes ``action_location`` and returns Action objects; 5.2 and 6.0 neither.
        if action_location is None:
            actions = super().get_actions(request)  # type: ignore[misc]
        else:
            actions = super().get_actions(request, action_location=action_location)  # type: ignore[misc]
        entry = actions.get("delete_selected")
        if isinstance(entry, tuple):
            actions["delete_selected"] = (delete_unfrozen, entry[1], entry[2])
        elif entry is not None:
            actions["delete_selected"] = dataclasses.replace(entry, func=delete_unfrozen)
        return actions

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))  # type: ignore[attr-defined]
        if obj is not None:
            reason = self.blockers([obj.pk]).get(obj.pk)
            if reason:
                self.message_user(  # type: ignore[attr-defined]
                    request, f"{obj} was not deleted: {reason}. Unfreeze it first.", messages.ERROR
                )
                opts = self.model._meta  # type: ignore[attr-defined]
                return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))
        return super().delete_view(request, object_id, extra_context)  # type: ignore[misc]

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        blocked = self.blockers(list(queryset.values_list("pk", flat=True)))
        super().delete_queryset(request, queryset.exclude(pk__in=list(blocked)))  # type: ignore[misc]

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        if self.blockers([obj.pk]):
            return  # delete_view has already said so; never delete frozen content
        super().delete_model(request, obj)  # type: ignore[misc]


@admin.action(permissions=["delete"], description="Delete selected %(verbose_name_plural)s (frozen ones are kept)")
def delete_unfrozen(modeladmin: Any, request: HttpRequest, queryset: Any) -> Any:
    """Django's "delete selected", minus the objects holding frozen tags or read-only containers."""
    blocked = modeladmin.blockers(list(queryset.values_list("pk", flat=True)))
    if blocked:
        refused = [f"{obj}: {blocked[obj.pk]}" for obj in queryset.filter(pk__in=list(blocked))[:10]]
        more = f" and {len(blocked) - len(refused)} more" if len(blocked) > len(refused) else ""
        modeladmin.message_user(
            request,
            f"Not deleted, frozen: {'; '.join(refused)}{more}. Unfreeze them first.",
            messages.ERROR,
        )
        queryset = queryset.exclude(pk__in=list(blocked))
        if not queryset.exists():
            return None
    return django_delete_selected(modeladmin, request, queryset)


def _flip(queryset: Any, field: str, value: bool, action: str) -> int:
    """Set a flag on the objects of an admin action, one audit event per object that changed."""
    model = queryset.model
    with transaction.atomic():
        objs = list(model.objects.filter(pk__in=queryset.values("pk")).exclude(**{field: value}))
        extra = {"updated_at": timezone.now()} if any(f.name == "updated_at" for f in model._meta.fields) else {}
        model.objects.filter(pk__in=[o.pk for o in objs]).update(**{field: value}, **extra)
        for obj in objs:
            audit.record(action, obj, detail={"via": "admin"})
    return len(objs)


def _size(value: Any) -> str:
    from django.template.defaultfilters import filesizeformat

    return str(filesizeformat(value or 0))


# --- the audit log ---------------------------------------------------------------------------------


# Fields whose change through an admin form is recorded as its own action (else ``admin.change``).
_AUDITED_FIELDS: dict[type, dict[str, tuple[str, str]]] = {
    Collection: {"private": (audit.COLLECTION_PRIVATE, audit.COLLECTION_PUBLIC)},
    Container: {"read_only": (audit.CONTAINER_READ_ONLY, audit.CONTAINER_WRITABLE)},
    Tag: {"frozen": (audit.TAG_FREEZE, audit.TAG_UNFREEZE)},
}


def _in_audit_context(func: Callable[..., Any]) -> Callable[..., Any]:
    """An admin view or action whose changes are recorded with the staff user and address."""

    @functools.wraps(func)
    def wrapper(self_or_admin: Any, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        with audit.request_context(request):
            return func(self_or_admin, request, *args, **kwargs)

    return wrapper


class AuditAdminMixin:
    """Every add, change and delete made in the admin writes an audit event (docs/security.md):
    deletions as ``<type>.delete``, privacy, read-only and frozen flags as their own actions,
    other edits as ``admin.add`` / ``admin.change`` with the changed fields."""

    @_in_audit_context
    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        return super().changeform_view(request, *args, **kwargs)  # type: ignore[misc]

    @_in_audit_context
    def changelist_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        return super().changelist_view(request, *args, **kwargs)  # type: ignore[misc]

    @_in_audit_context
    def delete_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        return super().delete_view(request, *args, **kwargs)  # type: ignore[misc]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        fields = _AUDITED_FIELDS.get(type(obj), {})
        before = type(obj).objects.filter(pk=obj.pk).values(*fields).first() if change and fields else None
        super().save_model(request, obj, form, change)  # type: ignore[misc]
        changed = [f for f in getattr(form, "changed_data", []) if f not in fields]
        if before is not None:
            for name, (on, off) in fields.items():
                if before[name] != getattr(obj, name):
                    audit.record(on if getattr(obj, name) else off, obj)
        if not change:
            audit.record(audit.ADMIN_ADD, obj)
        elif changed:
            audit.record(audit.ADMIN_CHANGE, obj, detail={"fields": changed})

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        deleted = [audit.describe(o) for o in _to_delete(formset)]
        super().save_formset(request, form, formset, change)  # type: ignore[misc]
        for object_type, ref, pk in deleted:
            audit.record(f"{object_type}.delete", object_type=object_type, ref=ref, object_id=pk)
        for obj in formset.new_objects:
            audit.record(audit.ADMIN_ADD, obj)
        for obj, fields in formset.changed_objects:
            flags = _AUDITED_FIELDS.get(type(obj), {})
            for name in fields:
                if name in flags:
                    audit.record(flags[name][0] if getattr(obj, name) else flags[name][1], obj)
            others = [name for name in fields if name not in flags]
            if others:
                audit.record(audit.ADMIN_CHANGE, obj, detail={"fields": others})

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        described = audit.describe(obj)
        super().delete_model(request, obj)  # type: ignore[misc]
        if not type(obj).objects.filter(pk=described[2]).exists():
            _record_deletion(described)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        described = [audit.describe(o) for o in queryset]
        super().delete_queryset(request, queryset)  # type: ignore[misc]
        remaining = set(queryset.model.objects.filter(pk__in=[d[2] for d in described]).values_list("pk", flat=True))
        for item in described:
            if item[2] not in remaining:
                _record_deletion(item)


def _to_delete(formset: Any) -> list[Any]:
    return [f.instance for f in formset.initial_forms if f.instance.pk and formset._should_delete_form(f)]


def _record_deletion(described: tuple[str, str, Any]) -> None:
    object_type, ref, pk = described
    audit.record(f"{object_type}.delete", object_type=object_type, ref=ref, object_id=pk, detail={"via": "admin"})


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit log, read-only: nobody adds or edits events; only superusers may delete them."""

    list_display = ["created_at", "actor_name", "action", "object_type", "object_ref", "remote_addr", "via"]
    list_filter = ["action", ("created_at", admin.DateFieldListFilter), "object_type", "via"]
    search_fields = ["actor_name", "object_ref", "action"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in AuditEvent._meta.fields]
    list_select_related = ["actor"]
    show_full_result_count = False  # the log grows large; skip the extra COUNT(*)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)


# --- teams and entities ------------------------------------------------------------------------------


class TeamForm(forms.ModelForm):
    members = forms.ModelMultipleChoiceField(
        queryset=get_user_model().objects.all(),
        required=False,
        widget=admin.widgets.FilteredSelectMultiple("members", is_stacked=False),
        help_text="Members act as owners of the team's entities (they push, tag, delete, manage collections).",
    )
    create_entity = forms.BooleanField(
        required=False,
        initial=True,
        label="Create the team's entity",
        help_text="An entity named like the team, so members can push to library://<team>/...",
    )

    class Meta:
        model = Team
        fields = ["name", "description", "group"]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        if self.instance.pk:
            return name
        try:
            validate_name(name, "team name")
        except LibraryError as exc:
            raise forms.ValidationError(exc.message) from exc
        if name in set(library_settings.RESERVED_NAMES):
            raise forms.ValidationError(f"{name} is a reserved name.")
        return name

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        name = data.get("name")
        if not self.instance.pk and name and data.get("create_entity") and Entity.objects.filter(name=name).exists():
            raise forms.ValidationError(
                f"An entity named {name} exists already. Untick 'Create the team's entity' and set that "
                "entity's team instead."
            )
        return data

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "group" in self.fields:  # read-only once the team exists
            self.fields["group"].required = False
            self.fields["group"].help_text = (
                "An existing group to turn into a team (e.g. one synchronised from LDAP). "
                "Empty: a group named like the team is created."
            )
        if self.instance.pk:
            self.fields["members"].initial = self.instance.group.user_set.all()
            self.fields.pop("create_entity")


@admin.register(Team)
class TeamAdmin(AuditAdminMixin, admin.ModelAdmin):
    form = TeamForm
    list_display = ["name", "group", "member_count", "entity_names", "created_at"]
    search_fields = ["name", "group__name", "description"]
    list_select_related = ["group"]
    readonly_fields = ["created_at"]

    def get_queryset(self, request: HttpRequest) -> Any:
        return (
            super()
            .get_queryset(request)
            .annotate(n_members=Count("group__user", distinct=True))
            .prefetch_related("entities")
        )

    @admin.display(description="members", ordering="n_members")
    def member_count(self, obj: Team) -> int:
        return obj.n_members

    @admin.display(description="entities")
    def entity_names(self, obj: Team) -> str:
        return ", ".join(e.name for e in obj.entities.all())

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # The name is the team's entity's name; renaming would break library:// references.
        return [*self.readonly_fields, "name", "group"] if obj is not None else list(self.readonly_fields)

    def save_model(self, request: HttpRequest, obj: Team, form: Any, change: bool) -> None:
        members = form.cleaned_data.get("members") or []
        if change:
            super().save_model(request, obj, form, change)
            obj.group.user_set.set(members)
            return
        created = teams.create_team(  # the form has checked the flow's rules
            form.cleaned_data["name"],
            description=form.cleaned_data.get("description") or "",
            members=members,
            group=form.cleaned_data.get("group"),
            entity=bool(form.cleaned_data.get("create_entity")),
        )
        obj.pk = created.pk
        obj.group = created.group
        obj.created_at = created.created_at

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        form.save_m2m = lambda: None  # members are set in save_model
        super().save_related(request, form, formsets, change)


class TransferForm(forms.Form):
    to_user = forms.CharField(required=False, label="To user (username)")
    to_team = forms.ModelChoiceField(queryset=Team.objects.all(), required=False, label="Or to team")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        username = (data.get("to_user") or "").strip()
        if bool(username) == bool(data.get("to_team")):
            raise forms.ValidationError("Choose either a user or a team.")
        if username:
            User = get_user_model()
            user = User.objects.filter(**{User.USERNAME_FIELD: username}).first()
            if user is None:
                raise forms.ValidationError(f"There is no user {username}.")
            data["to_user"] = user
        else:
            data["to_user"] = None
        return data


@admin.register(Entity)
class EntityAdmin(AuditAdminMixin, RespectFrozenMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "owner",
        "team",
        "personal",
        "collection_count",
        "storage",
        "quota_display",
        "default_private",
        "created_at",
    ]
    list_filter = ["personal", "default_private", ("team", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "owner__username", "team__name", "description"]
    raw_id_fields = ["owner"]
    list_select_related = ["owner", "team"]
    readonly_fields = ["created_at", "updated_at"]
    actions = ["transfer_entities"]
    blockers = staticmethod(protection.entity_blockers)

    def get_queryset(self, request: HttpRequest) -> Any:
        uploaded = Q(collections__containers__images__uploaded=True)
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_collections=Count("collections", distinct=True),
                total_size=Coalesce(Sum("collections__containers__images__size", filter=uploaded), 0),
            )
        )

    @admin.display(description="collections", ordering="n_collections")
    def collection_count(self, obj: Entity) -> int:
        return obj.n_collections

    @admin.display(description="storage", ordering="total_size")
    def storage(self, obj: Entity) -> str:
        return _size(obj.total_size)

    @admin.display(description="quota", ordering="quota")
    def quota_display(self, obj: Entity) -> str:
        limit = quota_total(obj)
        source = " (site default)" if obj.quota == 0 else ""
        return f"{_size(limit)}{source}" if limit else "unlimited"

    @admin.action(description="Transfer the selected entities to another user or team…", permissions=["change"])
    def transfer_entities(self, request: HttpRequest, queryset: Any) -> Any:
        form = TransferForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            moved = users.transfer_entities(
                queryset, to_user=form.cleaned_data["to_user"], to_team=form.cleaned_data["to_team"]
            )
            target = form.cleaned_data["to_team"] or form.cleaned_data["to_user"]
            self.message_user(
                request,
                f"Transferred {len(moved)} entit{'y' if len(moved) == 1 else 'ies'} to {target}: "
                f"{', '.join(e.name for e in moved)}. Names and images are unchanged.",
                messages.SUCCESS,
            )
            return None
        return TemplateResponse(
            request,
            "admin/django_sylabs_library/entity/transfer.html",
            {
                **self.admin_site.each_context(request),
                "title": "Transfer entities",
                "entities": queryset,
                "form": form,
                "opts": self.model._meta,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "action": "transfer_entities",
                "media": self.media + form.media,
            },
        )


# --- collections, containers, images, tags ---------------------------------------------------------


@admin.register(Collection)
class CollectionAdmin(AuditAdminMixin, RespectFrozenMixin, GuardedModelAdmin):
    """Collaborators are granted with guardian's "Object permissions" page (``pull_collection``
    for collaborators, ``push_collection`` for owners), or on the collection's settings page."""

    list_display = ["name", "entity", "private", "container_count", "storage", "created_at", "updated_at"]
    list_filter = ["private", "entity__personal"]
    search_fields = ["name", "entity__name", "description"]
    list_select_related = ["entity"]
    raw_id_fields = ["entity", "created_by"]
    readonly_fields = ["created_at", "updated_at"]
    actions = ["make_private", "make_public"]
    blockers = staticmethod(protection.collection_blockers)

    def get_queryset(self, request: HttpRequest) -> Any:
        uploaded = Q(containers__images__uploaded=True)
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_containers=Count("containers", distinct=True),
                total_size=Coalesce(Sum("containers__images__size", filter=uploaded), 0),
            )
        )

    @admin.display(description="containers", ordering="n_containers")
    def container_count(self, obj: Collection) -> int:
        return obj.n_containers

    @admin.display(description="storage", ordering="total_size")
    def storage(self, obj: Collection) -> str:
        return _size(obj.total_size)

    @admin.action(description="Make the selected collections private", permissions=["change"])
    def make_private(self, request: HttpRequest, queryset: Any) -> None:
        count = _flip(queryset, "private", True, audit.COLLECTION_PRIVATE)
        self.message_user(request, f"{count} collection(s) are now private: only owners and collaborators see them.")

    @admin.action(description="Make the selected collections public", permissions=["change"])
    def make_public(self, request: HttpRequest, queryset: Any) -> None:
        count = _flip(queryset, "private", False, audit.COLLECTION_PUBLIC)
        self.message_user(request, f"{count} collection(s) are now public: anyone can see and pull them.")


class TagInlineFormSet(forms.BaseInlineFormSet):
    """Deleting a frozen tag from the container's page is refused like everywhere else."""

    def clean(self) -> None:
        super().clean()
        frozen = [
            f"{form.instance.name} ({form.instance.arch})"
            for form in self.forms
            if form.instance.pk and self._should_delete_form(form) and (form.instance.frozen or self.instance.read_only)
        ]
        if frozen:
            raise forms.ValidationError(
                f"Frozen tags, or tags of a read-only container, are not deleted: {', '.join(frozen)}. Unfreeze first."
            )


class TagInline(admin.TabularInline):
    model = Tag
    formset = TagInlineFormSet
    extra = 0
    fields = ["name", "arch", "image", "frozen", "updated_at"]
    readonly_fields = ["updated_at"]
    raw_id_fields = ["image"]


@admin.register(Container)
class ContainerAdmin(AuditAdminMixin, RespectFrozenMixin, GuardedModelAdmin):
    """guardian's object permissions here grant admin rights on single containers; library roles
    (who may push or pull) come from the collection."""

    list_display = ["name", "collection", "read_only", "image_count", "storage", "download_count", "updated_at"]
    list_filter = ["read_only"]
    search_fields = ["name", "collection__name", "collection__entity__name"]
    list_select_related = ["collection__entity"]
    raw_id_fields = ["collection", "created_by"]
    readonly_fields = ["download_count", "stars", "created_at", "updated_at"]
    inlines = [TagInline]
    actions = ["make_read_only", "make_writable", "freeze_tags", "unfreeze_tags"]
    blockers = staticmethod(protection.container_blockers)

    def get_queryset(self, request: HttpRequest) -> Any:
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_images=Count("images", filter=UPLOADED),
                total_size=Coalesce(Sum("images__size", filter=UPLOADED), 0),
            )
        )

    @admin.display(description="images", ordering="n_images")
    def image_count(self, obj: Container) -> int:
        return obj.n_images

    @admin.display(description="storage", ordering="total_size")
    def storage(self, obj: Container) -> str:
        return _size(obj.total_size)

    @admin.action(description="Make the selected containers read-only (frozen)", permissions=["change"])
    def make_read_only(self, request: HttpRequest, queryset: Any) -> None:
        count = _flip(queryset, "read_only", True, audit.CONTAINER_READ_ONLY)
        self.message_user(request, f"{count} container(s) are read-only: pushes, tag moves and deletes are refused.")

    @admin.action(description="Make the selected containers writable", permissions=["change"])
    def make_writable(self, request: HttpRequest, queryset: Any) -> None:
        count = _flip(queryset, "read_only", False, audit.CONTAINER_WRITABLE)
        self.message_user(request, f"{count} container(s) are writable again.")

    @admin.action(description="Freeze every tag of the selected containers", permissions=["change"])
    def freeze_tags(self, request: HttpRequest, queryset: Any) -> None:
        count = _flip(Tag.objects.filter(container__in=queryset.values("pk")), "frozen", True, audit.TAG_FREEZE)
        self.message_user(request, f"{count} tag(s) frozen.")

    @admin.action(description="Unfreeze every tag of the selected containers", permissions=["change"])
    def unfreeze_tags(self, request: HttpRequest, queryset: Any) -> None:
        count = _flip(Tag.objects.filter(container__in=queryset.values("pk")), "frozen", False, audit.TAG_UNFREEZE)
        self.message_user(request, f"{count} tag(s) unfrozen.")


@admin.register(Image)
class ImageAdmin(AuditAdminMixin, RespectFrozenMixin, admin.ModelAdmin):
    list_display = [
        "short_hash",
        "container",
        "arch",
        "size_display",
        "uploaded",
        "signed",
        "download_count",
        "created_at",
    ]
    list_filter = ["uploaded", "arch", "signed", "encrypted"]
    search_fields = ["hash", "container__name", "container__collection__name", "description"]
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
        "download_count",
        "created_at",
        "updated_at",
    ]
    raw_id_fields = ["container", "pushed_by"]
    blockers = staticmethod(protection.image_blockers)

    @admin.display(description="hash", ordering="hash")
    def short_hash(self, obj: Image) -> str:
        return obj.hash[:19] + "…"

    @admin.display(description="size", ordering="size")
    def size_display(self, obj: Image) -> str:
        return _size(obj.size)

    def has_add_permission(self, request: HttpRequest) -> bool:  # images arrive by push
        return False


@admin.register(Tag)
class TagAdmin(AuditAdminMixin, RespectFrozenMixin, admin.ModelAdmin):
    list_display = ["name", "arch", "container", "image_hash", "frozen", "updated_at"]
    list_filter = ["frozen", "arch"]
    search_fields = ["name", "container__name", "container__collection__name", "image__hash"]
    list_select_related = ["container__collection__entity", "image"]
    raw_id_fields = ["container", "image", "updated_by"]
    actions = ["freeze", "unfreeze"]
    blockers = staticmethod(protection.tag_blockers)

    @admin.display(description="image", ordering="image__hash")
    def image_hash(self, obj: Tag) -> str:
        return obj.image.hash[:19] + "…"

    @admin.action(description="Freeze the selected tags", permissions=["change"])
    def freeze(self, request: HttpRequest, queryset: Any) -> None:
        count = _flip(queryset, "frozen", True, audit.TAG_FREEZE)
        self.message_user(request, f"{count} tag(s) frozen: pushes to them are refused and they cannot be deleted.")

    @admin.action(description="Unfreeze the selected tags", permissions=["change"])
    def unfreeze(self, request: HttpRequest, queryset: Any) -> None:
        count = _flip(queryset, "frozen", False, audit.TAG_UNFREEZE)
        self.message_user(request, f"{count} tag(s) unfrozen.")


# --- storage, uploads, tokens, keys --------------------------------------------------------------


@admin.register(Blob)
class BlobAdmin(admin.ModelAdmin):
    """Stored files; they go by themselves when their last image is deleted."""

    list_display = ["sha256", "size_display", "storage_name", "image_count", "created_at"]
    search_fields = ["sha256"]
    readonly_fields = ["sha256", "size", "storage_name", "created_at"]

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).annotate(n_images=Count("images"))

    @admin.display(description="size", ordering="size")
    def size_display(self, obj: Blob) -> str:
        return _size(obj.size)

    @admin.display(description="images", ordering="n_images")
    def image_count(self, obj: Blob) -> int:
        return obj.n_images

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(UploadSession)
class UploadSessionAdmin(admin.ModelAdmin):
    list_display = ["upload_id", "image", "kind", "state", "expected_size", "created_at", "expires_at"]
    list_filter = ["kind", "state"]
    search_fields = ["upload_id", "image__hash"]
    list_select_related = ["image__container__collection__entity"]
    readonly_fields = [f.name for f in UploadSession._meta.fields if f.name != "secret_hash"]
    exclude = ["secret_hash"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Lists for auditing; the rows are written by the library itself."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(UploadPart)
class UploadPartAdmin(ReadOnlyAdmin):
    list_display = ["session", "number", "size", "state", "created_at"]
    list_filter = ["state"]
    search_fields = ["session__upload_id"]
    list_select_related = ["session"]
    exclude = ["secret_hash"]


@admin.register(CollectionUserObjectPermission)
class CollectionUserGrantAdmin(ReadOnlyAdmin):
    """Every grant to a user on a collection, site-wide (edit them on the collection's object
    permissions page, its settings page, or with ``sylabs_library_collaborator``)."""

    list_display = ["content_object", "user", "permission"]
    list_filter = [("permission", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["user__username", "content_object__name", "content_object__entity__name"]
    list_select_related = ["content_object__entity", "user", "permission"]


@admin.register(CollectionGroupObjectPermission)
class CollectionGroupGrantAdmin(ReadOnlyAdmin):
    """Every grant to a group or team on a collection, site-wide."""

    list_display = ["content_object", "group", "permission"]
    list_filter = [("permission", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["group__name", "content_object__name", "content_object__entity__name"]
    list_select_related = ["content_object__entity", "group", "permission"]


@admin.register(Token)
class TokenAdmin(AuditAdminMixin, admin.ModelAdmin):
    """Name, owner, dates; never the secret (only its hash is stored, and not shown)."""

    list_display = ["name", "user", "key_prefix", "scope", "created_at", "expires_at", "last_used_at", "revoked_at"]
    list_filter = ["scope", "revoked_at", "created_at"]
    search_fields = ["name", "user__username", "key_prefix"]
    list_select_related = ["user"]
    exclude = ["key_hash"]
    readonly_fields = ["key_prefix", "scope", "created_at", "last_used_at"]
    raw_id_fields = ["user"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:  # tokens are made on the token page or CLI
        return False

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: Any) -> None:
        with transaction.atomic():
            tokens = list(queryset.filter(revoked_at__isnull=True).select_related("user"))
            count = Token.objects.filter(pk__in=[t.pk for t in tokens]).update(revoked_at=timezone.now())
            for token in tokens:
                audit.record(audit.TOKEN_REVOKE, token, detail={"prefix": token.key_prefix, "via": "admin"})
        self.message_user(request, f"{count} token(s) revoked: clients using them are refused from now on.")


class SigningKeyUserIdInline(admin.TabularInline):
    model = SigningKeyUserId
    extra = 0
    can_delete = False
    readonly_fields = ["user_id"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SigningKeyId)
class SigningKeyIdAdmin(ReadOnlyAdmin):
    list_display = ["key_id", "fingerprint", "signing_key"]
    search_fields = ["key_id", "fingerprint"]
    list_select_related = ["signing_key"]


@admin.register(SigningKey)
class SigningKeyAdmin(AuditAdminMixin, admin.ModelAdmin):
    """Keys pushed with `apptainer key push`; admins remove abusive ones here."""

    list_display = ["fingerprint", "uploaded_by", "algorithm", "bits", "revoked", "created_at"]
    list_filter = ["revoked"]
    search_fields = ["fingerprint", "user_ids__user_id", "uploaded_by__username"]
    list_select_related = ["uploaded_by"]
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

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


# --- users who leave ---------------------------------------------------------------------------------


class UserContentForm(forms.Form):
    what = forms.ChoiceField(
        choices=[
            ("transfer_user", "Transfer their entities to a user"),
            ("transfer_team", "Transfer their entities to a team"),
            ("remove", "Remove their entities with all collections and images"),
        ],
        widget=forms.RadioSelect,
        label="What to do with their library content",
    )
    to_user = forms.CharField(required=False, label="User (username)")
    to_team = forms.ModelChoiceField(queryset=Team.objects.all(), required=False, label="Team")
    deactivate = forms.BooleanField(
        required=False, initial=True, label="Also deactivate the users (and revoke their tokens)"
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        what = data.get("what")
        if what == "transfer_user":
            username = (data.get("to_user") or "").strip()
            User = get_user_model()
            user = User.objects.filter(**{User.USERNAME_FIELD: username}).first() if username else None
            if user is None:
                raise forms.ValidationError("Name an existing user to transfer to.")
            data["to_user"] = user
        elif what == "transfer_team" and not data.get("to_team"):
            raise forms.ValidationError("Choose a team to transfer to.")
        return data


@admin.action(description="Transfer or remove library content of the selected users…", permissions=["change"])
@_in_audit_context
def library_content_action(modeladmin: Any, request: HttpRequest, queryset: Any) -> Any:
    """An intermediate page: what each user owns, then transfer to a user or team, or remove."""
    form = UserContentForm(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        data = form.cleaned_data
        for user in queryset:
            try:
                if data["what"] == "remove":
                    names = users.remove_content(user)
                    done = f"removed entities {', '.join(names) or '(none)'}"
                elif data["what"] == "transfer_user":
                    moved = users.transfer_content(user, to_user=data["to_user"])
                    done = f"entities {', '.join(e.name for e in moved) or '(none)'} now belong to {data['to_user']}"
                else:
                    moved = users.transfer_content(user, to_team=data["to_team"])
                    done = (
                        f"entities {', '.join(e.name for e in moved) or '(none)'} now belong to team {data['to_team']}"
                    )
            except LibraryError as exc:
                modeladmin.message_user(request, f"{user}: nothing changed: {exc.message}", messages.ERROR)
                continue
            if data["deactivate"]:
                revoked = users.deactivate_user(user)
                done += f"; deactivated, {revoked} token(s) revoked"
            modeladmin.message_user(request, f"{user}: {done}.", messages.SUCCESS)
        return None
    return TemplateResponse(
        request,
        "admin/django_sylabs_library/user_content_action.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": "Library content of the selected users",
            "users": queryset,
            "form": form,
            "opts": modeladmin.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "action": "library_content_action",
            "media": modeladmin.media,
        },
    )


@admin.action(description="Deactivate the selected users (keep their library content)", permissions=["change"])
@_in_audit_context
def deactivate_users_action(modeladmin: Any, request: HttpRequest, queryset: Any) -> None:
    for user in queryset:
        summary = users.content_summary(user)
        revoked = users.deactivate_user(user)
        kept = ", ".join(
            f"{e.entity.name} ({e.collections} collection(s), {e.images} image(s), {_size(e.size)})"
            for e in summary.entities
        )
        modeladmin.message_user(
            request,
            f"{user} deactivated, {revoked} token(s) revoked. Their entities stay as they are, readable as before, "
            f"until transferred: {kept or 'none'}.",
            messages.SUCCESS,
        )


def install_user_admin_actions(site: admin.AdminSite | None = None) -> bool:
    """Add the two user actions and the library-aware delete confirmation to the user admin
    registered on ``site`` (default: ``admin.site``). Called when this module is imported (the
    admin autodiscovers it after ``django.contrib.auth``'s); a site that registers its own
    user admin later calls it again after registering. Returns whether a user admin was found.
    """
    site = site or admin.site
    model_admin = site._registry.get(get_user_model())
    if model_admin is None:
        return False
    actions = list(model_admin.actions or [])
    for action in (library_content_action, deactivate_users_action):
        if action not in actions:
            actions.append(action)
    model_admin.actions = actions
    if not model_admin.delete_confirmation_template:
        model_admin.delete_confirmation_template = "admin/django_sylabs_library/user_delete_confirmation.html"
    if not model_admin.delete_selected_confirmation_template:
        model_admin.delete_selected_confirmation_template = (
            "admin/django_sylabs_library/user_delete_selected_confirmation.html"
        )
    return True


install_user_admin_actions()

__all__ = ["install_user_admin_actions"]
