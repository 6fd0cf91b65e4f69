"""Garbage collection (sylabs_library_gc), verification (sylabs_library_verify) and disk-full uploads.

The rule every GC test checks along the way: a blob an image references is never removed.
"""

from __future__ import annotations

import errno
import io
import os
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from django_sylabs_library.exceptions import BlobGone
from django_sylabs_library.flows import images as image_flows
from django_sylabs_library.flows import maintenance, tags, uploads
from django_sylabs_library.models import Blob, Container, Image, Tag, UploadSession
from django_sylabs_library.storage import blob_in_use, blob_name, image_storage

from .conftest import assert_error, blob_files, image_body, make_sif, seed, sha256_hex

State = UploadSession.State
OLD = timedelta(days=3)


def gc(*args: str) -> str:
    out = io.StringIO()
    call_command("sylabs_library_gc", "--no-progress", *args, stdout=out)
    return out.getvalue()


def verify(*args: str) -> str:
    out = io.StringIO()
    call_command("sylabs_library_verify", "--no-progress", *args, stdout=out)
    return out.getvalue()


def orphan_blob(data: bytes, age: timedelta = OLD) -> Blob:
    """A blob row with its file and no image (what a crash between store and attach leaves)."""
    sha = sha256_hex(data)
    name = image_storage().save(blob_name(sha), ContentFile(data))
    return Blob.objects.create(sha256=sha, size=len(data), storage_name=name, created_at=timezone.now() - age)


def orphan_file(location: Path, data: bytes, age: timedelta = OLD) -> Path:
    """A file under blobs/ with no row (a crash after the row's deletion, or a failed save)."""
    sha = sha256_hex(data)
    path = location / "blobs" / "sha256" / sha[:2] / sha
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    backdate(path, age)
    return path


def backdate(path: Path, age: timedelta) -> None:
    stamp = time.time() - age.total_seconds()
    os.utime(path, (stamp, stamp))


def new_record(user: Any, container: Container, data: bytes) -> Image:
    return image_flows.create_image(user, container.pk, "sha256." + sha256_hex(data))


# --- shared blobs are never removed ---------------------------------------------------------------------


def test_gc_never_removes_a_shared_blob(alice: Any, bob: Any, image_storage: Path) -> None:
    data = make_sif("amd64", 8192)
    first = seed(alice, "alice/tools/one", data)
    second = seed(alice, "alice/tools/two", data)  # deduplicated: the same blob, no second upload
    third = seed(bob, "bob/tools/three", data)
    assert first.blob_id == second.blob_id == third.blob_id
    Blob.objects.filter(pk=first.blob_id).update(created_at=timezone.now() - OLD)

    Image.objects.get(pk=first.pk).delete()
    gc("--grace", "0", "--untagged-older-than", "0")
    assert Blob.objects.filter(pk=second.blob_id).exists() and len(blob_files(image_storage)) == 1
    Image.objects.get(pk=second.pk).delete()
    gc("--grace", "0")
    assert Blob.objects.filter(pk=third.blob_id).exists() and len(blob_files(image_storage)) == 1
    assert "0 mismatched, 0 missing" in verify()

    Image.objects.get(pk=third.pk).delete()  # the last reference: now it goes
    assert "1 orphan blob(s)" in gc("--grace", "0")
    assert not Blob.objects.exists() and blob_files(image_storage) == []


def test_gc_keeps_a_blob_an_unfinished_upload_of_the_same_bytes_may_reuse(alice: Any) -> None:
    data = make_sif("amd64")
    blob = orphan_blob(data)
    container = seed(alice, "alice/tools/other", make_sif("amd64")).container
    record = new_record(alice, container, data)
    UploadSession.objects.create(
        image=record,
        kind=UploadSession.Kind.LEGACY,
        state=State.RECEIVING,
        expected_size=len(data),
        expected_sha256=sha256_hex(data),
        expires_at=timezone.now() + timedelta(hours=1),
    )
    assert "0 orphan blob(s)" in gc()  # the upload is live (default grace): the blob stays
    assert Blob.objects.filter(pk=blob.pk).exists()
    out = gc("--grace", "0")  # now the upload counts as abandoned, and the blob goes with it
    assert "1 session(s)" in out and "1 orphan blob(s)" in out
    assert not Blob.objects.filter(pk=blob.pk).exists()


