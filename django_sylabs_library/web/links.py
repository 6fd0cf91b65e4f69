"""URLs of the web pages, for code outside the web views (upload summaries, admin links)."""

from __future__ import annotations

from typing import Any

from django.urls import NoReverseMatch, reverse


def entity_path(entity: Any) -> str:
    return reverse("django_sylabs_library:entity-detail", kwargs={"entity": entity.name})


def collection_path(collection: Any) -> str:
    return reverse(
        "django_sylabs_library:collection-detail",
        kwargs={"entity": collection.entity.name, "collection": collection.name},
    )


def container_path(container: Any) -> str:
    collection = container.collection
    return reverse(
        "django_sylabs_library:container-detail",
        kwargs={"entity": collection.entity.name, "collection": collection.name, "container": container.name},
    )


def container_url_for_client(container: Any) -> str:
    """``containerUrl`` of an upload summary: the container page relative to the site root
    (Apptainer prints ``<remote web URL>/<containerUrl>``); empty when the web pages are not
    mounted."""
    try:
        return container_path(container).lstrip("/")
    except NoReverseMatch:
        return ""
