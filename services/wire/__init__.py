"""The wire: service names and name-server defaults, what crosses the wire and how, the
error table used in both directions, and the authenticated handshake."""
