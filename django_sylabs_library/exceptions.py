"""Domain errors raised by the flows. They carry the HTTP status the API answers with, but
know nothing of requests: the API's exception handler turns them into the client's error
envelope, the web views into messages or 404 pages."""

from __future__ import annotations


class LibraryError(Exception):
    """Base class: ``status`` is the HTTP status, ``message`` is shown to the user."""

    status = 400
    default_message = "Bad request"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class InvalidInput(LibraryError):
    status = 400
    default_message = "Invalid request"


class NotAuthenticated(LibraryError):
    status = 401
    default_message = "Authentication required: log in with `apptainer remote login`"


class Forbidden(LibraryError):
    """The caller can see the object but may not change it."""

    status = 403
    default_message = "Permission denied"


class NotFound(LibraryError):
    """Missing, or invisible to the caller (private objects answer exactly like missing ones)."""

    status = 404
    default_message = "Not found"


class Conflict(LibraryError):
    status = 409
    default_message = "Already exists"


class Gone(LibraryError):
    status = 410
    default_message = "This upload URL has expired or was already used"


class PayloadTooLarge(LibraryError):
    status = 413
    default_message = "Image too large"


class InsufficientStorage(LibraryError):
    status = 507
    default_message = "Not enough storage space for this image"


class DiskFull(InsufficientStorage):
    """Writing an upload hit ENOSPC/EDQUOT on the image storage or the upload folder."""

    default_message = "insufficient storage: the library's disk is full; try again later or ask its administrators"


class BlobGone(Conflict):
    """The stored bytes a push was about to reuse were removed at the same moment (garbage collection
    or the deletion of the last image using them); nothing was changed and a retry uploads them again."""

    default_message = "the stored copy of this image was removed at the same time; retry the push"


class ContainerReadOnly(Forbidden):
    default_message = "Permission denied: the container is read-only (frozen)"


class TagFrozen(Forbidden):
    default_message = "Permission denied: the tag is frozen"


class StorageUnavailable(LibraryError):
    """The image store did not answer (S3 endpoint down, credentials refused...)."""

    status = 503
    default_message = "The image store is not reachable; try again later"
