"""Exceptions raised by envd_client.

Every error reply from envd carries a status code (``envd.v1.Code``); each
code has its own exception class here, all under :class:`EnvdError`, so a
caller can catch exactly the failure it can handle. Errors the client finds
on its own (an action of the wrong type, a seed envd cannot carry) use the
same classes and codes, so there is one hierarchy to learn.

A request that gets no answer raises :class:`EnvdTimeout`, which is also a
builtin :class:`TimeoutError`.
"""

from __future__ import annotations

__all__ = [
    "EnvdError",
    "InvalidArgument",
    "NotFound",
    "FailedPrecondition",
    "ResourceExhausted",
    "VersionMismatch",
    "Unavailable",
    "Internal",
    "EnvdTimeout",
    "error_for_code",
    "CODE_NAMES",
]

# The values of envd.v1.Code (proto/envd.proto); kept here so that this
# module imports without the generated code.
OK = 0
INVALID_ARGUMENT = 1
NOT_FOUND = 2
FAILED_PRECONDITION = 3
RESOURCE_EXHAUSTED = 4
VERSION_MISMATCH = 5
UNAVAILABLE = 6
INTERNAL = 7

CODE_NAMES = {
    OK: "OK",
    INVALID_ARGUMENT: "INVALID_ARGUMENT",
    NOT_FOUND: "NOT_FOUND",
    FAILED_PRECONDITION: "FAILED_PRECONDITION",
    RESOURCE_EXHAUSTED: "RESOURCE_EXHAUSTED",
    VERSION_MISMATCH: "VERSION_MISMATCH",
    UNAVAILABLE: "UNAVAILABLE",
    INTERNAL: "INTERNAL",
}


class EnvdError(Exception):
    """An envd request failed.

    ``code`` is the ``envd.v1.Code`` value (an int; ``None`` for a timeout,
    which has no server code) and ``message`` the server's (or the
    client's) explanation, meant for a person.
    """

    code: int | None = None

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    @property
    def code_name(self) -> str:
        return CODE_NAMES.get(self.code, "TIMEOUT" if self.code is None else str(self.code))

    def __str__(self) -> str:
        return f"{self.code_name}: {self.message}"


class InvalidArgument(EnvdError, ValueError):
    """A malformed request or a value out of range (e.g. action 2)."""

    code = INVALID_ARGUMENT


class NotFound(EnvdError, LookupError):
    """Unknown env id, or a session that is closed or was reclaimed (TTL)."""

    code = NOT_FOUND


class FailedPrecondition(EnvdError):
    """The request is valid but not now, e.g. a step before the first reset."""

    code = FAILED_PRECONDITION


class ResourceExhausted(EnvdError):
    """Session limit, batch limit or message size exceeded."""

    code = RESOURCE_EXHAUSTED


class VersionMismatch(EnvdError):
    """The server speaks another major protocol version."""

    code = VERSION_MISMATCH


class Unavailable(EnvdError):
    """The server is shutting down, the request could not be queued, or the
    endpoint's host name does not resolve."""

    code = UNAVAILABLE


class Internal(EnvdError):
    """A bug in envd, or a reply this client cannot make sense of."""

    code = INTERNAL


class EnvdTimeout(EnvdError, TimeoutError):
    """No reply within the client's timeout. The client stays usable."""

    code = None


_BY_CODE = {
    cls.code: cls
    for cls in (InvalidArgument, NotFound, FailedPrecondition, ResourceExhausted,
                VersionMismatch, Unavailable, Internal)
}


def error_for_code(code: int, message: str) -> EnvdError:
    """The exception for a status code from the wire (unknown codes are
    kept as a plain EnvdError with that code)."""
    cls = _BY_CODE.get(code)
    if cls is None:
        return EnvdError(message, code)
    return cls(message)
