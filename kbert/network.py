"""One quick reachability check, so code that needs a hub fails in seconds, not after retries."""

from __future__ import annotations

import socket


def reachable(host: str, port: int = 443, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to `host` opens within `timeout` seconds.

    Example:
    >>> reachable("huggingface.co")   # False on a machine without network
    """
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False
