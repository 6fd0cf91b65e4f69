"""Pages for people: browse, entities, collections, containers, search, settings, tokens.

Views resolve objects with the visitor's rights (``mixins.py``: 404 for what they may not
see), read through ``permissions.py`` and ``flows/``, and change state only through the flows,
with POST and CSRF, reporting the outcome with Django messages. Listing pages cost a fixed
number of queries, whatever the number of rows (tests/test_web_queries.py).

URL design (``web/urls.py``): pages live under ``/e/<entity>/...``, ``/search/`` and
``/auth/tokens``, beside the API's ``/v1``, ``/v2``, ``/version``, ``/assets``, ``/api``,
``/pks`` and ``/<entity>/api/container/...``. Owner actions hang off a ``-`` segment
(``/e/alice/tools/-/settings/``): names never start with ``-``, so no collection or container
can be called like an action.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import Group
from django.core.paginator import Paginator
from django.db.models import Count, Max, Prefetch, Q, Sum
from django.db.models.functions import Coalesce
from django.db.models.query import prefetch_related_objects
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django.views.generic import View

from .. import permissions
from ..conf import library_settings
from ..exceptions import InvalidInput, LibraryError, NotFound
from ..flows import audit, namespaces, search, teams, usage
from ..flows import collaborators as collaborator_flows
from ..flows import images as image_flows
from ..flows import tags as tag_flows
from ..flows import tokens as token_flows
from ..flows.keys import keys_for_fingerprints
from ..flows.namespaces import user_entity_name
from ..flows.protection import collection_blockers, image_blockers
from ..models import Collection, Container, Entity, Image, Tag, Token
from ..permissions import Role
from ..refs import ImageRef
from .charts import bar_chart
from .commands import client_commands
from .forms import (
    CollaboratorAddForm,
    CollaboratorRemoveForm,
    PrivacyForm,
    ReadOnlyForm,
    SearchForm,
    TagFreezeForm,
    TokenCreateForm,
)
from .links import collection_path, container_path, entity_path
from .mixins import CollectionMixin, ContainerMixin, LibraryPageView

PAGE_SIZE = 100
HOME_ROWS = 10


def _context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {
        "base_template": library_settings.BASE_TEMPLATE,
        "site_url": request.build_absolute_uri("/").rstrip("/"),
        **extra,
    }


def _uploaded(prefix: str = "images__") -> Q:
    return Q(**{f"{prefix}uploaded": True})


def _page(request: HttpRequest, queryset: Any, size: int = PAGE_SIZE) -> Any:
    return Paginator(queryset, size).get_page(request.GET.get("page"))


def _containers_with_stats(queryset: Any) -> Any:
    """Size, image count and last push per container, in the same query; tags in one more."""
    return queryset.annotate(
        size=Coalesce(Sum("images__size", filter=_uploaded()), 0),
        n_images=Count("images", filter=_uploaded()),
        last_push=Max("images__uploaded_at", filter=_uploaded()),
    )


def _arch_tags(containers: Any) -> None:
    """``container.arch_tags``: ``[(arch, [tag names])]`` from prefetched ``tags``."""
    for container in containers:
        by_arch: dict[str, list[str]] = OrderedDict()
        for tag in sorted(container.tags.all(), key=lambda t: (t.arch, t.name)):
            by_arch.setdefault(tag.arch, []).append(tag.name)
        container.arch_tags = list(by_arch.items())


# --- home, search --------------------------------------------------------------------------------


class HomeView(LibraryPageView):
    """Recent and popular containers, public collections, a search box."""

    template_name = "django_sylabs_library/home.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        user = self.request.user
        visible = permissions.visible_containers(user, Container.objects.select_related("collection__entity"))
        recent = list(
            _containers_with_stats(visible)
            .filter(last_push__isnull=False)
            .order_by("-last_push", "pk")
            .prefetch_related("tags")[:HOME_ROWS]
        )
        popular = list(
            _containers_with_stats(visible)
            .filter(download_count__gt=0)
            .order_by("-download_count", "pk")
            .prefetch_related("tags")[:HOME_ROWS]
        )
        _arch_tags(recent + popular)
        public = (
            Collection.objects.filter(private=False)
            .select_related("entity")
            .annotate(n_containers=Count("containers"))
            .order_by("-updated_at", "pk")[: HOME_ROWS * 2]
        )
        mine = []
        if user.is_authenticated:
            user_entity_name(user)  # a user's own entity exists from their first visit
            mine = list(permissions.owned_entities(user).select_related("team").order_by("name")[:50])
        return super().get_context_data(
            recent=recent,
            popular=popular,
            public_collections=list(public),
            my_entities=mine,
            search_form=SearchForm(),
            **kwargs,
        )


class SearchView(LibraryPageView):
    """``/search/?q=``: ``flows.search.search``, the same rules as ``v1/search``."""

    template_name = "django_sylabs_library/search.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        form = SearchForm(self.request.GET or None)
        results = None
        error = ""
        query = ""
        if form.is_valid() and form.cleaned_data["q"].strip():
            query = form.cleaned_data["q"].strip()
            try:
                results = search.search(self.request.user, query)
            except InvalidInput as exc:
                error = exc.message
            else:
                prefetch_related_objects(results.images, "tags")
                prefetch_related_objects(results.containers, "tags")
                _arch_tags(results.containers)
        elif self.request.GET and not form.is_valid():
            error = "; ".join(str(e) for errors in form.errors.values() for e in errors)
        found = bool(results and (results.entities or results.collections or results.containers or results.images))
        return super().get_context_data(
            form=form, query=query, results=results if found else None, error=error, **kwargs
        )


# --- entity -----------------------------------------------------------------------------------------


class EntityView(LibraryPageView):
    """An entity (a user's, a team's or the site's) and the collections the visitor can see."""

    template_name = "django_sylabs_library/entity/detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        user = self.request.user
        try:
            entity = namespaces.get_entity(self.kwargs["entity"])
        except NotFound:
            raise Http404() from None
        entity = Entity.objects.select_related("owner", "team__group").get(pk=entity.pk)
        collections = (
            permissions.visible_collections(user, Collection.objects.filter(entity=entity))
            .annotate(
                n_containers=Count("containers", distinct=True),
                size=Coalesce(Sum("containers__images__size", filter=_uploaded("containers__images__")), 0),
                last_push=Max("containers__images__uploaded_at", filter=_uploaded("containers__images__")),
            )
            .order_by("name")
        )
        page = _page(self.request, collections)
        is_owner = permissions.owns_entity(user, entity)
        members = teams.members(entity.team) if entity.team_id and is_owner else []
        entity_usage = usage.entity_usage(user, entity)
        chart = bar_chart(
            f"Storage by collection in {entity.name}",
            entity_usage.parts,
            entity_usage.rest,
            f"{entity_usage.rest_count} other collection(s)",
        )
        return super().get_context_data(
            entity=entity,
            page=page,
            collections=page.object_list,
            is_owner=is_owner,
            members=members,
            usage=entity_usage,
            chart=chart,
            **kwargs,
        )


# --- collection -------------------------------------------------------------------------------------


class CollectionView(CollectionMixin, LibraryPageView):
    """Containers with tags per architecture, sizes, last push; commands; owners, collaborators."""

    template_name = "django_sylabs_library/collection/detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        user = self.request.user
        collection = self.get_collection()
        entity = Entity.objects.select_related("owner", "team").get(pk=collection.entity_id)
        collection.entity = entity
        role = permissions.collection_role(user, collection)
        containers = _containers_with_stats(Container.objects.filter(collection=collection)).order_by("name")
        page = _page(self.request, containers.prefetch_related("tags"))
        _arch_tags(page.object_list)
        latest = (
            Tag.objects.filter(container__collection=collection)
            .select_related("container")
            .order_by("-image__uploaded_at", "container__name", "name")
            .first()
        )
        commands = client_commands(
            self.request,
            entity.name,
            collection.name,
            latest.container.name if latest else "mycontainer",
            latest.name if latest else "latest",
            public=not collection.private,
        )
        collection_usage = usage.collection_usage(collection)
        chart = bar_chart(
            f"Storage by container in {entity.name}/{collection.name}",
            collection_usage.parts,
            collection_usage.rest,
            f"{collection_usage.rest_count} other container(s)",
        )
        grants = collaborator_flows.list_collaborators(user, collection)
        return super().get_context_data(
            collection=collection,
            entity=entity,
            page=page,
            containers=page.object_list,
            role=role,
            is_owner=role >= Role.OWNER,
            grants=grants,
            show_grants=role >= Role.COLLABORATOR,
            commands=commands,
            usage=collection_usage,
            chart=chart,
            has_pushable_example=latest is not None,
            **kwargs,
        )


class CollectionSettingsView(CollectionMixin, LibraryPageView):
    """Owners: privacy, collaborators, and the way to delete the collection."""

    template_name = "django_sylabs_library/collection/settings.html"
    owner_required = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        collection = self.get_collection()
        return super().get_context_data(
            collection=collection,
            entity=collection.entity,
            privacy_form=PrivacyForm(initial={"private": "1" if collection.private else "0"}),
            add_form=CollaboratorAddForm(),
            grants=collaborator_flows.list_collaborators(self.request.user, collection),
            **kwargs,
        )


class CollectionActionView(CollectionMixin, View):
    """Base of the owners' POST actions: validate a form, call a flow, say what happened."""

    http_method_names = ["post"]
    owner_required = True
    form_class: Any = None

    def success_url(self) -> str:
        return reverse("django_sylabs_library:collection-settings", kwargs=self.kwargs_for_collection())

    def kwargs_for_collection(self) -> dict[str, str]:
        collection = self.get_collection()
        return {"entity": collection.entity.name, "collection": collection.name}

    def perform(self, form: Any) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = self.form_class(request.POST)
        if not form.is_valid():
            messages.error(request, "Nothing changed: the form was incomplete or invalid.")
            return HttpResponseRedirect(self.success_url())
        try:
            message = self.perform(form)
        except LibraryError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, message)
        return HttpResponseRedirect(self.success_url())


