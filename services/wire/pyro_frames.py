"""Pyro5 wire messages (protocol 502) packed and read directly, for the lean call path.

Byte for byte what ``Pyro5.protocol.SendingMessage`` / ``ReceivingMessage`` produce and
accept for a message without annotations or compression; a message with either is left to
those classes. Errors are Pyro5's own, so callers handle them as they always have.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from typing import Any

from Pyro5 import config, errors, protocol

HEADER = struct.Struct(protocol._header_format)
HEADER_SIZE = HEADER.size
NO_CORRELATION = b"\0" * 16
_TAG = b"PYRO"
_VERSION = protocol.PROTOCOL_VERSION
_MAGIC = 0x4DC5
_RECV_CHUNK = 65536
# (type, serializer id, flags, seq, data size, annotations size, correlation id)
Header = tuple[int, int, int, int, int, int, bytes]


@dataclass(frozen=True, slots=True)
class Frame:
    """One received message: header fields, annotations and payload."""

    type: int
    serializer_id: int
    flags: int
    seq: int
    annotations: dict[str, Any]
    data: bytes | memoryview


def pack(
    msgtype: int, flags: int, seq: int, serializer_id: int, payload: bytes, corr: bytes
) -> bytes:
    """One message without annotations; ``corr`` is a 16-byte correlation id or zeros."""
    if len(payload) > config.MAX_MESSAGE_SIZE:
        raise errors.ProtocolError(
            f"message too large ({len(payload)}, max={config.MAX_MESSAGE_SIZE})"
        )
    if corr != NO_CORRELATION:
        flags |= protocol.FLAGS_CORR_ID
    header = HEADER.pack(
        _TAG, _VERSION, msgtype, serializer_id, flags, seq, len(payload), 0, corr, 0, _MAGIC
    )
    return header + payload


def parse_header(header: bytes) -> Header:
    """(type, serializer id, flags, seq, data size, annotations size, correlation id)."""
    tag, version, msgtype, ser, flags, seq, dsize, asize, corr, _, magic = HEADER.unpack(header)
    if tag != _TAG or version != _VERSION or magic != _MAGIC:
        raise errors.ProtocolError("invalid message or protocol version")
    if dsize + asize > config.MAX_MESSAGE_SIZE:
        raise errors.ProtocolError(
            f"message too large ({dsize + asize}, max={config.MAX_MESSAGE_SIZE})"
        )
    return msgtype, ser, flags, seq, dsize, asize, corr


def frame(header: bytes, body: bytes, fields: Header | None = None) -> Frame:
    """A received message from its header (``fields``: already parsed) and what follows."""
    msgtype, ser, flags, seq, _dsize, asize, _ = fields or parse_header(header)
    if not asize and not flags & protocol.FLAGS_COMPRESSED:
        return Frame(msgtype, ser, flags, seq, {}, body)
    msg = protocol.ReceivingMessage(header, body)  # annotations and compression: Pyro5's code
    return Frame(msg.type, msg.serializer_id, msg.flags, msg.seq, msg.annotations, msg.data)


def exchange(sock: socket.socket, request: bytes) -> Frame:
    """Send a request and read its whole reply: one ``recv`` when the reply fits in 64 KiB."""
    try:
        sock.sendall(request)
        data = sock.recv(_RECV_CHUNK)
        while len(data) < HEADER_SIZE:
            more = sock.recv(_RECV_CHUNK)
            if not more:
                raise errors.ConnectionClosedError("receiving: connection lost")
            data += more
        fields = parse_header(data[:HEADER_SIZE])
        dsize, asize = fields[4], fields[5]
        missing = HEADER_SIZE + asize + dsize - len(data)
        if missing > 0:
            rest = bytearray(missing)
            view = memoryview(rest)
            while view:
                received = sock.recv_into(view)
                if not received:
                    raise errors.ConnectionClosedError("receiving: not enough data")
                view = view[received:]
            data += rest
        elif missing < 0:
            raise errors.ProtocolError("more data than one reply on the connection")
    except (TimeoutError, BlockingIOError):
        # BlockingIOError: a blocking socket's SO_RCVTIMEO / SO_SNDTIMEO ran out.
        raise errors.TimeoutError("receiving: timeout") from None
    except OSError as exc:
        raise errors.ConnectionClosedError(f"connection lost: {exc}") from None
    return frame(data[:HEADER_SIZE], data[HEADER_SIZE:], fields)


def recv_exact(sock: socket.socket, size: int) -> bytes:
    """Exactly ``size`` bytes from a blocking socket, or Pyro5's error saying why not."""
    try:
        data = sock.recv(size, socket.MSG_WAITALL)
        while len(data) < size:
            more = sock.recv(size - len(data))
            if not more:
                raise errors.ConnectionClosedError("receiving: not enough data")
            data += more
    except TimeoutError:
        raise errors.TimeoutError("receiving: timeout") from None
    except OSError as exc:
        raise errors.ConnectionClosedError(f"receiving: connection lost: {exc}") from None
    return data
