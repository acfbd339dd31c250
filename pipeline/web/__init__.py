"""The web app and HTTP API (``dualuse serve``): FastAPI, server-rendered pages, the CLI's JSON."""
