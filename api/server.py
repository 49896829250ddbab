"""Run the app under uvicorn, refusing an unsafe bind."""

from __future__ import annotations

import logging

from shoptag.errors import ConfigError
from shoptag.settings import Settings

logger = logging.getLogger(__name__)


def check_bind(settings: Settings) -> None:
    service = settings.service
    if not service.api_keys and not service.binds_loopback:
        raise ConfigError(
            f"refusing to serve on {service.host} without API keys: anyone who can reach it could "
            "change the catalog. Set SHOPTAG_SERVICE__API_KEYS or bind 127.0.0.1")


def serve(settings: Settings) -> None:
    import uvicorn

    from shoptag.api.app import create_app
    from shoptag.api.connections import ACCEPT_BACKLOG, AcceptErrorsOnce, ConnectionGuard, GuardedH11Protocol

    check_bind(settings)
    app = create_app(settings)  # refuses a state folder another service holds
    service = settings.service
    if service.api_keys:
        logger.warning("auth on: %d API key(s) configured", len(service.api_keys))
    else:
        logger.warning("no API keys configured: no auth, serving on loopback %s only", service.host)
    guard = ConnectionGuard.within_file_limit(service.max_connections, service.header_timeout_s,
                                              service.write_timeout_s)
    logging.getLogger("asyncio").addFilter(AcceptErrorsOnce())
    uvicorn.run(app, host=service.host, port=service.port, log_level="info", http=GuardedH11Protocol.factory(guard),
                backlog=ACCEPT_BACKLOG)
