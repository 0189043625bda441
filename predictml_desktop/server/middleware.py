"""ASGI middleware of the prediction service: Host check, API key, body size limit, request log.

Pure ASGI (not Starlette's ``BaseHTTPMiddleware``), so a refusal is sent before the body is read
and nothing buffers a large upload.

- Host: a browser page on any web site can make requests to 127.0.0.1 through DNS rebinding; such
  requests carry the attacker's host name, so only loopback names (or names the user allowed) pass.
  Binding to 127.0.0.1 alone is not a defence (CVE-2025-66414).
- API key: ``X-API-Key: <key>`` or ``Authorization: Bearer <key>``, compared in constant time;
  ``/health`` stays open so a supervisor can watch the service.
- Body size: uvicorn has no limit of its own (a 54 MB body was accepted); a ``Content-Length``
  over the limit is refused at once, and a chunked body is counted as it streams.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
request_log = logging.getLogger("predictml_desktop.server.requests")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
OPEN_PATHS = frozenset({"/health"})


def error_body(status: int, code: str, message: str, details: Any = None) -> bytes:
    """Return the JSON bytes of an error answer (the seed's ``success``/``error`` plus code and details)."""
    return json.dumps({
        "success": False, "error": message, "error_code": code, "message": message, "details": details,
    }, ensure_ascii=False).encode("utf-8")


async def send_error(send: Send, status: int, code: str, message: str, details: Any = None,
                     headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    """Send a complete JSON error response."""
    body = error_body(status, code, message, details)
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    *headers],
    })
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or []:
        if key.lower() == name:
            try:
                return str(value.decode("latin-1"))
            except (AttributeError, UnicodeDecodeError):
                return None
    return None


def host_name(host_header: str) -> str:
    """Return the host part of a ``Host`` header value (``[::1]:8000`` → ``::1``), lower case."""
    value = host_header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[1:end] if end > 0 else value
    if value.count(":") == 1:
        return value.rsplit(":", 1)[0]
    return value


class HostCheckMiddleware:
    """Refuse requests whose ``Host`` is not a loopback name or one of ``allowed``."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str] = ()) -> None:
        self.app = app
        self.allowed = {host_name(h) for h in (*LOOPBACK_HOSTS, *allowed)}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = _header(scope, b"host")
        if host is None or host_name(host) not in self.allowed:
            shown = (host or "")[:100]
            await send_error(send, 400, "HOST_NOT_ALLOWED",
                             f"The Host header {shown!r} is not allowed; call the service as 127.0.0.1 or localhost.",
                             {"field": "Host"})
            return
        await self.app(scope, receive, send)


class ApiKey:
    """The key the service requires: a fixed value or a file re-read when it changes (regenerated keys)."""

    def __init__(self, value: str | None = None, file: Path | None = None) -> None:
        self._value = value
        self._file = file
        self._file_state: tuple[int, int] | None = None
        self._digest = hashlib.sha256(value.encode("utf-8")).digest() if value else None

    @property
    def required(self) -> bool:
        """True when requests must carry the key."""
        return bool(self._value or self._file)

    def _current(self) -> bytes | None:
        if self._file is None:
            return self._digest
        try:
            st = self._file.stat()
        except OSError:
            # A required key that cannot be read must not open the service: nothing matches.
            return None
        state = (st.st_mtime_ns, st.st_size)
        if state != self._file_state:
            try:
                key = self._file.read_text("utf-8").strip()
            except OSError:
                return None
            self._digest = hashlib.sha256(key.encode("utf-8")).digest() if key else None
            self._file_state = state
        return self._digest

    def matches(self, candidate: str | None) -> bool:
        """Return True if ``candidate`` is the key (constant-time on equal-length digests)."""
        expected = self._current()
        if expected is None or not candidate:
            return False
        given = hashlib.sha256(candidate.encode("utf-8", "surrogateescape")).digest()
        return hmac.compare_digest(expected, given)


class ApiKeyMiddleware:
    """Require the API key on every path except ``/health``."""

    def __init__(self, app: ASGIApp, key: ApiKey) -> None:
        self.app = app
        self.key = key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope."""
        if scope["type"] != "http" or not self.key.required or scope.get("path") in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        candidate = _header(scope, b"x-api-key")
        if candidate is None:
            auth = _header(scope, b"authorization") or ""
            if auth[:7].lower() == "bearer ":
                candidate = auth[7:].strip()
        if not self.key.matches(candidate):
            await send_error(send, 401, "UNAUTHORIZED",
                             "This service requires an API key: send it as X-API-Key or Authorization: Bearer.",
                             {"field": "X-API-Key"}, headers=[(b"www-authenticate", b'Bearer realm="predictml"')])
            return
        await self.app(scope, receive, send)


class BodyTooLargeError(Exception):
    """The streamed body went over the limit."""


class BodyLimitMiddleware:
    """Refuse bodies over ``max_bytes``: by ``Content-Length`` at once, else while counting the stream."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                size = -1
            if size < 0:
                await send_error(send, 400, "BAD_CONTENT_LENGTH", "The Content-Length header is not a size.")
                return
            if size > limit:
                await self._too_large(send, size)
                return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLargeError:
            if not started:
                await self._too_large(send, None)

    async def _too_large(self, send: Send, size: int | None) -> None:
        shown = f"{size:,} bytes" if size is not None else "more than the limit"
        await send_error(send, 413, "BODY_TOO_LARGE",
                         f"The request body is {shown}; at most {self.max_bytes:,} bytes are accepted.",
                         {"limit": self.max_bytes}, headers=[(b"connection", b"close")])


class RequestLogMiddleware:
    """Log one line per request (method, path, status, milliseconds) for the Server view's request log."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            if request_log.isEnabledFor(logging.INFO):
                client = scope.get("client") or ("-", 0)
                request_log.info("%s %s %s %d %.1f", client[0], scope.get("method"), scope.get("path"), status,
                                 (time.perf_counter() - started) * 1000)
