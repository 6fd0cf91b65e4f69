"""Signal receivers: remove a blob's bytes once the last image using it is deleted (also when
images go away through a cascade, e.g. a collection deleted from the admin)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from .models import Image


@receiver(post_delete, sender=Image, dispatch_uid="django_sylabs_library.image_blob_cleanup")
def _image_deleted(sender: type, instance: Image, **kwargs: Any) -> None:
    blob_id = instance.blob_id
    if blob_id:
        from .storage import delete_blob_if_unreferenced

        transaction.on_commit(lambda: delete_blob_if_unreferenced(blob_id))


def _connect_audit_receivers() -> None:
    """Team membership changes reach the audit log by whatever path they are made."""
    from django.contrib.auth import get_user_model
    from django.db.models.signals import m2m_changed

    from .flows.audit import membership_changed

    groups = getattr(get_user_model(), "groups", None)  # a custom user model may have no groups
    if groups is None:
        return
    m2m_changed.connect(
        membership_changed,
        sender=groups.through,
        dispatch_uid="django_sylabs_library.audit_team_membership",
    )


_connect_audit_receivers()