class CollectionPrivacyView(CollectionActionView):
    form_class = PrivacyForm

    def perform(self, form: Any) -> str:
        collection = namespaces.set_collection_private(
            self.request.user, self.get_collection(), form.cleaned_data["private"]
        )
        if collection.private:
            return f"{collection} is private: only its owners and collaborators can see it."
        return f"{collection} is public: anyone can see and pull it."


class CollaboratorAddView(CollectionActionView):
    form_class = CollaboratorAddForm

    def perform(self, form: Any) -> str:
        data = form.cleaned_data
        principal = collaborator_flows.find_principal(
            username=data["name"] if data["kind"] == "user" else None,
            team=data["name"] if data["kind"] == "team" else None,
        )
        grant = collaborator_flows.add_collaborator(self.request.user, self.get_collection(), principal, data["role"])
        return f"{principal.label} is now {grant.role_name} of {self.get_collection()}."


class CollaboratorRemoveView(CollectionActionView):
    form_class = CollaboratorRemoveForm

    def perform(self, form: Any) -> str:
        data = form.cleaned_data
        model = Group if data["kind"] == "team" else get_user_model()
        obj = model.objects.filter(pk=data["pk"]).first()
        if obj is None:
            raise NotFound("no such collaborator")
        principal = collaborator_flows.Principal(obj, data["kind"] == "team")
        collaborator_flows.remove_collaborator(self.request.user, self.get_collection(), principal)
        return f"{principal.label} no longer has access through a grant on {self.get_collection()}."


