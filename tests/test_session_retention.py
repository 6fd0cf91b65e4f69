"""sylabs_library_gc forgets finished upload sessions after UPLOAD_SESSION_RETENTION_DAYS."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from django_sylabs_library.flows.maintenance import collect_garbage
from django_sylabs_library.models import Image, UploadSession
from tests.conftest import make_sif, push

State = UploadSession.State


def _age(days: float) -> None:
    UploadSession.objects.update(updated_at=timezone.now() - timedelta(days=days))


def test_finished_sessions_are_forgotten_after_the_retention(alice_api, settings):
    push(alice_api, "alice/tools/samtools", make_sif(), upload="v2")
    assert UploadSession.objects.filter(state=State.COMPLETED).count() == 1
    _age(6)
    assert collect_garbage().finished_sessions == 0
    assert UploadSession.objects.count() == 1
    _age(8)
    dry = collect_garbage(dry_run=True)
    assert dry.finished_sessions == 1 and UploadSession.objects.count() == 1
    assert collect_garbage().finished_sessions == 1
    assert UploadSession.objects.count() == 0
    assert Image.objects.get().uploaded  # the image is untouched


def test_retention_none_keeps_them(alice_api, settings):
    settings.SYLABS_LIBRARY = {"UPLOAD_SESSION_RETENTION_DAYS": None}
    push(alice_api, "alice/tools/samtools", make_sif(), upload="v2")
    _age(365)
    assert collect_garbage().finished_sessions == 0
    assert UploadSession.objects.count() == 1