def test_attaching_a_blob_removed_meanwhile_fails_cleanly(alice: Any) -> None:
    """The attach side of the race guard: the blob row is gone (GC won the lock) -> 409, nothing saved."""
    data = make_sif("amd64")
    blob = orphan_blob(data)
    container = seed(alice, "alice/tools/other", make_sif("amd64")).container
    record = new_record(alice, container, data)
    stale = Blob.objects.get(pk=blob.pk)
    Blob.objects.filter(pk=blob.pk).delete()
    with pytest.raises(BlobGone) as caught:
        image_flows.mark_uploaded(record, stale, {})
    assert caught.value.status == 409 and "retry" in caught.value.message
    record.refresh_from_db()
    assert record.uploaded is False and record.blob_id is None


# --- each kind of garbage ----------------------------------------------------------------------------------


def test_gc_removes_orphan_blob_rows_and_files(alice: Any, image_storage: Path) -> None:
    kept = seed(alice, "alice/tools/kept", make_sif("amd64"))
    Blob.objects.filter(pk=kept.blob_id).update(created_at=timezone.now() - OLD)
    row = orphan_blob(make_sif("amd64", 5000))
    stray = orphan_file(image_storage, b"x" * 3000)
    young = orphan_file(image_storage, b"y" * 10, age=timedelta(0))

    out = gc()  # default grace (1 h): the young file may be a blob whose row is being written
    assert "1 orphan blob(s), 1 orphan file(s)" in out and f"freed {row.size + 3000} bytes" in out
    assert not Blob.objects.filter(pk=row.pk).exists() and not stray.exists() and young.exists()
    assert Blob.objects.filter(pk=kept.blob_id).exists()
    assert Path(image_storage / kept.blob.storage_name).exists()
    assert "0 mismatched, 0 missing" in verify()


def test_gc_removes_abandoned_uploads_and_stray_temporary_files(alice_api: Any, alice: Any) -> None:
    container = seed(alice, "alice/tools/other", make_sif("amd64")).container
    data = make_sif("amd64")
    record = new_record(alice, container, data)
    started = alice_api.data("POST", f"v2/imagefile/{record.pk}/_multipart", {"filesize": len(data)})
    session = UploadSession.objects.get(upload_id=started["uploadID"])
    temp = uploads.upload_temp_dir() / session.temp_name
    temp.write_bytes(data[:100])  # a part that was cut off
    stray = uploads.upload_temp_dir() / "0123456789abcdef0123456789abcdef.upload"
    stray.write_bytes(b"left by a crash")
    backdate(stray, OLD)
    single = alice_api.data("POST", f"v2/imagefile/{record.pk}", {"filesize": len(data), "sha256sum": sha256_hex(data)})
    assert single["uploadURL"]

    out = gc()  # nothing is old enough but the stray file
    assert "0 session(s), 1 temporary file(s)" in out and temp.exists() and not stray.exists()
    assert UploadSession.objects.filter(state=State.OPEN).count() == 2

    # The multipart upload's URL expired more than the grace ago: abandoned; the single one is fresh.
    UploadSession.objects.filter(pk=session.pk).update(expires_at=timezone.now() - OLD)
    assert "1 session(s)" in gc() and not temp.exists()
    assert UploadSession.objects.get(pk=session.pk).state == State.ABORTED
    assert UploadSession.objects.filter(state=State.OPEN).count() == 1

    assert "1 session(s)" in gc("--grace", "0")  # idle: gone at once with --grace 0
    assert not UploadSession.objects.filter(state__in=maintenance.UNFINISHED).exists()
    assert list(uploads.upload_temp_dir().iterdir()) == []
    assert alice_api.put(single["uploadURL"], raw=data, token=None).status_code == 410


