"""Prefect's environment for dualuse: set before ``prefect`` is first imported.

Runs without a configured server (Prefect's ephemeral mode: a temporary local API on loopback
backed by SQLite under the data directory), with analytics off and nothing sent anywhere.
"""

from __future__ import annotations

import os

from pipeline.settings import Settings, apply_offline_env


def configure_prefect(settings: Settings, *, quiet: bool = True) -> None:
    """Point Prefect at ``<home>/prefect``; keep any PREFECT_API_URL the user set (a real server)."""
    apply_offline_env()
    home = settings.prefect_home
    home.mkdir(parents=True, exist_ok=True)
    os.environ["PREFECT_HOME"] = str(home)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_ENABLED", "true")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    os.environ.setdefault("PREFECT_UI_ENABLED", "false")
    os.environ.setdefault("PREFECT_RESULTS_PERSIST_BY_DEFAULT", "false")
    if quiet:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
