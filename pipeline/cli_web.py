"""``dualuse serve``: the web app and HTTP API (``pipeline.web``) under uvicorn. Registered on the main
group by ``pipeline.cli``."""

from __future__ import annotations

import os

import click

from pipeline.cli import _settings, main


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback needs DUALUSE_WEB_TOKEN set.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.pass_context
def serve(ctx: click.Context, host: str, port: int) -> None:
    """Serve the web app (search, claims, entities, dossiers) and the JSON API under /api/.

    Loopback only by default. With DUALUSE_WEB_TOKEN set every request needs the token
    (Authorization: Bearer TOKEN, or open /login?token=TOKEN once in a browser)."""
    from pipeline.web.security import TOKEN_ENV, check_bind

    token = os.environ.get(TOKEN_ENV) or None
    check_bind(host, token)
    settings = _settings(ctx)
    import uvicorn

    from pipeline.web.app import create_app

    app = create_app(settings, token=token, hosts=(host,))
    click.echo(f"loading models for {settings.home} ...", err=True)
    app.state.engine.warm_up()
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"serving on http://{shown}:{port}/" + (" (token required)" if token else ""), err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=False, server_header=False)
