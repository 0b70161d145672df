"""`assetflow ui`: the local web page."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import click

from assetflow.cli.main import Options, _Lazy, cli, console, session_mod, warehouse_option
from assetflow.run.clock import WallClock

if TYPE_CHECKING:  # the real modules, for the type checker; imported on first use
    import assetflow.web.server as web
else:
    web = _Lazy("assetflow.web.server")


@cli.command()
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="The port (0: any free one).")  # fmt: skip
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="The address to listen on; another than the loopback serves the page to other"
    " machines, so it must be asked for, and the page then needs a token (printed in its"
    " address, or ASSETFLOW_UI_TOKEN / ui_token).",
)
@warehouse_option
@click.pass_obj
def ui(opts: Options, port: int, host: str, warehouse: str | None) -> None:
    """Serve the local web page: the asset graph with each asset's health, each asset's
    partition grid, and a node's why. Each request opens the warehouse, reads and closes
    it, so runs from the command line are never held up (docs/ui.md). Ctrl-C stops it."""
    project = opts.project(warehouse)  # a bad project fails here, before serving

    loaded: dict[str, Any] = {}  # the definitions, kept while their files do not change
    fixed_now = None if isinstance(opts.clock, WallClock) else opts.now  # --now, if given

    def open_session(env: str | None) -> Any:
        """Without --now, each request is about its own moment; `env`: the environment the
        page looks at (None: the one it was started in)."""
        stamp = (session_mod.definitions_stamp(project), env)  # code versions are per env
        graph = loaded.get("graph") if loaded.get("stamp") == stamp else None
        session = session_mod.Session(project.in_env(env), opts.clock, fixed_now, graph)
        if graph is None:
            loaded.update(stamp=stamp, graph=session.graph)
        return session

    children: list[subprocess.Popen[bytes]] = []

    def launch(asset: str, first: str, last: str, backfill: bool, env: str) -> int:
        """A run of ASSET over FIRST..LAST in environment ENV, in a process of its own, as
        `materialize` (or as `backfill --yes`: oldest first, resumable)."""
        children[:] = [c for c in children if c.poll() is None]  # reap the finished
        clock: list[str] = [] if fixed_now is None else ["--now", fixed_now.isoformat()]
        where = ["--warehouse", warehouse] if warehouse else []
        command = ["backfill", "--yes"] if backfill else ["materialize"]
        child = subprocess.Popen(
            [sys.executable, "-m", "assetflow", "--project", str(project.root), *clock,
             "--env", env, *command, asset, "--from", first, "--to", last, "--trigger", "ui",
             *where],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        children.append(child)
        return child.pid

    # On the loopback only this machine reaches the page; anywhere else, it needs a token:
    # the configured one (not printed), or a new one printed in its address.
    token = given = None
    if not web.is_loopback(host):
        given = os.environ.get("ASSETFLOW_UI_TOKEN") or project.settings.ui_token
        token = given or secrets.token_urlsafe(24)
    server = web.make_server(open_session, host, port, launch, token)
    address = f"http://{host}:{server.server_port}/"
    if token is not None:
        address += "?token=" + ("<ui_token>" if given else token)
    console.out.print(f"assetflow ui: {address} — Ctrl-C stops it")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
