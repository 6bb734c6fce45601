"""FAKE IPFS node, for the one fault a real node cannot show: an RPC API that answers `add` with
a CID other than the bytes' own (a buggy or lying node). Everything else is tested on js-ipfs."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class WrongCidIpfsServer:
    """Answers `add` with `Hash: answer` whatever it is sent, `pin/add` with that as the pin, and
    `version`; records the operations it was asked for."""

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.operations: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                op = self.path.split("?", 1)[0].removeprefix("/api/v0/")
                fake.operations.append(op)
                body: dict[str, Any] = {
                    "add": {"Name": "record", "Hash": fake.answer, "Size": "1"},
                    "pin/add": {"Pins": [fake.answer]},
                    "version": {"Version": "fake-wrong-cid"},
                }.get(op, {"Message": f"{op} not faked", "Code": 0, "Type": "error"})
                self.send_response(200 if op in ("add", "pin/add", "version") else 500)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps(body).encode())

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> WrongCidIpfsServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