def test_gc_keeps_an_upload_whose_bytes_are_still_arriving(alice: Any) -> None:
    container = seed(alice, "alice/tools/other", make_sif("amd64")).container
    data = make_sif("amd64")
    session = UploadSession.objects.create(
        image=new_record(alice, container, data),
        kind=UploadSession.Kind.LEGACY,
        state=State.RECEIVING,
        expected_size=len(data),
        expected_sha256=sha256_hex(data),
        expires_at=timezone.now() + timedelta(hours=1),
        temp_name="feedfacefeedfacefeedfacefeedface.upload",
    )
    UploadSession.objects.filter(pk=session.pk).update(updated_at=timezone.now() - timedelta(hours=2))
    temp = uploads.upload_temp_dir() / session.temp_name
    temp.write_bytes(b"a slow client")  # written just now
    assert "0 session(s), 0 temporary file(s)" in gc() and temp.exists()
    backdate(temp, timedelta(hours=2))
    assert "1 session(s)" in gc() and not temp.exists()


def test_dry_run_removes_nothing(alice: Any, alice_api: Any, image_storage: Path) -> None:
    data = make_sif("amd64")
    image = seed(alice, "alice/tools/one", data, tags=("v1",))
    tags.set_tag(alice, image.container, "v1", seed(alice, "alice/tools/one", make_sif("amd64"), tags=()).pk, "amd64")
    Image.objects.filter(pk=image.pk).update(created_at=timezone.now() - OLD)
    blob = orphan_blob(make_sif("amd64", 5000))
    stray = orphan_file(image_storage, b"z" * 100)
    record = new_record(alice, image.container, make_sif("amd64"))
    alice_api.data("POST", f"v2/imagefile/{record.pk}/_multipart", {"filesize": 4096})
    files_before = sorted(p for p in image_storage.rglob("*") if p.is_file())

    out = gc("--dry-run", "--grace", "0", "--untagged-older-than", "1")
    assert out.count("would remove") >= 5
    assert "would remove: 1 session(s)" in out and "1 untagged image(s), 2 orphan blob(s), 1 orphan file(s)" in out
    assert sorted(p for p in image_storage.rglob("*") if p.is_file()) == files_before
    assert Image.objects.filter(pk=image.pk).exists() and Blob.objects.filter(pk=blob.pk).exists() and stray.exists()
    assert UploadSession.objects.filter(state=State.OPEN).count() == 1


def test_untagged_images_go_only_when_asked_and_old_enough(alice: Any, image_storage: Path) -> None:
    old = seed(alice, "alice/tools/one", make_sif("amd64"), tags=("latest",))
    new = seed(alice, "alice/tools/one", make_sif("amd64"), tags=())
    tags.set_tag(alice, old.container, "latest", new.pk, "amd64")  # the tag moves on: `old` is untagged now
    frozen = seed(alice, "alice/frozen/one", make_sif("amd64"), tags=("latest",))
    tags.set_tag(alice, frozen.container, "latest", seed(alice, "alice/frozen/one", make_sif("amd64"), tags=()).pk)
    Container.objects.filter(pk=frozen.container_id).update(read_only=True)
    Image.objects.update(created_at=timezone.now() - timedelta(days=10))
    old_blob = Blob.objects.get(pk=old.blob_id)

    gc("--grace", "0")
    assert Image.objects.filter(pk=old.pk).exists()  # opt-in only
    gc("--grace", "0", "--untagged-older-than", "30")
    assert Image.objects.filter(pk=old.pk).exists()  # too young
    out = gc("--grace", "0", "--untagged-older-than", "7")
    assert "1 untagged image(s)" in out and f"freed {old_blob.size} bytes" in out
    assert not Image.objects.filter(pk=old.pk).exists() and not Blob.objects.filter(pk=old_blob.pk).exists()
    assert not (image_storage / old_blob.storage_name).exists()
    assert Image.objects.filter(pk=frozen.pk).exists()  # read-only containers are left alone
    assert Tag.objects.get(container=old.container, name="latest").image_id == new.pk


def test_grace_must_not_be_negative(db: Any) -> None:
    with pytest.raises(CommandError):
        gc("--grace", "-1")


# --- verify --------------------------------------------------------------------------------------------------


