"""A Pyro5 ``Proxy`` with a short path for plain calls, the client half of ``lean_daemon``.

Pyro5's ``_pyroInvoke`` encodes with ``serpent.dumps``, reads a reply in three ``recv``
calls, each after a ``poll`` (Python polls before every I/O on a socket with a timeout),
and decodes with ``ast.literal_eval``. For a plain call on a connected proxy (serpent,
two-way, no annotations, no compression, no raw-wire mode, no TLS) ``LeanProxy`` sends the same
bytes, reads the whole reply with one ``recv`` when it fits, and encodes and decodes with
``serpent_codec``. The call timeout is kept by the kernel (``SO_RCVTIMEO`` /
``SO_SNDTIMEO`` on a blocking socket) instead of a ``poll`` per I/O. Anything else goes to
Pyro5's own ``_pyroInvoke``, with Python's socket timeout restored first. Connecting, the
handshake, ownership, sequence numbers and the errors raised are Pyro5's.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

from Pyro5 import config, errors, protocol, serializers
from Pyro5.api import Proxy
from Pyro5.callcontext import current_context

from services.wire import pyro_frames, serpent_codec

_SERPENT = serializers.serializers["serpent"]


def _kernel_timeouts(sock: socket.socket, timeout_s: float | None) -> None:
    """Make ``sock`` blocking, with ``timeout_s`` enforced by the kernel on each I/O."""
    seconds = timeout_s or 0.0  # a zero timeval means "no timeout"
    value = struct.pack("ll", int(seconds), int((seconds % 1) * 1_000_000))
    sock.settimeout(None)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)


class LeanProxy(Proxy):
    """A Pyro5 proxy; plain calls take the short path described in the module docstring."""

    _pyroSeq: int  # set by Proxy.__init__, declared here for the type checker

    def _pyroInvoke(
        self,
        methodname: str,
        vargs: Any,
        kwargs: Any,
        flags: int = 0,
        objectId: str | None = None,
    ) -> Any:
        conn = self._pyroConnection
        if (
            flags
            or objectId
            or conn is None
            or (self._pyroSerializer or config.SERIALIZER) != "serpent"
            or self._pyroRawWireResponse
            or methodname in self._pyroOneway
            or current_context.annotations
            or config.COMPRESSION
            or hasattr(conn.sock, "getpeercert")  # TLS: Pyro5's own reads and timeouts
        ):
            if conn is not None and conn.sock.gettimeout() is None:
                # Pyro5's receive loop retries on EAGAIN, so it needs Python's timeout back.
                conn.sock.settimeout(self._pyroTimeout)
            return super()._pyroInvoke(methodname, vargs, kwargs, flags, objectId)
        self._Proxy__check_owner()
        sock = conn.sock
        if sock.gettimeout() is not None:
            _kernel_timeouts(sock, self._pyroTimeout)
        current_context.response_annotations = {}
        body = serpent_codec.dumps((conn.objectId, methodname, tuple(vargs), kwargs or {}))
        seq: int = (self._pyroSeq + 1) & 0xFFFF
        self._pyroSeq = seq
        correlation = current_context.correlation_id
        request = pyro_frames.pack(
            protocol.MSG_INVOKE,
            0,
            seq,
            _SERPENT.serializer_id,
            body,
            correlation.bytes if correlation else pyro_frames.NO_CORRELATION,
        )
        try:
            reply = pyro_frames.exchange(sock, request)
            if reply.seq != seq or reply.type != protocol.MSG_RESULT:
                raise errors.ProtocolError(
                    f"invoke: unexpected reply type {reply.type} seq {reply.seq}, expected {seq}"
                )
            if reply.serializer_id != _SERPENT.serializer_id:
                raise errors.SerializeError(
                    f"invalid serializer in response: {reply.serializer_id}"
                )
        except (errors.CommunicationError, KeyboardInterrupt):
            # As Pyro5 does: a connection in an unknown state must never carry another call.
            self._pyroRelease()
            raise
        if reply.annotations:
            current_context.response_annotations = reply.annotations
        if reply.flags & protocol.FLAGS_ITEMSTREAMRESULT:
            # Streams need Pyro5's iterator machinery; no service of this project streams.
            raise errors.ProtocolError("streamed results are not supported by LeanProxy")
        data, plain = serpent_codec.loads_plain(reply.data)
        if not plain:
            data = _SERPENT.recreate_classes(data)
        if reply.flags & protocol.FLAGS_EXCEPTION:
            raise data
        return data
