from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("auth/tokens", views.tokens, name="tokens"),
    path("auth/tokens/<int:token_id>/revoke", views.revoke_token, name="token-revoke"),
]
