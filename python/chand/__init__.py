# SPDX-License-Identifier: MIT
"""chand for Python: named multiple-producer / single-consumer channels
across processes, with the shape of Rust's ``std::sync::mpsc``.

    import chand
    with chand.connect() as c, c.sender("jobs") as tx:
        tx.send(b"build 42")

The blocking API is here; ``chand.aio`` has the same names for asyncio.
docs/python.md describes both.
"""

from ._core import (FEAT_ACKS, FEAT_FOREVER, FEAT_RECALL, FEAT_RXGONE, FEAT_SELECT,
                    UNBOUNDED, Message, default_socket)
from ._sync import Client, Receiver, Sender, connect, select
from .errors import *  # noqa: F401,F403
from .errors import __all__ as _errors_all

__version__ = "0.1.0"

__all__ = ["connect", "Client", "Sender", "Receiver", "Message", "select",
           "default_socket", "UNBOUNDED", "FEAT_ACKS", "FEAT_RECALL",
           "FEAT_RXGONE", "FEAT_FOREVER", "FEAT_SELECT"] + list(_errors_all)
