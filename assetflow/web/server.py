"""`assetflow ui`: serves the page and its JSON API on 127.0.0.1 (another host only when
asked). Each API request opens a session, reads, and closes it: a run started from the CLI
never waits for the page longer than one read (docs/ui.md)."""

from __future__ import annotations

import hmac
import json
import threading
import urllib.parse
from collections.abc import Callable
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from assetflow.app import ui_automation, ui_data
from assetflow.app.live import LiveRun, cancel
from assetflow.app.session import Session, definitions_stamp
from assetflow.app.state import Snapshot
from assetflow.errors import AssetflowError, ExitCode

STATIC = Path(__file__).resolve().parent / "static"
FRESH_FOR = 5.0  # seconds a status snapshot is shown again (the page says `as of`)
MAX_GRIDS = 50  # assets in one selection grid
_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
READ_TIMEOUT = 5.0  # seconds a request may take to arrive
_COOKIE = "assetflow_token"


def _host_name(value: str) -> str:
    """The name of a Host header's value (`name:port`, `[::1]:port`), lowercased."""
    return (urllib.parse.urlsplit(f"//{value}").hostname or "").lower()


# (asset, first key, last key, as a backfill) -> the run's pid
Launch = Callable[[str, str, str, bool, str], int]  # asset, from, to, backfill, environment


def is_loopback(host: str) -> bool:
    return host.lower() in _LOOPBACK


