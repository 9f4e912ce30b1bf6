"""Names and defaults both sides agree on, defined once: the services' names in the name
server, where the name server is by default, and the largest message either side sends."""

from __future__ import annotations

CHALLENGEPERIOD_SERVICE = "ChallengePeriodManagerServer"
ELIMINATION_SERVICE = "EliminationManagerServer"

DEFAULT_NS_HOST = "127.0.0.1"
DEFAULT_NS_PORT = 9090
DEFAULT_STATE_DIR = "./validation"

MAX_MESSAGE_BYTES = 64 * 1024 * 1024

# The serializer our clients speak: Pyro5's msgpack serializer, whose codec is the msgpack
# package's C extension. Daemons answer in the caller's serializer, so Pyro5's own tools
# (serpent) keep working; marshal is refused (services.wire.serializers).
WIRE_SERIALIZER = "msgpack"
