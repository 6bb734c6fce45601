"""A local HTTP server for faults no real node shows on demand (tests name theirs `fake_...`)."""

from __future__ import annotations

import contextlib
import http.server
import threading
from typing import Any, Iterator


@contextlib.contextmanager
def serving(handler: type[http.server.BaseHTTPRequestHandler], **attributes: Any) -> Iterator[str]:
    """`handler` serving on a free local port for as long as the block runs (`attributes` set on
    the server, for the handler to read); yields its URL."""
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    for name, value in attributes.items():
        setattr(server, name, value)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
