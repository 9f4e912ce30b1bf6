"""Every call and reply of an authenticated connection carries a MAC under the session key.

The handshake (``services.wire.auth``) proves the token both ways and gives both sides a
key derived from the token, the client's nonce, the service's fresh nonce and the
service's name. After it, each request carries HMAC(key, "q" | n | call) and each reply
HMAC(key, "r" | n | result), in the message's Pyro5 annotations (the public door for
per-message metadata), where n counts the connection's calls. So a process that relays a
client's handshake to the real service (an impostor registered under the name, a
man-in-the-middle on the port) can neither send calls of its own on that connection, nor
alter, replay, reorder or forge any request or reply: it does not have the key. A
handshake replayed to the sibling service, or to the same service after a restart, names
the wrong service or yields a session whose key the replayer cannot compute.

The MAC covers the call as msgpack encodes it (the wire's own codec, with Pyro5's own
conversions for sets and the like): the bytes are the same whether computed from what the
client sent or from what the service decoded, since msgpack encodes a tuple as a list.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
from collections.abc import Callable
from typing import Any

import msgpack
import Pyro5.errors
from Pyro5.api import Proxy
from Pyro5.callcontext import current_context
from Pyro5.serializers import serializers

from services.domain.errors import AuthenticationError
from services.wire.auth import check_server_answer
from services.wire.names import WIRE_SERIALIZER

log = logging.getLogger(__name__)

MAC_ANNOTATION = "CMAC"  # Pyro5 annotation keys are four characters
_SESSION_ATTRIBUTE = "cpm_session"
_encode_default = serializers[WIRE_SERIALIZER].default


def _encode(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True, default=_encode_default)


def call_payload(method: str, args: Any, kwargs: Any) -> bytes:
    """The bytes a request's MAC covers."""
    return _encode([method, list(args), dict(kwargs or {})])


def result_payload(result: Any) -> bytes:
    """The bytes a normal reply's MAC covers."""
    return _encode(["ok", result])


def error_payload(exc: BaseException) -> bytes:
    """The bytes an error reply's MAC covers: the error's class name and message."""
    return _encode(["error", type(exc).__name__, str(exc)])


_BLOCK = hashlib.sha256().block_size


