"""Which serializers a daemon of ours decodes, and how much before a handshake succeeds.

Pyro5 decodes a connection's first message (the handshake) with whatever serializer its
header names, before any authentication, and ``marshal.loads`` crashes CPython on crafted
input (a tuple that refers back to itself is enough). Pyro5's serializer table is the
public way to choose serializers, so every process that runs a daemon of ours puts a
refusing stand-in into marshal's slot: a marshal message is answered with an error (sent
with marshal's own encoder, which is safe) and never decoded.

The other serializers decode at most ``handshake_max_bytes`` of a connection's handshake:
serpent decodes with ``ast.literal_eval``, whose time and memory grow far faster than its
input (a 2 MB handshake cost 1 GB and 4.5 s), and nobody is authenticated yet. A daemon's
worker thread is "in a handshake" from the start of a connection until the daemon accepts
the handshake (``handshake_accepted``) and again once the connection closes
(``connection_closed``); the same serializers decode without a limit in every other case
(the calls of an accepted connection, and the replies to this process's own calls).
"""

from __future__ import annotations

import threading
from typing import Any

from Pyro5 import errors, serializers
from Pyro5.svr_threads import Worker

REFUSED = "the marshal serializer is not accepted here; use serpent, json or msgpack"


class RefusedMarshal(serializers.MarshalSerializer):
    """Marshal's slot in the table: encodes (for the refusal), never decodes."""

    def loads(self, data: Any) -> Any:
        """Refuse: decoding untrusted marshal data is not safe."""
        raise errors.SerializeError(REFUSED)

    def loadsCall(self, data: Any) -> Any:
        """Refuse: decoding untrusted marshal data is not safe."""
        raise errors.SerializeError(REFUSED)


HANDSHAKE_MAX_BYTES = 64 * 1024
# The default time a connection has to complete its handshake (``--handshake-timeout-s``).
HANDSHAKE_DEADLINE_S = 3.0


def handshake_budget(max_bytes: int) -> int:
    """The raw bytes a connection may send before its handshake is accepted: twice what is
    decoded, so a handshake somewhat over the limit is answered with the reason, and a far
    bigger one is dropped before it is buffered."""
    return 2 * max_bytes + 4096


_connection = threading.local()


def serves_handshakes() -> None:
    """The calling thread runs a daemon's request loop, which decodes the handshake of a
    connection it turns away (Pyro5 answers "no free workers" from there)."""
    _connection.loop = True


def handshake_accepted() -> None:
    """This worker thread's connection passed its handshake: decode its calls whole."""
    _connection.accepted = True


def connection_closed() -> None:
    """This worker thread's connection closed: the next one starts with a handshake."""
    _connection.accepted = False


def _limited(base: type[serializers.SerializerBase], max_bytes: int) -> Any:
    class HandshakeLimited(base):
        """``base``, refusing a handshake over ``max_bytes`` before decoding it."""

        def loads(self, data: Any) -> Any:
            if (
                len(data) > max_bytes
                and not getattr(_connection, "accepted", False)
                and (
                    isinstance(threading.current_thread(), Worker)
                    or getattr(_connection, "loop", False)
                )
            ):
                raise errors.SerializeError(
                    f"handshake of {len(data)} bytes refused: at most {max_bytes} bytes are "
                    "decoded before a connection is accepted"
                )
            return super().loads(data)

    HandshakeLimited.__name__ = f"HandshakeLimited{base.__name__}"
    return HandshakeLimited()


def harden_serializers(handshake_max_bytes: int = HANDSHAKE_MAX_BYTES) -> None:
    """Make this process's daemons refuse marshal, and any handshake over
    ``handshake_max_bytes``; only launchers call this."""
    stand_in = RefusedMarshal()
    serializers.serializers["marshal"] = stand_in
    serializers.serializers_by_id[stand_in.serializer_id] = stand_in
    for name, base in (
        ("serpent", serializers.SerpentSerializer),
        ("json", serializers.JsonSerializer),
        ("msgpack", serializers.MsgpackSerializer),
    ):
        limited = _limited(base, handshake_max_bytes)
        serializers.serializers[name] = limited
        serializers.serializers_by_id[limited.serializer_id] = limited
