"""Web pages. Paths that cannot collide with the API (which owns ``/v1``, ``/v2``, ``/version``,
``/assets``, ``/api``, ``/pks``, ``/auth/...`` and ``/<entity>/api/container/...``): entity pages
under ``/e/``, owner actions after a ``-`` segment (never a valid name), search at ``/search/``."""

from __future__ import annotations

from django.urls import include, path

from . import views

container_patterns = [
    path("", views.ContainerView.as_view(), name="container-detail"),
    path("-/tags/freeze", views.TagFreezeView.as_view(), name="tag-freeze"),
    path("-/read-only", views.ReadOnlyView.as_view(), name="container-read-only"),
    path("-/images/<int:image_id>/delete/", views.ImageDeleteView.as_view(), name="image-delete"),
]

collection_patterns = [
    path("", views.CollectionView.as_view(), name="collection-detail"),
    path("-/settings/", views.CollectionSettingsView.as_view(), name="collection-settings"),
    path("-/privacy", views.CollectionPrivacyView.as_view(), name="collection-privacy"),
    path("-/collaborators/add", views.CollaboratorAddView.as_view(), name="collaborator-add"),
    path("-/collaborators/remove", views.CollaboratorRemoveView.as_view(), name="collaborator-remove"),
    path("-/delete/", views.CollectionDeleteView.as_view(), name="collection-delete"),
    path("<str:container>/", include(container_patterns)),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("search/", views.SearchView.as_view(), name="web-search"),
    path("me/", views.my_entity, name="my-entity"),
    path("e/<str:entity>/", views.EntityView.as_view(), name="entity-detail"),
    path("e/<str:entity>/<str:collection>/", include(collection_patterns)),
    path("auth/tokens", views.tokens, name="tokens"),
    path("auth/tokens/<int:token_id>/revoke", views.revoke_token, name="token-revoke"),
]