class CollectionDeleteView(CollectionMixin, LibraryPageView):
    """GET: what will go, and whether frozen content blocks it; POST: delete."""

    template_name = "django_sylabs_library/collection/delete.html"
    owner_required = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        collection = self.get_collection()
        totals = Container.objects.filter(collection=collection).aggregate(
            n_containers=Count("pk", distinct=True),
            n_images=Count("images", filter=_uploaded()),
            total_size=Coalesce(Sum("images__size", filter=_uploaded()), 0),
        )
        stats = {"containers": totals["n_containers"], "images": totals["n_images"], "size": totals["total_size"]}
        return super().get_context_data(
            collection=collection,
            entity=collection.entity,
            stats=stats,
            blocked=collection_blockers([collection.pk]).get(collection.pk, ""),
            **kwargs,
        )

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        collection = self.get_collection()
        name = str(collection)
        try:
            deleted = namespaces.delete_collection(request.user, collection)
        except LibraryError as exc:
            messages.error(request, exc.message)
            return redirect(
                "django_sylabs_library:collection-delete",
                entity=collection.entity.name,
                collection=collection.name,
            )
        messages.success(
            request,
            f"Collection {name} deleted with {deleted['containers']} container(s) and {deleted['images']} image(s).",
        )
        return HttpResponseRedirect(entity_path(collection.entity))


