"""Scheduled crawls: one Prefect deployment per registered source, on the source's cron, served by
``dualuse schedule serve``. Schedules need a real Prefect server (ephemeral mode has no scheduler):
``dualuse schedule server`` starts one on loopback with SQLite under the data home; for several
workers or machines, point Prefect at PostgreSQL (PREFECT_API_DATABASE_CONNECTION_URL) instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from pipeline.errors import ConfigError, UsageError
from pipeline.settings import Settings

DEFAULT_API = "http://127.0.0.1:4200/api"


def api_url() -> str:
    return os.environ.get("PREFECT_API_URL") or DEFAULT_API


def server_reachable(url: str, timeout: float = 3.0) -> bool:
    """GET <api>/health. Plain urllib3 on purpose: the server is usually on loopback, which the
    crawler's fetcher refuses by design."""
    import urllib3

    try:
        resp = urllib3.PoolManager().request("GET", url.rstrip("/") + "/health", timeout=timeout, retries=False)
    except urllib3.exceptions.HTTPError:
        return False
    return resp.status == 200


def serve_schedules(settings: Settings, log: Callable[[str], None]) -> None:
    from flows.prefect_env import configure_prefect
    from pipeline.sources import load_sources

    url = api_url()
    if not server_reachable(url):
        raise ConfigError(
            f"no Prefect server answers at {url}: schedules need one",
            hint="start it in another terminal with 'dualuse schedule server' (or 'prefect server start'), "
                 f"then export PREFECT_API_URL={DEFAULT_API} and run this again")
    registry = load_sources(settings.sources_path)
    if not registry:
        raise UsageError(f"no sources in {settings.sources_path}", hint="add one: dualuse sources add NAME URL")
    os.environ["PREFECT_API_URL"] = url
    os.environ["PREFECT_SERVER_EPHEMERAL_ENABLED"] = "false"
    configure_prefect(settings, quiet=False)
    from prefect import serve
    from prefect.schedules import Cron
    from prefect.types.entrypoint import EntrypointType

    from flows.crawl import crawl_flow

    # Parameters are only what names the crawl; every other setting (allow_private, crawl_delay,
    # sources_file, ...) reaches the flow run from this process's environment, which the runner's
    # flow-run subprocesses inherit. The entrypoint is the module path (flows.crawl.crawl_flow), not a
    # file path relative to the current directory, so the deployment loads from any working directory
    # wherever dualuse is installed. Registry crons are UTC (pipeline/sources.py), so say so.
    deployments = [
        crawl_flow.to_deployment(name=f"crawl-{s.name}", schedules=[Cron(s.cron, timezone="UTC")],
                                 tags=["dualuse", *s.tags], parameters={"source": s.name, "home": str(settings.home)},
                                 entrypoint_type=EntrypointType.MODULE_PATH,
                                 description=f"Crawl {s.url} ({s.kind}) into {settings.home}")
        for s in registry
    ]
    log(f"serving {len(deployments)} crawl deployment(s) against {url}: "
        + ", ".join(f"{s.name} ({s.cron})" for s in registry))
    serve(*deployments)  # type: ignore[arg-type]  # to_deployment is sync here; its stubs admit a coroutine


def run_server(settings: Settings, port: int) -> int:
    """``prefect server start`` on 127.0.0.1 with its database under ``<home>/prefect``."""
    from flows.prefect_env import configure_prefect

    configure_prefect(settings, quiet=False)
    env = dict(os.environ, PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1")
    env.pop("PREFECT_API_URL", None)
    prefect = Path(sys.executable).with_name("prefect")  # the console script installed beside this Python
    cmd = [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    print(f"starting the Prefect server: export PREFECT_API_URL=http://127.0.0.1:{port}/api in the shell "
          "that runs 'dualuse schedule serve'", file=sys.stderr)
    return subprocess.call(cmd, env=env)
