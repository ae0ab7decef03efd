"""A stand-in for the bridge in a fake fly Sprite: it answers ``/starter/health`` and serves
``GET /starter/services`` from ``~/registry.json`` as it is on disk, whatever it holds. It
is what a hostile (or merely wrong) bridge can tell the control plane about its services,
and it lets the control plane's reconcile be tested without the bridge's own services.

Run as the fake Sprite's ``starter-bridge`` service: ``python scripted_bridge.py`` (it
listens on ``$HOST:$PORT``, which the fake sets for the service that has ``http_port``).
"""

from __future__ import annotations

import http.server
import os
from pathlib import Path

REGISTRY = Path(os.environ.get("HOME", ".")) / "registry.json"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/starter/health":
            body = b'{"ok": true}'
        elif self.path == "/starter/services":
            body = REGISTRY.read_bytes() if REGISTRY.is_file() else b'{"services": []}'
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    address = (os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "8080")))
    http.server.ThreadingHTTPServer(address, Handler).serve_forever()


if __name__ == "__main__":
    main()
