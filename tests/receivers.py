"""Servers on 127.0.0.1 that the tests' code under test talks to (a webhook receiver, an
LTI platform): started on a thread of their own, stopped and closed afterwards."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from socketserver import BaseServer


@contextmanager
def running(server: BaseServer, poll_interval: float = 0.5) -> Iterator[BaseServer]:
    """Serve ``server`` on a daemon thread for the block; then shut it down, close its socket
    and wait (a little) for the thread."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": poll_interval}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
