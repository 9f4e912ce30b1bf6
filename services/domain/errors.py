"""The project's one exception tree.

Every error a caller of this package can meet derives from ``CpmError``; clients translate
Pyro5's own errors into it, so callers never import Pyro5 to catch an error::

    CpmError
    ├── ServiceUnavailableError   (also ConnectionError) name server or service unreachable
    │   └── ServiceNotRegisteredError                    the name server has no such name
    ├── AuthenticationError       (also PermissionError) wrong or missing auth token, impostor
    ├── InvalidInputError         (also ValueError)      a bad argument; nothing was changed
    │   └── InvalidTypeError      (also TypeError)       an argument of the wrong type
    ├── CorruptStateError                                a state file that cannot be trusted
    ├── StateWriteError           (also OSError)         the state dir refused a write
    └── RemoteError                                      the service failed in an unexpected way
"""

from __future__ import annotations


class CpmError(Exception):
    """Base of every error raised by this project."""


class ServiceUnavailableError(CpmError, ConnectionError):
    """The name server or a service did not answer."""


class ServiceNotRegisteredError(ServiceUnavailableError):
    """The name server answers but has no service under the name."""


class AuthenticationError(CpmError, PermissionError):
    """A peer did not prove that it knows the shared auth token."""


class InvalidInputError(CpmError, ValueError):
    """An argument or input document is malformed; the message names it."""


class InvalidTypeError(InvalidInputError, TypeError):
    """An argument has the wrong type; the message names it."""


class CorruptStateError(CpmError):
    """A state file is not JSON or not of the expected shape; it is left untouched."""


class StateWriteError(CpmError, OSError):
    """A change could not be written to the state dir; it was not applied."""


class RemoteError(CpmError):
    """The service raised an error that is none of the above."""
