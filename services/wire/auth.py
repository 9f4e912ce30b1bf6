"""Mutual authentication with a shared token, carried in Pyro5's connect handshake.

The client sends a fresh nonce, the time, the service it means, and HMAC(token,
"client|nonce|time|service"); the service checks the proof and the name, refuses a time
outside a short window or a nonce it has seen, and answers a fresh nonce of its own and
HMAC(token, "server|nonce|its nonce|service"). The client checks that answer before it
sends any call, so a process registered under our name without the token is refused. Both
sides then hold the session key HMAC(token, "session|nonce|its nonce|service"), under which
every later request and reply is authenticated (``services.wire.session``). The token
itself never travels and is never logged; without TLS the calls are not encrypted (see the
README for Pyro5's SSL settings across hosts).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from typing import Any

from services.domain.errors import AuthenticationError

SCHEME = "cpm-hmac-sha256-v2"
MAX_CLOCK_SKEW_MS = 120_000


def _mac(token: str, message: str) -> str:
    return hmac.new(token.encode(), message.encode(), hashlib.sha256).hexdigest()


def _session_key(token: str, nonce: str, service_nonce: str, service: str) -> bytes:
    return hmac.new(
        token.encode(), f"session|{nonce}|{service_nonce}|{service}".encode(), hashlib.sha256
    ).digest()


def client_hello(token: str, service: str, *, t_ms: int | None = None) -> dict[str, Any]:
    """The handshake a client sends to ``service``: a fresh nonce, the time (now unless
    given), its proof."""
    nonce = secrets.token_hex(16)
    if t_ms is None:
        t_ms = time.time_ns() // 1_000_000
    return {
        "scheme": SCHEME,
        "service": service,
        "nonce": nonce,
        "t_ms": t_ms,
        "proof": _mac(token, f"client|{nonce}|{t_ms}|{service}"),
    }


def check_server_answer(token: str, hello: dict[str, Any], answer: Any) -> bytes:
    """The session key, or AuthenticationError unless ``answer`` proves the service
    knows ``token``."""
    service_nonce = answer.get("nonce") if isinstance(answer, dict) else None
    proof = answer.get("proof") if isinstance(answer, dict) else None
    expected = _mac(token, f"server|{hello['nonce']}|{service_nonce}|{hello['service']}")
    if (
        not isinstance(service_nonce, str)
        or not isinstance(proof, str)
        or not hmac.compare_digest(proof, expected)
    ):
        raise AuthenticationError(
            "the service did not prove it knows CPM_AUTH_TOKEN; refusing it (an impostor "
            "registered under the name, or a service started without the token)"
        )
    return _session_key(token, hello["nonce"], service_nonce, hello["service"])


class ClientVerifier:
    """The service side: checks a client's hello and answers with the service's proof."""

    def __init__(self, token: str, service: str, *, max_skew_ms: int = MAX_CLOCK_SKEW_MS) -> None:
        self._token = token
        self._service = service
        self._max_skew_ms = max_skew_ms
        self._seen: dict[str, float] = {}  # nonce -> monotonic expiry
        self._lock = threading.Lock()

    def answer(self, hello: Any) -> tuple[dict[str, str], bytes]:
        """The answer to a valid hello (the service's nonce and proof) and the session key;
        raises AuthenticationError otherwise."""
        if not isinstance(hello, dict) or hello.get("scheme") != SCHEME:
            raise AuthenticationError("authentication required: the client sent no auth token")
        nonce, t_ms, proof = hello.get("nonce"), hello.get("t_ms"), hello.get("proof")
        service = hello.get("service")
        if not (
            isinstance(nonce, str)
            and isinstance(t_ms, int)
            and isinstance(proof, str)
            and isinstance(service, str)
        ):
            raise AuthenticationError("authentication failed: malformed handshake")
        expected = _mac(self._token, f"client|{nonce}|{t_ms}|{service}")
        if not hmac.compare_digest(proof, expected):
            raise AuthenticationError("authentication failed: wrong auth token")
        if service != self._service:
            raise AuthenticationError(
                f"authentication failed: the handshake was made for {service}, not "
                f"{self._service} (replayed to another service)"
            )
        if abs(time.time_ns() // 1_000_000 - t_ms) > self._max_skew_ms:
            raise AuthenticationError("authentication failed: handshake too old or clock skew")
        now = time.monotonic()
        with self._lock:
            self._seen = {n: exp for n, exp in self._seen.items() if exp > now}
            if nonce in self._seen:
                raise AuthenticationError("authentication failed: replayed handshake")
            self._seen[nonce] = now + 2 * self._max_skew_ms / 1000
        service_nonce = secrets.token_hex(16)
        answer = {
            "scheme": SCHEME,
            "nonce": service_nonce,
            "proof": _mac(self._token, f"server|{nonce}|{service_nonce}|{service}"),
        }
        return answer, _session_key(self._token, nonce, service_nonce, service)


# -- name-server changes ------------------------------------------------------------------
#
# With the token set, the name server accepts a registration or a removal only with a
# proof in the call's Pyro5 annotations (the public door for per-call metadata):
# HMAC(token, "ns|op|name|nonce|time"), fresh and never seen before. Lookups and listing
# need none, so Pyro5's own tools keep working.

NAME_PROOF_ANNOTATION = "CPMA"  # Pyro5 annotation keys are four characters


def name_proof(token: str, op: str, name: str) -> bytes:
    """The annotation value proving that the caller may ``op`` (register, remove) ``name``."""
    nonce = secrets.token_hex(16)
    t_ms = time.time_ns() // 1_000_000
    mac = _mac(token, f"ns|{op}|{name}|{nonce}|{t_ms}")
    return f"{nonce}|{t_ms}|{mac}".encode()


class NameChangeVerifier:
    """The name server's side: checks a registration's or removal's proof."""

    def __init__(self, token: str, *, max_skew_ms: int = MAX_CLOCK_SKEW_MS) -> None:
        self._token = token
        self._max_skew_ms = max_skew_ms
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def check(self, annotations: Any, op: str, name: str) -> None:
        """Raise AuthenticationError unless ``annotations`` prove the token for this change."""
        raw = annotations.get(NAME_PROOF_ANNOTATION) if isinstance(annotations, dict) else None
        if raw is None:
            raise AuthenticationError(
                f"{op} of {name!r} refused: this name server requires CPM_AUTH_TOKEN's proof"
            )
        try:
            nonce, t_text, mac = bytes(raw).decode().split("|")
            t_ms = int(t_text)
        except (ValueError, TypeError, UnicodeDecodeError):
            raise AuthenticationError(f"{op} of {name!r} refused: malformed proof") from None
        expected = _mac(self._token, f"ns|{op}|{name}|{nonce}|{t_ms}")
        if not hmac.compare_digest(mac, expected):
            raise AuthenticationError(f"{op} of {name!r} refused: wrong auth token")
        if abs(time.time_ns() // 1_000_000 - t_ms) > self._max_skew_ms:
            raise AuthenticationError(f"{op} of {name!r} refused: proof too old or clock skew")
        now = time.monotonic()
        with self._lock:
            self._seen = {n: exp for n, exp in self._seen.items() if exp > now}
            if nonce in self._seen:
                raise AuthenticationError(f"{op} of {name!r} refused: replayed proof")
            self._seen[nonce] = now + 2 * self._max_skew_ms / 1000