def test_verify_finds_corrupted_and_missing_blobs(alice: Any, image_storage: Path) -> None:
    good = seed(alice, "alice/tools/good", make_sif("amd64", 9000))
    bad = seed(alice, "alice/tools/bad", make_sif("amd64", 9000))
    gone = seed(alice, "alice/tools/gone", make_sif("amd64", 9000))
    assert "checked 3 blob(s), 27000 bytes" in verify()

    bad_path = image_storage / bad.blob.storage_name
    corrupted = bytearray(bad_path.read_bytes())
    corrupted[5000] ^= 0xFF  # one flipped byte, same size
    bad_path.write_bytes(bytes(corrupted))
    (image_storage / gone.blob.storage_name).unlink()

    out = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("sylabs_library_verify", "--no-progress", stdout=out)
    assert caught.value.returncode == 1 and "2 problem(s)" in str(caught.value)
    text = out.getvalue()
    assert f"MISMATCH sha256.{bad.blob.sha256}" in text and f"MISSING sha256.{gone.blob.sha256}" in text
    assert good.blob.sha256 not in text.replace("checked", "")
    assert "checked 3 blob(s)" in text and "1 mismatched, 1 missing" in text

    assert "checked 1 blob(s)" in verify("--blob", f"sha256.{good.blob.sha256}")
    with pytest.raises(CommandError):
        verify("--blob", bad.blob.sha256)
    bad_path.write_bytes(bad_path.read_bytes()[:100])  # truncated
    report = maintenance.verify_blobs(sha256=bad.blob.sha256)
    assert report.problems == 1 and "100 bytes, expected 9000" in report.mismatched[0]
    with pytest.raises(CommandError):
        verify("--blob", "nothex")


# --- disk full ----------------------------------------------------------------------------------------------


class FullStorage(FileSystemStorage):
    """Writes part of the file, then fails like a full disk (as a copy across filesystems does)."""

    def _save(self, name: str, content: Any) -> str:
        path = Path(self.path(name))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _assert_disk_full_left_nothing(created: dict[str, Any], image_storage: Path) -> None:
    image = Image.objects.get(pk=int(created["id"]))
    assert image.uploaded is False and image.blob_id is None
    assert not Blob.objects.exists() and blob_files(image_storage) == []
    assert list(uploads.upload_temp_dir().glob("*.upload")) == []


@pytest.mark.parametrize("path", ["v1", "v2"])
def test_disk_full_in_the_blob_storage_is_507(
    path: str, alice: Any, alice_api: Any, settings: Any, image_storage: Path, tmp_path: Path
) -> None:
    storages = dict(settings.STORAGES)
    storages["sylabs_library"] = {"BACKEND": f"{__name__}.FullStorage", "OPTIONS": {"location": str(image_storage)}}
    settings.STORAGES = storages
    settings.SYLABS_LIBRARY = {"UPLOAD_TEMP_DIR": str(tmp_path / "temp")}
    data = make_sif("amd64")
    created = _record(alice_api, data)
    if path == "v1":
        response = alice_api.post(f"v1/imagefile/{created['id']}", raw=data)
    else:
        started = alice_api.data("POST", f"v2/imagefile/{created['id']}", {"filesize": len(data)})
        response = alice_api.put(started["uploadURL"], raw=data, token=None)
    assert_error(response, 507, "insufficient storage")
    _assert_disk_full_left_nothing(created, image_storage)


def test_disk_full_in_the_upload_folder_is_507(
    alice_api: Any, image_storage: Path, monkeypatch: Any, settings: Any
) -> None:
    """The temporary file fills the disk after the first chunk: 507, the partial file is deleted."""
    settings.SYLABS_LIBRARY = {"UPLOAD_CHUNK_SIZE": 1024}
    real_write = uploads._write_all

    def full(fd: int, view: Any, position: int | None = None) -> int:
        if os.fstat(fd).st_size >= 1024:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, view, position)

    monkeypatch.setattr(uploads, "_write_all", full)
    data = make_sif("amd64", 8192)
    created = _record(alice_api, data)
    assert_error(alice_api.post(f"v1/imagefile/{created['id']}", raw=data), 507, "insufficient storage")
    _assert_disk_full_left_nothing(created, image_storage)
    session = UploadSession.objects.get(image_id=int(created["id"]))
    assert session.state == State.FAILED