def _padded_states(key: bytes) -> tuple[Any, Any]:
    """SHA-256 with HMAC's inner and outer key blocks already absorbed (RFC 2104)."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    block = key.ljust(_BLOCK, b"\0")
    return (
        hashlib.sha256(bytes(byte ^ 0x36 for byte in block)),
        hashlib.sha256(bytes(byte ^ 0x5C for byte in block)),
    )


class Session:
    """One authenticated connection's key and call counter (one side of it)."""

    def __init__(self, key: bytes) -> None:
        # HMAC-SHA256, computed from the two padded states: the same bytes as
        # ``hmac.new(key, message, "sha256")`` at half the cost of copying an HMAC object,
        # and a MAC is computed twice on each side of every call.
        self._inner, self._outer = _padded_states(key)
        self._n = 0

    def _mac(self, kind: bytes, payload: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(kind + self._n.to_bytes(8, "big"))
        inner.update(payload)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return bytes(outer.digest())

    def _matches(self, annotations: Any, kind: bytes, payload: bytes) -> bool:
        raw = annotations.get(MAC_ANNOTATION) if isinstance(annotations, dict) else None
        return raw is not None and hmac.compare_digest(bytes(raw), self._mac(kind, payload))

    # -- the client's side: seal request n, check reply n, go on to n + 1 -------------------

    def seal_request(self, payload: bytes) -> bytes:
        """The annotation value for the next request."""
        return self._mac(b"q", payload)

    def check_reply(self, annotations: Any, payload: bytes, what: str) -> None:
        """Raise AuthenticationError unless the reply to the last request is authentic."""
        if not self._matches(annotations, b"r", payload):
            raise AuthenticationError(
                f"the reply to {what} was not authenticated under this connection's session "
                "key (forged or altered on the way); refusing it and closing the connection"
            )
        self._n += 1

    # -- the service's side: check request n, seal reply n, go on to n + 1 ------------------

    def check_request(self, annotations: Any, payload: bytes, what: str) -> None:
        """Raise AuthenticationError unless the request is the next authentic one."""
        if not self._matches(annotations, b"q", payload):
            raise AuthenticationError(
                f"{what} refused: the call was not authenticated under this connection's "
                "session key (sent by another process, altered, replayed or out of order)"
            )

    def seal_reply(self, payload: bytes) -> bytes:
        """The annotation value for the reply to the request just checked."""
        mac = self._mac(b"r", payload)
        self._n += 1
        return mac


# -- the service's side ---------------------------------------------------------------------

_calls = threading.local()


def open_session(conn: Any, key: bytes) -> None:
    """Calls on ``conn`` (a Pyro5 connection) must be authenticated under ``key`` from now."""
    setattr(conn, _SESSION_ATTRIBUTE, Session(key))


def reply_annotations() -> dict[str, bytes]:
    """The annotations of the reply being sent from this thread (the daemon's hook)."""
    mac = getattr(_calls, "reply_mac", None)
    _calls.reply_mac = None
    return {} if mac is None else {MAC_ANNOTATION: mac}


def guarded(
    name: str, run: Callable[[], Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """``run()`` (exposed method ``name`` on ``args`` and ``kwargs``, without ``self``) for
    the current request, authenticated when its connection is: the request is checked
    first, and the reply, or the error ``run`` raises, sealed. A method called from
    inside another one (a direct-mode peer in the same thread) is not a request of its
    own and is neither checked nor sealed.
    """
    depth = getattr(_calls, "depth", 0)
    conn = current_context.client if depth == 0 else None
    session: Session | None = getattr(conn, _SESSION_ATTRIBUTE, None)
    if session is not None:
        try:
            payload = call_payload(name, args, kwargs)
            session.check_request(current_context.annotations, payload, name)
        except AuthenticationError as exc:
            log.warning("refused a call from %s: %s", current_context.client_sock_addr, exc)
            raise PermissionError(str(exc)) from None
    _calls.depth = depth + 1
    try:
        result = run()
    except BaseException as exc:
        if session is not None:
            _calls.reply_mac = session.seal_reply(error_payload(exc))
        raise
    finally:
        _calls.depth = depth
    if session is not None:
        _calls.reply_mac = session.seal_reply(result_payload(result))
    return result


# -- the client's side ----------------------------------------------------------------------


class AuthenticatingProxy(Proxy):
    """A Proxy whose handshake proves the token; it refuses a service that cannot prove it
    back, and keeps the session key the handshake gave (see ``session_of``)."""

    _cpm_token = ""

    def _pyroValidateHandshake(self, response: Any) -> None:
        key = check_server_answer(self._cpm_token, self._pyroHandshake, response)
        # Proxy.__setattr__ would send the attribute to the service; this stays local.
        object.__setattr__(self, "_cpm_session", Session(key))


def authenticating_proxy_class(token: str) -> type[AuthenticatingProxy]:
    """An AuthenticatingProxy class for ``token``."""
    return type("AuthenticatingProxy", (AuthenticatingProxy,), {"_cpm_token": token})


def session_of(proxy: Proxy) -> Session | None:
    """The session of a bound AuthenticatingProxy; None for a plain Proxy."""
    return proxy.__dict__.get("_cpm_session")


def call(proxy: Proxy, method: str, args: tuple[Any, ...]) -> Any:
    """``proxy.method(*args)``, its request sealed and its reply checked when the proxy
    has a session. A reply that is not authentic is an AuthenticationError."""
    bound = getattr(proxy, method)
    session = session_of(proxy)
    if session is None:
        return bound(*args)
    mac = session.seal_request(call_payload(method, args, {}))
    current_context.annotations = {MAC_ANNOTATION: mac}
    try:
        result = bound(*args)
    except Exception as exc:
        if not _is_communication_error(exc):
            session.check_reply(current_context.response_annotations, error_payload(exc), method)
        raise
    finally:
        current_context.annotations = {}
    session.check_reply(current_context.response_annotations, result_payload(result), method)
    return result


def _is_communication_error(exc: Exception) -> bool:
    return isinstance(exc, Pyro5.errors.CommunicationError)