# --- container --------------------------------------------------------------------------------------


class ContainerView(ContainerMixin, LibraryPageView):
    """Tags per architecture, images with their details, freeze and read-only for owners."""

    template_name = "django_sylabs_library/container/detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        user = self.request.user
        container = self.get_container()
        collection = container.collection
        role = permissions.collection_role(user, collection)
        images = list(
            Image.objects.filter(container=container, uploaded=True)
            .select_related("pushed_by")
            .prefetch_related(Prefetch("tags", queryset=Tag.objects.order_by("arch", "name")))
            .order_by("-uploaded_at", "-pk")
        )
        by_id = {image.pk: image for image in images}
        fingerprints = sorted({f for image in images for f in (image.fingerprints or [])})
        known = keys_for_fingerprints(fingerprints)
        for image in images:
            image.signers = [(f.upper(), known.get(f.lower())) for f in image.fingerprints or []]
            image.label_items = sorted((image.labels or {}).items())
        arches: dict[str, list[tuple[Tag, Image]]] = OrderedDict()
        for tag in Tag.objects.filter(container=container).order_by("arch", "name"):
            image = by_id.get(tag.image_id)
            if image is not None:
                arches.setdefault(tag.arch, []).append((tag, image))
        default_arch = library_settings.DEFAULT_ARCH
        example = None
        for arch, rows in arches.items():
            for tag, _ in rows:
                if example is None or (tag.name == "latest" and (example[0] != "latest" or arch == default_arch)):
                    example = (tag.name, arch)
        commands = client_commands(
            self.request,
            collection.entity.name,
            collection.name,
            container.name,
            example[0] if example else "latest",
            arch=example[1] if example else "",
            public=not collection.private,
        )
        blocked = image_blockers(by_id)
        for image in images:
            image.blocked = blocked.get(image.pk, "")
        return super().get_context_data(
            container=container,
            collection=collection,
            entity=collection.entity,
            role=role,
            is_owner=role >= Role.OWNER,
            arches=list(arches.items()),
            images=images,
            commands=commands,
            total_size=sum(i.size for i in images),
            **kwargs,
        )


class ContainerActionView(ContainerMixin, View):
    http_method_names = ["post"]
    owner_required = True
    form_class: Any = None

    def success_url(self) -> str:
        return container_path(self.get_container())

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = self.form_class(request.POST)
        if not form.is_valid():
            messages.error(request, "Nothing changed: the form was incomplete or invalid.")
            return HttpResponseRedirect(self.success_url())
        try:
            message = self.perform(form)
        except LibraryError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, message)
        return HttpResponseRedirect(self.success_url())

    def perform(self, form: Any) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


