"""Pages for people: home and the token page (`/auth/tokens`, which `remote login` names)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from .. import permissions
from ..conf import library_settings
from ..exceptions import LibraryError
from ..flows import tokens as token_flows
from ..flows.namespaces import user_entity_name
from ..models import Collection, Image, Token
from .forms import TokenCreateForm


def _context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {
        "base_template": library_settings.BASE_TEMPLATE,
        "site_url": request.build_absolute_uri("/").rstrip("/"),
        **extra,
    }


def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    collections = permissions.visible_collections(user, Collection.objects.select_related("entity")).order_by(
        "-updated_at"
    )[:50]
    recent = permissions.visible_images(user, Image.objects.select_related("container__collection__entity")).order_by(
        "-uploaded_at"
    )[:20]
    return render(
        request,
        "django_sylabs_library/home.html",
        _context(request, collections=collections, recent_images=recent),
    )


@login_required
def tokens(request: HttpRequest) -> HttpResponse:
    new_token = None
    form = TokenCreateForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            try:
                _, new_token = token_flows.create_token(
                    request.user, form.cleaned_data["name"], form.cleaned_data.get("expires_days")
                )
            except LibraryError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, "Token created. Copy it now: it is not shown again.")
                form = TokenCreateForm()
        else:
            messages.error(request, "The token was not created: please correct the form.")
    user_tokens = Token.objects.filter(user=request.user).order_by("-created_at")
    response = render(
        request,
        "django_sylabs_library/tokens.html",
        _context(
            request,
            form=form,
            new_token=new_token,
            tokens=user_tokens,
            entity_name=user_entity_name(request.user),
        ),
    )
    if new_token:
        response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def revoke_token(request: HttpRequest, token_id: int) -> HttpResponse:
    try:
        token = token_flows.revoke_token(request.user, token_id)
    except LibraryError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Token '{token.name}' revoked: clients using it are refused from now on.")
    return redirect("django_sylabs_library:tokens")
