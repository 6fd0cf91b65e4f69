"""View mixins for the pages, after guardian's ``PermissionRequiredMixin`` (``return_404``), but
asking ``permissions.py`` instead of guardian directly, so that entity owners and team members
count as owners exactly as in the API.

Failure behaviour, the same on every page:

* an object the visitor may not see answers **404**, exactly like one that does not exist;
* an owner-only page or action on an object the visitor can see answers **403**;
* an owner-only page or action asked for without logging in redirects to the login page (for
  any name, existing or not, so the redirect reveals nothing).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.generic.base import ContextMixin, TemplateView

from .. import permissions
from ..conf import library_settings
from ..exceptions import Forbidden, NotAuthenticated, NotFound
from ..flows import audit, namespaces
from ..models import Collection, Container


class LibraryContextMixin(ContextMixin):
    """``base_template`` (the host's base, ``SYLABS_LIBRARY["BASE_TEMPLATE"]``) for the layout."""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.setdefault("base_template", library_settings.BASE_TEMPLATE)
        return context


class LibraryPageView(LibraryContextMixin, TemplateView):
    """A page whose context is built from ``self.kwargs`` (URL names are not passed on to the
    template as they are: pages put the resolved objects there instead)."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self.render_to_response(self.get_context_data())


class CollectionMixin:
    """Resolves ``entity``/``collection`` from the URL with the visitor's rights (404 if invisible)."""

    request: HttpRequest
    kwargs: dict[str, Any]
    owner_required = False

    def get_collection(self) -> Collection:
        if not hasattr(self, "_collection"):
            try:
                self._collection = namespaces.get_collection(
                    self.request.user, self.kwargs["entity"], self.kwargs["collection"]
                )
            except NotFound:
                raise Http404() from None
        return self._collection

    def check_owner(self) -> None:
        permissions.require_push(self.request.user, self.get_collection())

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        with audit.request_context(request):  # who and from where, for the audit log
            return self._dispatch(request, *args, **kwargs)

    def _dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if self.owner_required and not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if self.owner_required:
            try:
                self.check_owner()
            except NotAuthenticated:
                return redirect_to_login(request.get_full_path())
            except Forbidden as exc:
                return forbidden(request, exc.message)
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]


class ContainerMixin(CollectionMixin):
    def get_container(self) -> Container:
        if not hasattr(self, "_container"):
            collection = self.get_collection()
            name = self.kwargs["container"]
            # No stored name holds a NUL, and PostgreSQL errors on one in a query parameter.
            container = (
                None if "\x00" in name else Container.objects.filter(collection=collection, name=name.lower()).first()
            )
            if container is None:
                raise Http404()
            container.collection = collection
            self._container = container
        return self._container

    def check_owner(self) -> None:
        self.get_container()  # 404 before 403: a missing container is missing for everyone
        super().check_owner()


def forbidden(request: HttpRequest, message: str) -> HttpResponse:
    """403 with the reason, inside the site's layout."""
    return render(
        request,
        "django_sylabs_library/forbidden.html",
        {"base_template": library_settings.BASE_TEMPLATE, "message": message},
        status=403,
    )
