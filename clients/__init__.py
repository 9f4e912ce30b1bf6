"""Clients of the challenge-period and elimination services."""

from clients.challengeperiod_manager import ChallengePeriodManager
from clients.elimination_manager import EliminationManager
from services.domain.errors import (
    AuthenticationError,
    CorruptStateError,
    CpmError,
    InvalidInputError,
    InvalidTypeError,
    RemoteError,
    ServiceNotRegisteredError,
    ServiceUnavailableError,
    StateWriteError,
)
from services.domain.models import EliminationReason, MinerBucket

__all__ = [
    "AuthenticationError",
    "ChallengePeriodManager",
    "CorruptStateError",
    "CpmError",
    "EliminationManager",
    "EliminationReason",
    "InvalidInputError",
    "InvalidTypeError",
    "MinerBucket",
    "RemoteError",
    "ServiceNotRegisteredError",
    "ServiceUnavailableError",
    "StateWriteError",
]
