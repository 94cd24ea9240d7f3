"""python -m services.simulator: local fake exchanges for demos and tests (no internet, no keys)."""
from __future__ import annotations

import logging

from aiohttp import web

from services.simulator.app import create_app
from shared.service import load_or_exit

log = logging.getLogger(__name__)


def main() -> None:
    settings = load_or_exit("simulator")
    log.info("simulator listening", extra={"port": settings.simulator.port, "rate": settings.simulator.rate})
    web.run_app(create_app(settings), host=settings.bind_host, port=settings.simulator.port,
                print=None, access_log=None)


if __name__ == "__main__":
    main()
