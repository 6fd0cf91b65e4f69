"""Library API routes: no trailing slashes (the client never sends one, and APPEND_SLASH
redirects would break its POSTs), mountable under any prefix (spec 1.1 and 10)."""

from __future__ import annotations

from django.urls import path, re_path

from . import views

urlpatterns = [
    # `//v1/...` (a leading empty segment); written as a class so Django's urls.W002 check, meant
    # for accidental leading slashes, does not fire for this deliberate one.
    re_path(r"^[/]+(?P<rest>(?s:.*))$", views.collapse_slashes_view, name="collapse-slashes"),
    path("assets/config/config.prod.json", views.DiscoveryView.as_view(), name="discovery"),
    path("version", views.VersionView.as_view(), name="version"),
    path("v1/token-status", views.TokenStatusView.as_view(), name="token-status"),
    path("v1/rbac/users/current", views.CurrentUserView.as_view(), name="current-user"),
    path("v1/oci-redirect", views.OciRedirectView.as_view(), name="oci-redirect"),
    path("v1/entities", views.EntityListView.as_view(), name="entity-list"),
    path("v1/entities/<str:name>", views.EntityDetailView.as_view(), name="entity-detail"),
    path("v1/collections", views.CollectionListView.as_view(), name="collection-list"),
    path(
        "v1/collections/<str:entity>/<str:collection>",
        views.CollectionDetailView.as_view(),
        name="collection-detail",
    ),
    path("v1/containers", views.ContainerListView.as_view(), name="container-list"),
    path(
        "v1/containers/<str:entity>/<str:collection>/<str:container>",
        views.ContainerDetailView.as_view(),
        name="container-detail",
    ),
    path("v1/images", views.ImageListView.as_view(), name="image-list"),
    path("v1/images/<path:ref>", views.ImageDetailView.as_view(), name="image-detail"),
    path("v1/tags/<str:container_id>", views.TagsView.as_view(), name="tags-v1"),
    path("v2/tags/<str:container_id>", views.ArchTagsView.as_view(), name="tags-v2"),
    path("v1/search", views.SearchView.as_view(), name="search"),
    path("v1/imagefile/<path:ref>", views.ImageFileView.as_view(), name="imagefile"),
    path("v2/imagefile/_upload/<str:secret>", views.UploadTargetView.as_view(), name="upload-target"),
    path("v2/imagefile/_part/<str:secret>", views.PartTargetView.as_view(), name="part-target"),
    path("v2/imagefile/_download/<str:token>", views.DownloadTargetView.as_view(), name="download-target"),
    path("v2/imagefile/<str:image_id>", views.ImageFileV2View.as_view(), name="imagefile-v2"),
    path(
        "v2/imagefile/<str:image_id>/_complete",
        views.ImageFileCompleteView.as_view(),
        name="imagefile-complete",
    ),
    path("v2/imagefile/<str:image_id>/_multipart", views.MultipartView.as_view(), name="multipart"),
    path(
        "v2/imagefile/<str:image_id>/_multipart_complete",
        views.MultipartCompleteView.as_view(),
        name="multipart-complete",
    ),
    path(
        "v2/imagefile/<str:image_id>/_multipart_abort",
        views.MultipartAbortView.as_view(),
        name="multipart-abort",
    ),
    # (?s): a %0A in the path must not fall through to the host site's HTML 404.
    re_path(r"^v[12]/(?P<rest>(?s:.*))$", views.UnknownEndpointView.as_view(), name="unknown-endpoint"),
]