class TagFreezeView(ContainerActionView):
    form_class = TagFreezeForm

    def perform(self, form: Any) -> str:
        data = form.cleaned_data
        tag_flows.set_frozen(self.request.user, self.get_container(), data["tag"], data["arch"], data["frozen"])
        if data["frozen"]:
            return f"Tag {data['tag']} ({data['arch']}) is frozen: pushes to it are refused and it cannot be deleted."
        return f"Tag {data['tag']} ({data['arch']}) is no longer frozen."


class ReadOnlyView(ContainerActionView):
    form_class = ReadOnlyForm

    def perform(self, form: Any) -> str:
        container = namespaces.set_container_read_only(
            self.request.user, self.get_container(), form.cleaned_data["read_only"]
        )
        if container.read_only:
            return f"{container} is read-only: no pushes, tag changes or deletes until it is made writable."
        return f"{container} is writable again."


class ImageDeleteView(ContainerMixin, LibraryPageView):
    """GET: confirm (the image goes with all its tags); POST: ``flows.images.delete_image``."""

    template_name = "django_sylabs_library/container/image_delete.html"
    owner_required = True

    def get_image(self) -> Image:
        image = (
            Image.objects.filter(pk=self.kwargs["image_id"], container=self.get_container(), uploaded=True)
            .prefetch_related("tags")
            .first()
        )
        if image is None:
            raise Http404()
        return image

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        container = self.get_container()
        image = self.get_image()
        return super().get_context_data(
            container=container,
            collection=container.collection,
            entity=container.collection.entity,
            image=image,
            blocked=image_blockers([image.pk]).get(image.pk, ""),
            **kwargs,
        )

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        container = self.get_container()
        image = self.get_image()
        collection = container.collection
        ref = ImageRef(collection.entity.name, collection.name, container.name, hash=image.hash)
        try:
            image_flows.delete_image(request.user, ref)
        except LibraryError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Image {image.hash[:19]}… deleted from {container}, with all its tags.")
        return HttpResponseRedirect(container_path(container))


# --- redirects and tokens ---------------------------------------------------------------------------


@login_required
def my_entity(request: HttpRequest) -> HttpResponse:
    """``/me/``: the logged-in user's own entity page."""
    return redirect("django_sylabs_library:entity-detail", entity=user_entity_name(request.user))


@login_required
def tokens(request: HttpRequest) -> HttpResponse:
    with audit.request_context(request):
        return _tokens(request)


def _tokens(request: HttpRequest) -> HttpResponse:
    new_token = None
    form = TokenCreateForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            try:
                _, new_token = token_flows.create_token(
                    request.user,
                    form.cleaned_data["name"],
                    form.cleaned_data.get("expires_days"),
                    scope=form.cleaned_data["scope"],
                )
            except LibraryError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, "Token created. Copy it now: it is not shown again.")
                form = TokenCreateForm()
        else:
            messages.error(request, "The token was not created: please correct the form.")
    user_tokens = Token.objects.filter(user=request.user).order_by("-created_at")
    entity_name = user_entity_name(request.user)
    commands = client_commands(request, entity_name, "collection", "container", "tag")
    response = render(
        request,
        "django_sylabs_library/tokens.html",
        _context(
            request,
            form=form,
            new_token=new_token,
            tokens=user_tokens,
            entity_name=entity_name,
            commands=commands,
        ),
    )
    if new_token:
        response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def revoke_token(request: HttpRequest, token_id: int) -> HttpResponse:
    try:
        with audit.request_context(request):
            token = token_flows.revoke_token(request.user, token_id)
    except LibraryError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Token '{token.name}' revoked: clients using it are refused from now on.")
    return redirect("django_sylabs_library:tokens")


home = HomeView.as_view()

__all__ = [
    "CollectionView",
    "ContainerView",
    "EntityView",
    "HomeView",
    "SearchView",
    "collection_path",
    "home",
    "my_entity",
    "revoke_token",
    "tokens",
]
