"""Which serializers a daemon of ours decodes: never ``marshal``.

Pyro5 decodes a connection's first message (the handshake) with whatever serializer its
header names, before any authentication, and ``marshal.loads`` crashes CPython on crafted
input (a tuple that refers back to itself is enough). Pyro5's serializer table is the
public way to choose serializers, so every process that runs a daemon of ours puts a
refusing stand-in into marshal's slot: a marshal message is answered with an error (sent
with marshal's own encoder, which is safe) and never decoded.
"""

from __future__ import annotations

from typing import Any

from Pyro5 import errors, serializers

REFUSED = "the marshal serializer is not accepted here; use serpent, json or msgpack"


class RefusedMarshal(serializers.MarshalSerializer):
    """Marshal's slot in the table: encodes (for the refusal), never decodes."""

    def loads(self, data: Any) -> Any:
        """Refuse: decoding untrusted marshal data is not safe."""
        raise errors.SerializeError(REFUSED)

    def loadsCall(self, data: Any) -> Any:
        """Refuse: decoding untrusted marshal data is not safe."""
        raise errors.SerializeError(REFUSED)


def refuse_marshal() -> None:
    """Make this process's daemons refuse marshal; only launchers call this."""
    stand_in = RefusedMarshal()
    serializers.serializers["marshal"] = stand_in
    serializers.serializers_by_id[stand_in.serializer_id] = stand_in
