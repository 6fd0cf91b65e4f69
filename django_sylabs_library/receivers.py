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
