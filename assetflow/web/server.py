"""`assetflow ui`: serves the page and its JSON API on 127.0.0.1 (another host only when
asked). Each API request opens a session, reads, and closes it: a run started from the CLI
never waits for the page longer than one read (docs/ui.md)."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from assetflow.app import ui_data
from assetflow.app.session import Session
from assetflow.errors import AssetflowError, ExitCode

STATIC = Path(__file__).resolve().parent / "static"
_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
}


def make_server(open_session: Callable[[], Session], host: str, port: int) -> ThreadingHTTPServer:
    """The server (not started); port 0 picks a free one (`server.server_port`)."""
    lock = threading.Lock()  # one read at a time: definitions load as Python modules

    def api(path: str, query: dict[str, str]) -> Any:
        with lock, open_session() as session:
            if path == "/api/graph":
                return ui_data.graph(session)
            if path.startswith("/api/assets/"):
                return ui_data.asset(
                    session, urllib.parse.unquote(path.removeprefix("/api/assets/"))
                )
            if path == "/api/why":
                return ui_data.why(session, query.get("asset", ""), query.get("partition", ""))
            if path == "/api/runs":
                return ui_data.runs(session)
        raise LookupError(path)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            url = urllib.parse.urlsplit(self.path)
            if url.path.startswith("/api/"):
                self._api(url.path, dict(urllib.parse.parse_qsl(url.query)))
            else:
                self._static(url.path)

        def _api(self, path: str, query: dict[str, str]) -> None:
            try:
                self._send(200, "application/json", json.dumps(api(path, query), default=str))
            except LookupError:
                self._send(404, "application/json", json.dumps({"error": f"no such page: {path}"}))
            except AssetflowError as exc:
                status = 400 if exc.exit_code == ExitCode.USAGE else 500
                self._send(status, "application/json", json.dumps({"error": exc.one_line()}))

        def _static(self, path: str) -> None:
            name = "index.html" if path in ("", "/") else path.removeprefix("/static/")
            file = (STATIC / name).resolve()
            if file.parent != STATIC or not file.is_file():
                self._send(404, "text/plain", "not found")
                return
            self._send(200, _TYPES.get(file.suffix, "application/octet-stream"), file.read_bytes())

        def _send(self, status: int, kind: str, body: str | bytes) -> None:
            data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Type", f"{kind}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:  # quiet: the terminal shows the URL
            pass

    return ThreadingHTTPServer((host, port), Handler)