def _record(api: Any, data: bytes) -> dict[str, Any]:
    entity = api.data("GET", "v1/entities/alice") if api.get("v1/entities/alice").status_code == 200 else None
    if entity is None:
        entity = api.data("POST", "v1/entities", {"name": "alice"})
    collection = api.data("POST", "v1/collections", {"entity": entity["id"], "name": "disk", "private": False})
    container = api.data("POST", "v1/containers", {"collection": collection["id"], "name": "full"})
    return api.data("POST", "v1/images", image_body("sha256." + sha256_hex(data), container["id"]))


def test_disk_full_in_a_multipart_part_is_507_and_ends_the_upload(
    alice_api: Any, image_storage: Path, monkeypatch: Any
) -> None:
    def full(fd: int, view: Any, position: int | None = None) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    data = make_sif("amd64", 8192)
    created = _record(alice_api, data)
    started = alice_api.data("POST", f"v2/imagefile/{created['id']}/_multipart", {"filesize": len(data)})
    body = {"uploadID": started["uploadID"], "partNumber": 1, "partSize": len(data), "sha256sum": ""}
    url = alice_api.data("PUT", f"v2/imagefile/{created['id']}/_multipart", body, status=200)["presignedURL"]
    monkeypatch.setattr(uploads, "_write_all", full)
    assert_error(alice_api.put(url, raw=data, token=None), 507, "insufficient storage")
    _assert_disk_full_left_nothing(created, image_storage)
    assert UploadSession.objects.get(upload_id=started["uploadID"]).state == State.FAILED
    # The upload is over (its partial file is gone); the client starts a new one once there is space.
    assert_error(alice_api.put(f"v2/imagefile/{created['id']}/_multipart", body), 410)


# --- the race guard on PostgreSQL (row locks; SQLite has a single writer instead) --------------------------------


def _postgres_only() -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("row-lock race: PostgreSQL only (SQLite serialises writers, there is no race to lose)")


def _in_thread(work: Any) -> tuple[threading.Thread, threading.Event, threading.Event, list[BaseException]]:
    """Run ``work()`` in a transaction of its own in a thread; it holds its locks until ``release`` is set."""
    from django.db import connection, transaction

    locked, release, errors = threading.Event(), threading.Event(), []

    def run() -> None:
        try:
            with transaction.atomic():
                work()
                locked.set()
                release.wait(10)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            errors.append(exc)
            locked.set()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    assert locked.wait(10)
    return thread, locked, release, errors


@pytest.mark.django_db(transaction=True)
def test_gc_waits_for_a_push_attaching_the_blob_and_keeps_it(alice: Any, image_storage: Path) -> None:
    _postgres_only()
    data = make_sif("amd64")
    blob = orphan_blob(data)
    container = seed(alice, "alice/tools/other", make_sif("amd64")).container
    record = new_record(alice, container, data)
    # The push holds the blob row lock (mark_uploaded's transaction, not committed yet) ...
    thread, _, release, errors = _in_thread(lambda: image_flows.mark_uploaded(record, blob, {}))
    threading.Timer(0.5, release.set).start()
    # ... so GC, which listed the blob as an orphan, waits for the lock, then sees the reference.
    report = maintenance.collect_garbage(grace_seconds=0)
    thread.join()
    assert errors == [] and blob.sha256 not in report.orphan_blobs
    assert Image.objects.get(pk=record.pk).blob_id == blob.pk
    assert (image_storage / blob.storage_name).exists()


@pytest.mark.django_db(transaction=True)
def test_a_push_waits_for_gc_removing_the_blob_and_fails_cleanly(alice: Any) -> None:
    _postgres_only()
    data = make_sif("amd64")
    blob = orphan_blob(data)
    container = seed(alice, "alice/tools/other", make_sif("amd64")).container
    record = new_record(alice, container, data)

    def gc_removes() -> None:  # what _remove_orphan_blobs does under the lock
        locked = Blob.objects.select_for_update().get(pk=blob.pk)
        assert not blob_in_use(locked)
        locked.delete()

    thread, _, release, errors = _in_thread(gc_removes)
    threading.Timer(0.5, release.set).start()
    with pytest.raises(BlobGone):
        image_flows.mark_uploaded(record, blob, {})
    thread.join()
    assert errors == []
    record.refresh_from_db()
    assert record.uploaded is False and record.blob_id is None


