"""A Pyro5 daemon with a short path for the plain calls that make up almost all traffic.

Pyro5's ``Daemon.handleRequest`` reads a message in three ``recv`` calls, decodes serpent
with ``ast.literal_eval``, makes a UUID, asks the kernel for the peer's address and checks
for batches, streams, oneway calls and attribute access on every request. For a plain
call (``MSG_INVOKE``, serpent, no annotations, no flags but a correlation id, a method of
a registered object) ``LeanRequestsMixin`` reads the message in two ``recv`` calls,
decodes it with ``serpent_codec`` and answers with the same bytes Pyro5 would send.
Everything else (pings, batches, oneway calls, attributes, annotations, other
serializers, malformed messages) is handed to Pyro5's own ``handleRequest`` unchanged, by
replaying the bytes already read; TLS connections go there from the start. Handshakes are
never touched.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from typing import Any

from Pyro5 import config, errors, protocol, serializers
from Pyro5.api import Daemon
from Pyro5.callcontext import current_context
from Pyro5.server import _get_attribute

from services.wire import pyro_frames, serpent_codec

_SERPENT = serializers.serializers["serpent"]
_PLAIN_FLAGS = protocol.FLAGS_CORR_ID
_PYRO_SPECIAL = frozenset({"__getattr__", "__setattr__"})
# Results that are never iterators; isinstance(x, Iterator) is an ABC check, not cheap.
_PLAIN_RESULTS = frozenset({bool, int, float, str, bytes, type(None), dict, list, tuple, set})


class _Replay:
    """A connection whose first bytes were already read: ``recv`` returns them first."""

    def __init__(self, conn: Any, data: bytes) -> None:
        self._conn = conn
        self._data = data

    def recv(self, size: int) -> bytes:
        head, self._data = self._data[:size], self._data[size:]
        if len(head) < size:
            head += self._conn.recv(size - len(head))
        return head

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class LeanRequestsMixin:
    """Mix into a Pyro5 ``Daemon`` subclass, before it: the short path for plain calls."""

    def handleRequest(self, conn: Any) -> None:
        """Serve one request from ``conn``; see the module docstring."""
        if hasattr(conn.sock, "getpeercert"):
            # TLS sockets take no recv flags (MSG_WAITALL); Pyro5's own path reads them.
            super().handleRequest(conn)  # type: ignore[misc]
            return
        header = pyro_frames.recv_exact(conn.sock, pyro_frames.HEADER_SIZE)
        # Validates, and refuses an oversized message before reading it, as Pyro5 does.
        msgtype, ser, flags, seq, dsize, asize, corr = pyro_frames.parse_header(header)
        payload = pyro_frames.recv_exact(conn.sock, dsize + asize)
        call = None
        if (
            msgtype == protocol.MSG_INVOKE
            and ser == _SERPENT.serializer_id
            and not flags & ~_PLAIN_FLAGS
            and not asize
        ):
            call = self._plain_call(payload)
        if call is None:
            super().handleRequest(_Replay(conn, header + payload))  # type: ignore[misc]
            return
        self._serve(conn, seq, flags, corr, *call)

    def _plain_call(self, payload: bytes) -> tuple[Any, str, Any, Any] | None:
        try:
            call, plain = serpent_codec.loads_plain(payload)
        except Exception:
            return None  # Pyro5's own path reports the error as it always does
        if type(call) is not tuple or len(call) != 4:
            return None
        object_id, method_name, vargs, kwargs = call
        if method_name in _PYRO_SPECIAL or type(vargs) is not tuple or type(kwargs) is not dict:
            return None
        obj = self.objectsById.get(object_id)  # type: ignore[attr-defined]
        if obj is None or isinstance(obj, type):
            return None
        if not plain:
            vargs, kwargs = _SERPENT.recreate_classes(vargs), _SERPENT.recreate_classes(kwargs)
        return obj, method_name, vargs, kwargs

    def _serve(
        self,
        conn: Any,
        seq: int,
        flags: int,
        corr: bytes,
        obj: Any,
        method_name: str,
        vargs: Any,
        kwargs: Any,
    ) -> None:
        # Pyro5 takes a fresh uuid4 per request, from os.urandom (a system call); an id
        # that only has to be unique is as good from the random module.
        correlation = (
            uuid.UUID(bytes=corr)
            if flags & protocol.FLAGS_CORR_ID
            else uuid.UUID(int=random.getrandbits(128), version=4)
        )
        ctx = current_context
        ctx.correlation_id = correlation
        ctx.client = conn
        ctx.client_sock_addr = self._peer(conn)
        ctx.seq = seq
        ctx.annotations = {}
        ctx.msg_flags = flags
        ctx.serializer_id = _SERPENT.serializer_id
        is_callback = False
        try:
            method = self._exposed_method(obj, method_name)
            is_callback = getattr(method, "_pyroCallback", False)
            try:
                data = method(*vargs, **kwargs)
            except Exception as error:
                self.methodcall_error_handler(  # type: ignore[attr-defined]
                    self, ctx.client_sock_addr, method, vargs, kwargs, error
                )
                raise
            if type(data) not in _PLAIN_RESULTS and isinstance(data, Iterator):
                is_stream, data = self._streamResponse(data, conn)  # type: ignore[attr-defined]
                if is_stream:
                    raise _Stream(data)
            body = serpent_codec.dumps(data)
            annotations = ctx.response_annotations
            annotations.update(self.annotations())  # type: ignore[attr-defined]
            ctx.response_annotations = {}
            if annotations:
                reply = protocol.SendingMessage(
                    protocol.MSG_RESULT, 0, seq, _SERPENT.serializer_id, body, annotations
                ).data
            else:
                reply = pyro_frames.pack(
                    protocol.MSG_RESULT, 0, seq, _SERPENT.serializer_id, body, correlation.bytes
                )
        except _Stream as stream:
            ann = {"STRM": stream.stream_id.encode()} if stream.stream_id else {}
            self._sendExceptionResponse(  # type: ignore[attr-defined]
                conn,
                seq,
                _SERPENT.serializer_id,
                errors.ProtocolError("result of call is an iterator"),
                None,
                annotations=ann,
                flags=protocol.FLAGS_ITEMSTREAMRESULT,
            )
            return
        except Exception as error:
            tblines = errors.format_traceback(detailed=config.DETAILED_TRACEBACK)
            self._sendExceptionResponse(  # type: ignore[attr-defined]
                conn, seq, _SERPENT.serializer_id, error, tblines
            )
            if is_callback:
                raise
            return
        try:
            conn.sock.sendall(reply)
        except OSError as exc:
            raise errors.ConnectionClosedError(f"sending: connection lost: {exc}") from None

    def _exposed_method(self, obj: Any, name: str) -> Any:
        # Pyro5 checks the name and the method's @expose on every call; both are properties
        # of the class, so a name that passed once for a class passes again.
        cache: set[tuple[type, str]] = self.__dict__.setdefault("_lean_exposed", set())
        key = (type(obj), name)
        if key in cache:
            return getattr(obj, name)
        method = _get_attribute(obj, name)
        if callable(method) and not isinstance(obj, type):
            cache.add(key)
        return method

    @staticmethod
    def _peer(conn: Any) -> Any:
        # Pyro5 asks the kernel on every request; a connection's peer never changes.
        peer = getattr(conn, "_lean_peer", None)
        if peer is None:
            try:
                peer = conn.sock.getpeername()
            except OSError:
                return None
            conn._lean_peer = peer
        return peer


class _Stream(Exception):
    def __init__(self, stream_id: str | None) -> None:
        super().__init__(stream_id)
        self.stream_id = stream_id


class LeanDaemon(LeanRequestsMixin, Daemon):
    """Pyro5's ``Daemon`` with the short path for plain calls."""
