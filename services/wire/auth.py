"""Mutual authentication with a shared token, carried in Pyro5's connect handshake.

The client sends a fresh nonce, the time, and HMAC(token, "client|nonce|time"); the
service checks the proof, refuses a time outside a short window or a nonce it has seen, and
answers HMAC(token, "server|nonce"). The client checks that answer before it sends any
call, so a process registered under our name without the token is refused. The token
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

SCHEME = "cpm-hmac-sha256-v1"
MAX_CLOCK_SKEW_MS = 120_000


def _mac(token: str, message: str) -> str:
    return hmac.new(token.encode(), message.encode(), hashlib.sha256).hexdigest()


def client_hello(token: str, *, t_ms: int | None = None) -> dict[str, Any]:
    """The handshake a client sends: a fresh nonce, the time (now unless given), its proof."""
    nonce = secrets.token_hex(16)
    if t_ms is None:
        t_ms = time.time_ns() // 1_000_000
    return {
        "scheme": SCHEME,
        "nonce": nonce,
        "t_ms": t_ms,
        "proof": _mac(token, f"client|{nonce}|{t_ms}"),
    }


def check_server_answer(token: str, hello: dict[str, Any], answer: Any) -> None:
    """Raise AuthenticationError unless ``answer`` proves the service knows ``token``."""
    expected = _mac(token, f"server|{hello['nonce']}")
    proof = answer.get("proof") if isinstance(answer, dict) else None
    if not isinstance(proof, str) or not hmac.compare_digest(proof, expected):
        raise AuthenticationError(
            "the service did not prove it knows CPM_AUTH_TOKEN; refusing it (an impostor "
            "registered under the name, or a service started without the token)"
        )


class ClientVerifier:
    """The service side: checks a client's hello and answers with the service's proof."""

    def __init__(self, token: str, *, max_skew_ms: int = MAX_CLOCK_SKEW_MS) -> None:
        self._token = token
        self._max_skew_ms = max_skew_ms
        self._seen: dict[str, float] = {}  # nonce -> monotonic expiry
        self._lock = threading.Lock()

    def answer(self, hello: Any) -> dict[str, str]:
        """The service's proof for a valid hello; raises AuthenticationError otherwise."""
        if not isinstance(hello, dict) or hello.get("scheme") != SCHEME:
            raise AuthenticationError("authentication required: the client sent no auth token")
        nonce, t_ms, proof = hello.get("nonce"), hello.get("t_ms"), hello.get("proof")
        if not (isinstance(nonce, str) and isinstance(t_ms, int) and isinstance(proof, str)):
            raise AuthenticationError("authentication failed: malformed handshake")
        expected = _mac(self._token, f"client|{nonce}|{t_ms}")
        if not hmac.compare_digest(proof, expected):
            raise AuthenticationError("authentication failed: wrong auth token")
        if abs(time.time_ns() // 1_000_000 - t_ms) > self._max_skew_ms:
            raise AuthenticationError("authentication failed: handshake too old or clock skew")
        now = time.monotonic()
        with self._lock:
            self._seen = {n: exp for n, exp in self._seen.items() if exp > now}
            if nonce in self._seen:
                raise AuthenticationError("authentication failed: replayed handshake")
            self._seen[nonce] = now + 2 * self._max_skew_ms / 1000
        return {"scheme": SCHEME, "proof": _mac(self._token, f"server|{nonce}")}


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