# --- S3 (the fake store of tests/fake_s3.py) -----------------------------------------------------------------


def test_gc_and_verify_on_s3(monkeypatch: Any, alice_api: Any) -> None:
    from .fake_s3 import install_fake_s3
    from .test_storage_backends import _push_single

    fake = install_fake_s3(monkeypatch)
    kept = _push_single(alice_api, fake, make_sif("amd64", 32 * 1024), "kept")
    broken = _push_single(alice_api, fake, make_sif("amd64", 32 * 1024), "broken")
    gone = _push_single(alice_api, fake, make_sif("amd64", 32 * 1024), "gone")
    key = {name: f"blobs/sha256/{image['hash'][7:9]}/{image['hash'][7:]}" for name, image in
           (("kept", kept), ("broken", broken), ("gone", gone))}  # fmt: skip
    assert "checked 3 blob(s), 98304 bytes" in verify() and "0 mismatched, 0 missing" in verify()

    fake.objects[key["broken"]] = fake.objects[key["broken"]][:-1] + b"\0"
    del fake.objects[key["gone"]]
    report = maintenance.verify_blobs()
    assert report.checked == 3 and len(report.mismatched) == 1 and key["broken"] in report.mismatched[0]
    assert len(report.missing) == 1 and key["gone"] in report.missing[0]

    old = timezone.now() - OLD
    fake.objects["blobs/sha256/ab/" + "ab" * 32] = b"an object without a row"
    fake.modified["blobs/sha256/ab/" + "ab" * 32] = old
    fake.objects["uploads/left-by-a-crash"] = b"partial"
    fake.modified["uploads/left-by-a-crash"] = old
    out = gc("--grace", "0")
    assert "1 temporary object(s)" in out and "1 orphan file(s)" in out
    assert set(fake.objects) == {key["kept"], key["broken"]}  # referenced blobs stay, even a corrupted one


def test_gc_keeps_a_single_part_put_still_arriving(alice_api: Any, alice: Any) -> None:
    """A v2 single-part PUT being received has no temp_name: its file is ``<upload id>.upload``."""
    container = seed(alice, "alice/tools/other", make_sif("amd64")).container
    data = make_sif("amd64")
    record = new_record(alice, container, data)
    alice_api.data("POST", f"v2/imagefile/{record.pk}", {"filesize": len(data)})
    session = UploadSession.objects.get(image=record)
    UploadSession.objects.filter(pk=session.pk).update(
        state=State.RECEIVING, updated_at=timezone.now() - timedelta(hours=2)
    )
    temp = uploads.upload_temp_dir() / f"{session.upload_id}.upload"
    temp.write_bytes(data[:100])  # written just now
    assert "0 session(s), 0 temporary file(s)" in gc() and temp.exists()
    backdate(temp, timedelta(hours=2))
    out = gc()
    assert "1 session(s)" in out and "freed 100 bytes" in out and not temp.exists()


def test_progress_is_reported_in_bytes_for_verify_and_items_for_gc(alice: Any) -> None:
    images = [seed(alice, f"alice/tools/p{i}", make_sif("amd64", 6000 + i)) for i in range(3)]
    bars: list[dict[str, Any]] = []

    class Bar:
        def __init__(self, **options: Any) -> None:
            self.record = {**options, "done": 0, "closed": False}
            bars.append(self.record)

        def update(self, n: int = 1) -> None:
            self.record["done"] += n

        def close(self) -> None:
            self.record["closed"] = True

    report = maintenance.verify_blobs(progress=Bar)
    total = sum(image.size for image in images)
    assert report.bytes == total and bars[0]["total"] == total and bars[0]["done"] == total
    maintenance.collect_garbage(grace_seconds=0, progress=Bar)
    files = next(bar for bar in bars if bar["desc"] == "blob files")
    assert files["done"] == 3 and all(bar["closed"] for bar in bars)
