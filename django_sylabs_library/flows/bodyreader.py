"""Reading a large request body fast, without ever holding it in memory.

``request_body(request)`` gives a callable ``read(n)`` (what the upload flows take) that may also
know how to ``pump`` the body: under gunicorn, bytes are received straight from the client
socket with ``recv_into`` into a few reused buffers, while one thread hashes and another
writes the buffers already received (``hashlib`` and file writes release the GIL, so
receiving, hashing and writing overlap). ``wsgi.input`` instead hands out each piece through
two ``BytesIO`` copies in steps of at most 1 MiB; on the 2-core benchmark machine that was the
difference between 0.4x and about 0.8x of nginx's PUT (docs/benchmarks.md).

The fast path is taken only when it is safe: gunicorn's own body reader for a body of known
length (``LengthReader``), nothing read from it yet, and ``UPLOAD_READER`` set to ``"auto"``.
Bytes gunicorn already received past the headers are taken from its buffer first, and the
reader is told afterwards that the body has been consumed, so keep-alive goes on normally.
Anything else (other servers, chunked bodies, tests) uses ``wsgi.input``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from ..conf import library_settings

Consume = Callable[[memoryview], Any]


class RequestBody:
    """``read(n)`` over the request, plus ``pump`` when the socket can be read directly."""

    def __init__(self, request: Any) -> None:
        self._request = request
        self._socket_source = _gunicorn_source(request) if library_settings.UPLOAD_READER == "auto" else None

    def __call__(self, size: int) -> bytes:
        return self._request.read(size)

    @property
    def can_pump(self) -> bool:
        return self._socket_source is not None

    def pump(self, length: int, consume: Consume | list[Consume]) -> int:
        """Receive ``length`` bytes and hand them, in order, to each consumer (each called in a
        thread of its own with a view that is valid only during the call). Returns the bytes
        received; fewer than ``length`` means the client went away."""
        assert self._socket_source is not None
        return pump(self._socket_source, length, consume)


def request_body(request: Any) -> RequestBody:
    return RequestBody(request)


class _SocketSource:
    """gunicorn's socket, after the bytes gunicorn already holds for this body."""

    def __init__(self, sock: Any, pending: bytes, reader: Any) -> None:
        self.sock = sock
        self.pending = memoryview(pending)
        self.reader = reader

    def fill(self, view: memoryview) -> int:
        if self.pending:
            count = min(len(view), len(self.pending))
            view[:count] = self.pending[:count]
            self.pending = self.pending[count:]
            return count
        return self.sock.recv_into(view)

    def done(self, received: int, length: int) -> None:
        # gunicorn must not try to drain the bytes we took off the socket ourselves.
        self.reader.length = max(0, length - received)


def _gunicorn_source(request: Any) -> _SocketSource | None:
    environ = getattr(request, "META", None) or getattr(request, "environ", None) or {}
    sock = environ.get("gunicorn.socket")
    body = environ.get("wsgi.input")
    if sock is None or body is None or getattr(request, "_read_started", False):
        return None
    try:
        from gunicorn.http.body import Body, LengthReader
    except ImportError:
        return None
    if type(body) is not Body or type(body.reader) is not LengthReader:
        return None
    if body.buf.getbuffer().nbytes:
        return None
    try:
        content_length = int(environ.get("CONTENT_LENGTH") or -1)
    except ValueError:
        return None
    if body.reader.length != content_length:
        return None  # someone read part of the body already
    unreader = body.reader.unreader
    if hasattr(unreader, "take_buffered"):
        pending = unreader.take_buffered()
    else:  # older gunicorn: the same, by hand
        pending = unreader.buf.getvalue()
        unreader.buf = type(unreader.buf)()
    source = _SocketSource(sock, pending, body.reader)
    # Django's request.read() must not be used any more on this request.
    request._read_started = True
    return source


def pump(source: Any, length: int, consume: Consume | list[Consume], buffers: int = 4) -> int:
    """Fill buffers from ``source`` in this thread; each consumer (hashing, writing) takes every
    buffer in order in a thread of its own, and a buffer is refilled once all have seen it.

    With one consumer thread doing both hashing and writing, those two ran one after the other
    (the SHA-256 pass alone is the largest cost on CPUs without SHA extensions); with a thread
    each they overlap with each other and with receiving."""
    consumers = consume if isinstance(consume, list) else [consume]
    size = max(64 * 1024, int(library_settings.UPLOAD_CHUNK_SIZE))
    size = min(size, max(length, 1))
    free: queue.Queue[bytearray] = queue.Queue()
    for _ in range(buffers):
        free.put(bytearray(size))
    pending: dict[int, int] = {}
    lock = threading.Lock()
    failure: list[BaseException] = []

    def release(buffer: bytearray) -> None:
        with lock:
            pending[id(buffer)] -= 1
            last = pending[id(buffer)] == 0
        if last:
            free.put(buffer)

    def worker(fn: Consume, inbox: queue.Queue[Any]) -> None:
        while True:
            item = inbox.get()
            if item is None:
                return
            buffer, count = item
            try:
                if not failure:
                    with memoryview(buffer) as view:
                        fn(view[:count])
            except BaseException as exc:  # handed back to the receiving thread
                failure.append(exc)
            finally:
                release(buffer)

    inboxes: list[queue.Queue[Any]] = [queue.Queue() for _ in consumers]
    threads = [
        threading.Thread(target=worker, args=(fn, inbox), name=f"sylabs-upload-{i}", daemon=True)
        for i, (fn, inbox) in enumerate(zip(consumers, inboxes, strict=True))
    ]
    for thread in threads:
        thread.start()
    received = 0
    try:
        while received < length and not failure:
            buffer = free.get()
            want = min(size, length - received)
            filled = 0
            eof = False
            view = memoryview(buffer)
            try:
                while filled < want:
                    count = source.fill(view[filled:want])
                    if not count:
                        eof = True
                        break
                    filled += count
            except BaseException:
                free.put(buffer)
                raise
            finally:
                view.release()
            received += filled
            if filled:
                with lock:
                    pending[id(buffer)] = len(consumers)
                for inbox in inboxes:
                    inbox.put((buffer, filled))
            else:
                free.put(buffer)
            if eof:
                break
    finally:
        for inbox in inboxes:
            inbox.put(None)
        for thread in threads:
            thread.join()
        source.done(received, length)
    if failure:
        raise failure[0]
    return received
