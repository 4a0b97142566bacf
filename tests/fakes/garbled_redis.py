"""A TCP server on 127.0.0.1 that accepts Redis clients but answers every command with a reply
that is not valid RESP: what a wrong service on REDIS_URL, or a proxy in a bad state, sends.

redis-py's parser raises `ValueError` on it, an exception that is none of the transport errors
a caller of Redis usually expects.
"""

from __future__ import annotations

import contextlib
import socketserver
import threading
from collections.abc import Iterator

GARBLED_REPLY = b":not-a-number\r\n"


class _Garbler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while self.request.recv(65536):
            self.request.sendall(GARBLED_REPLY)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextlib.contextmanager
def garbled_redis() -> Iterator[str]:
    """Serve until the block ends; yields a `redis://` URL for it."""
    with _Server(("127.0.0.1", 0), _Garbler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"redis://127.0.0.1:{server.server_address[1]}/0"
        finally:
            server.shutdown()
            thread.join()
