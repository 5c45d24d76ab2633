"""Ports on 127.0.0.1 for tests of what a client does when nothing answers."""

from __future__ import annotations

import socket


def closed_port() -> int:
    """A port nothing listens on: bound once to learn a free number, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
