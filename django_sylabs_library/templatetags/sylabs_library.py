"""Template tags for host templates: ``{% load sylabs_library %}``.

* ``{% library_entity_url user %}``: the URL of the user's own entity page (created on first
  use, like the token page does), for the site's navigation.
* ``{% library_user_content user %}``: what the user owns in the library, and what deleting
  them would do (used by the admin's user delete confirmation).
"""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse

register = template.Library()


@register.simple_tag
def library_entity_url(user: Any) -> str:
    if user is None or not getattr(user, "is_authenticated", False):
        return ""
    from ..flows.namespaces import user_entity_name

    try:
        return reverse("django_sylabs_library:entity-detail", kwargs={"entity": user_entity_name(user)})
    except NoReverseMatch:
        return ""


@register.inclusion_tag("admin/django_sylabs_library/user_content.html")
def library_user_content(users: Any) -> dict[str, Any]:
    """``users``: one user or an iterable of users."""
    from ..flows.users import content_summary

    if hasattr(users, "pk"):
        users = [users]
    return {"summaries": [content_summary(u) for u in users]}
