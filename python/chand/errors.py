# SPDX-License-Identifier: MIT
"""Exceptions of the chand client, one per error code of the protocol.

Every exception is a :class:`ChandError`. Those the daemon sends carry its
wire ``code``, its human-readable ``message`` and, on connections that
negotiated protocol version 2, its ``fields`` (a dict of facts such as the
pid of a channel's consumer). The codes match ``chanclient.h``: the C
library's ``CHAN_EBUSY`` is :class:`Busy`, and so on.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

__all__ = [
    "ChandError", "ProtocolError", "VersionError", "BadName", "MessageTooBig",
    "Busy", "BadHandle", "WrongEnd", "OptionError", "LimitExceeded",
    "UnknownOp", "DaemonOutOfMemory", "Shutdown", "Full", "CapacityMismatch",
    "PermissionDenied", "DiskError", "ReceiverGone", "Disconnected", "Empty",
    "Timeout", "NoDaemon", "ConnectionLost", "Unsupported", "error_for_code",
]


class ChandError(Exception):
    """Base of every error of the chand client.

    ``code`` is the protocol's error code (1 to 31 from the daemon, 32 and
    up the library's own, ``None`` for :class:`Unsupported`), ``message``
    what failed, ``fields`` the daemon's facts (empty on version 1).
    """

    code: Optional[int] = None
    name = "ERROR"

    def __init__(self, message: str = "", fields: Optional[Dict[str, Any]] = None):
        super().__init__(message or self.__class__.__doc__.split("\n")[0])
        self.message = message
        self.fields: Dict[str, Any] = dict(fields or {})


class ProtocolError(ChandError):
    """Malformed frame, or a request out of place (either side)."""
    code, name = 1, "PROTO"


class VersionError(ChandError):
    """No protocol version both sides speak."""
    code, name = 2, "VERSION"


class BadName(ChandError):
    """Channel name empty or longer than 255 bytes."""
    code, name = 3, "BADNAME"


class MessageTooBig(ChandError):
    """Payload over the daemon's largest message."""
    code, name = 4, "TOOBIG"


class Busy(ChandError):
    """The channel already has a consumer; ``pid`` is its process, if known."""
    code, name = 5, "BUSY"

    @property
    def pid(self) -> Optional[int]:
        return self.fields.get("pid")


class BadHandle(ChandError):
    """No such handle on this connection."""
    code, name = 6, "BADHANDLE"


class WrongEnd(ChandError):
    """Operation not valid on this end of the channel."""
    code, name = 7, "WRONGEND"


class OptionError(ChandError):
    """Unknown or invalid option."""
    code, name = 8, "OPTION"


class LimitExceeded(ChandError):
    """A daemon limit was reached; ``limit`` names it when the daemon says."""
    code, name = 9, "LIMIT"

    @property
    def limit(self) -> Optional[str]:
        return self.fields.get("limit")


class UnknownOp(ChandError):
    """The daemon does not know the operation."""
    code, name = 10, "UNKNOWNOP"


class DaemonOutOfMemory(ChandError):
    """The daemon could not allocate memory for the request."""
    code, name = 11, "NOMEM"


class Shutdown(ChandError):
    """The daemon is shutting down."""
    code, name = 12, "SHUTDOWN"


class Full(ChandError):
    """The channel is full and the send could not wait."""
    code, name = 13, "FULL"


class CapacityMismatch(ChandError):
    """The channel exists with another capacity or durability."""
    code, name = 14, "CAPACITY"


class PermissionDenied(ChandError):
    """Permission denied by the daemon's access rules."""
    code, name = 15, "PERM"


class DiskError(ChandError):
    """Message not written to the channel's log (durable channel)."""
    code, name = 16, "DISK"


class ReceiverGone(ChandError):
    """The channel's receiver is gone (a sender opened with rx_gone)."""
    code, name = 17, "RXGONE"


class Disconnected(ChandError):
    """Channel disconnected: every sender is gone.

    From :func:`select`, ``receiver`` is the receiver it is about.
    """
    code, name = 32, "DISCONNECTED"
    receiver: Any = None


class Empty(ChandError):
    """Channel empty."""
    code, name = 33, "EMPTY"


class Timeout(ChandError, TimeoutError):
    """Timed out."""
    code, name = 34, "TIMEDOUT"


class NoDaemon(ChandError):
    """No daemon running on the socket."""
    code, name = 35, "NODAEMON"


class ConnectionLost(ChandError):
    """Connection to the daemon lost."""
    code, name = 36, "CONNLOST"


class Unsupported(ChandError):
    """The daemon does not serve a feature the call asked for."""
    code, name = None, "UNSUPPORTED"


_BY_CODE = {cls.code: cls for cls in (
    ProtocolError, VersionError, BadName, MessageTooBig, Busy, BadHandle,
    WrongEnd, OptionError, LimitExceeded, UnknownOp, DaemonOutOfMemory,
    Shutdown, Full, CapacityMismatch, PermissionDenied, DiskError,
    ReceiverGone, Disconnected, Empty, Timeout, NoDaemon, ConnectionLost)}


def error_for_code(code: int, message: str,
                   fields: Optional[Dict[str, Any]] = None) -> ChandError:
    """The exception for a wire code; an unknown code is a plain ChandError."""
    cls = _BY_CODE.get(code)
    if cls is None:
        e = ChandError(message or "error %d" % code, fields)
        e.code = code
        return e
    return cls(message, fields)