def make_server(
    open_session: Callable[[str | None], Session],
    host: str,
    port: int,
    launch: Launch | None = None,
    token: str | None = None,
) -> ThreadingHTTPServer:
    """The server (not started); port 0 picks a free one (`server.server_port`). `launch`
    starts a run in a process of its own, as the CLI would (the page then follows it).
    With `token`, every request must carry it (off the loopback, anyone who reaches the port
    could otherwise read the warehouse and start runs): `?token=` on the page's address
    (which sets a cookie and drops it from the address), that cookie, or an
    `Authorization: Bearer` header.

    Every route answers for the environment its `env` parameter (or a POST's `env` field)
    names, else the one the page was started in: `open_session(env)`."""
    lock = threading.Lock()  # one read at a time: definitions load as Python modules
    # The host names the page answers to: those of the address it was started on, so that a
    # page on another name resolving here (DNS rebinding) is refused; any, when it listens
    # on every interface (which the user asked for).
    names = None if host in ("0.0.0.0", "::", "") else {host.lower(), *_LOOPBACK}
    kept: dict[str, Any] = {}  # the last status snapshot, shown for FRESH_FOR seconds

    def snapshot(session: Session) -> Snapshot:
        """The graph and a grid opened from it read one status: within FRESH_FOR seconds,
        with the definitions and the warehouse file unchanged, it is reused."""
        stamp = (definitions_stamp(session.project), session.project.env)
        age = session.clock.monotonic() - kept.get("at", -FRESH_FOR)
        if kept.get("stamp") != stamp or age >= FRESH_FOR:
            kept.update(snap=ui_data.snapshot(session), stamp=stamp, at=session.clock.monotonic())
        return kept["snap"]

    def api(path: str, query: dict[str, str]) -> Any:
        with lock, open_session(query.get("env") or None) as session:
            if path == "/api/envs":
                return ui_data.environments(session)
            if path == "/api/envs/diff":  # an environment against its parent
                return ui_data.env_diff(session, query.get("name", ""))
            if path == "/api/graph":
                return ui_data.graph(session, snapshot)
            if path.startswith("/api/assets/"):
                name = urllib.parse.unquote(path.removeprefix("/api/assets/"))
                run = LiveRun.read(session)
                first, last = query.get("from"), query.get("to")
                return ui_data.asset(session, name, snapshot, run, first, last)
            if path == "/api/grid":  # several assets' grids: a selection from the graph
                names = [n for n in query.get("assets", "").split(",") if n][:MAX_GRIDS]
                run = LiveRun.read(session)  # once for all of them
                return [ui_data.asset(session, name, snapshot, run) for name in names]
            if path == "/api/meta":  # an asset's declaration, columns, checks, latest builds
                return ui_data.asset_meta(session, query.get("asset", ""))
            if path == "/api/causes":  # an asset's causes, counted (the graph's hover)
                return ui_data.causes(session, query.get("asset", ""), snapshot)
            if path == "/api/why":
                return ui_data.why(session, query.get("asset", ""), query.get("partition", ""))
            if path == "/api/node":
                return ui_data.node(session, query.get("asset", ""), query.get("partition", ""))
            if path == "/api/runs":
                return ui_data.runs(session)
            if path == "/api/automation":
                return ui_automation.automation(session, snapshot)
            if path.startswith("/api/runs/"):
                return ui_data.run(session, urllib.parse.unquote(path.removeprefix("/api/runs/")))
        raise LookupError(path)

    def post(path: str, body: dict[str, Any]) -> Any:
        asset, first, last = (str(body.get(k, "")) for k in ("asset", "from", "to"))
        env = str(body.get("env") or "") or None
        if path == "/api/plan":
            with lock, open_session(env) as session:
                return ui_data.plan(session, asset, first, last)
        if path == "/api/promote":  # an environment into its parent (the page confirmed)
            with lock, open_session(None) as session:
                return ui_data.env_promote(session, str(body.get("name", "")))
        if path == "/api/cancel":
            with lock, open_session(env) as session:
                return {"cancelled": True, "pid": cancel(session, str(body.get("run", "")))}
        if path == "/api/launch" and launch is not None:
            with lock, open_session(env) as session:
                ui_data.plan(session, asset, first, last)  # bad input fails here, in one line
                env = session.project.env
            pid = launch(asset, first, last, bool(body.get("backfill")), env)
            return {"started": True, "pid": pid}
        raise LookupError(path)

    class Handler(BaseHTTPRequestHandler):
        timeout = READ_TIMEOUT  # a body shorter than its Content-Length holds no thread long

        def _allowed(self, url: urllib.parse.SplitResult) -> bool:
            """Whether the request carries the token, when there is one; a page address
            with `?token=` is answered with the cookie and the address without it."""
            if token is None:
                return True
            cookies = SimpleCookie(self.headers.get("Cookie") or "")
            sent = [
                cookies[_COOKIE].value if _COOKIE in cookies else "",
                (self.headers.get("Authorization") or "").removeprefix("Bearer "),
            ]
            if any(hmac.compare_digest(s.encode(), token.encode()) for s in sent if s):
                return True
            given = dict(urllib.parse.parse_qsl(url.query)).get("token", "")
            if given and hmac.compare_digest(given.encode(), token.encode()):
                self.send_response(303)
                self.send_header("Location", url.path or "/")
                self.send_header(
                    "Set-Cookie", f"{_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
                )
                self.send_header("Content-Length", "0")
                self.end_headers()
                return False
            self._send(401, "text/plain", "this page needs its token: open the address"
                       " `assetflow ui` printed (…/?token=…)")  # fmt: skip
            return False

        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            if not self._allowed(urllib.parse.urlsplit(self.path)):
                return
            # A page of another site cannot send this header without a CORS preflight,
            # which this server never allows: no run starts from elsewhere.
            if self.headers.get("X-Assetflow") != "1" or not self._known_host(origin=True):
                self._send(403, "application/json", json.dumps({"error": "forbidden"}))
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
            except (ValueError, OSError):  # not JSON, or not all of it came in time
                self._send(400, "application/json", json.dumps({"error": "the body is not JSON"}))
                return
            if not isinstance(body, dict):
                error = {"error": "the body is not a JSON object"}
                self._send(400, "application/json", json.dumps(error))
                return
            path = urllib.parse.urlsplit(self.path).path
            self._answer(lambda: post(path, body), path)

        def _known_host(self, origin: bool = False) -> bool:
            """The Host (and, for a POST, the Origin, when sent) name this server."""
            if names is None:
                return True
            sent = [self.headers.get("Host") or ""]
            if origin and self.headers.get("Origin"):
                sent.append(urllib.parse.urlsplit(self.headers["Origin"]).netloc)
            return all(_host_name(value) in names for value in sent)

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            if not self._known_host():
                self._send(403, "text/plain", "forbidden: unknown host")
                return
            url = urllib.parse.urlsplit(self.path)
            if not self._allowed(url):
                return
            if url.path == "/api/log":  # text, read from files only: no lock, no session
                self._log(dict(urllib.parse.parse_qsl(url.query)))
            elif url.path.startswith("/api/"):
                self._api(url.path, dict(urllib.parse.parse_qsl(url.query)))
            else:
                self._static(url.path)

        def _api(self, path: str, query: dict[str, str]) -> None:
            self._answer(lambda: api(path, query), path)

        def _answer(self, compute: Callable[[], Any], path: str) -> None:
            try:
                self._send(200, "application/json", json.dumps(compute(), default=str))
            except LookupError:
                self._send(404, "application/json", json.dumps({"error": f"no such page: {path}"}))
            except AssetflowError as exc:
                status = 400 if exc.exit_code == ExitCode.USAGE else 500
                self._send(status, "application/json", json.dumps({"error": exc.one_line()}))

        def _log(self, query: dict[str, str]) -> None:
            try:
                with open_session(None) as session:
                    text = ui_data.log(session, query.get("run", ""), query.get("asset"),
                                       query.get("partition"))  # fmt: skip
                self._send(200, "text/plain", text)
            except AssetflowError as exc:
                self._send(404, "text/plain", exc.one_line())

        def _static(self, path: str) -> None:
            name = "index.html" if path in ("", "/") else path.removeprefix("/static/")
            file = (STATIC / name).resolve()
            if not file.is_relative_to(STATIC) or not file.is_file():  # vendor/NAME/FILE too
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
