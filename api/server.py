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


class _StartupErrorShownOnce(logging.Filter):
    """Drops uvicorn's report of a lifespan that failed with a ShopTag error (a traceback):
    ``serve`` raises that error instead, and the CLI shows it as one line."""

    def __init__(self, app) -> None:
        super().__init__()
        self._app = app

    def filter(self, record: logging.LogRecord) -> bool:
        return self._app.state.startup_error is None


def serve(settings: Settings) -> None:
    import uvicorn

    from shoptag.api.app import create_app
    from shoptag.api.connections import ACCEPT_BACKLOG, AcceptErrorsOnce, ConnectionGuard, GuardedH11Protocol
    from shoptag.api.state_folder import check_state_folder_free

    check_bind(settings)
    check_state_folder_free(settings)
    app = create_app(settings)
    service = settings.service
    if service.api_keys:
        logger.warning("auth on: %d API key(s) configured", len(service.api_keys))
    else:
        logger.warning("no API keys configured: no auth, serving on loopback %s only", service.host)
    guard = ConnectionGuard.within_file_limit(service.max_connections, service.header_timeout_s,
                                              service.write_timeout_s)
    server = uvicorn.Server(uvicorn.Config(app, host=service.host, port=service.port, log_level="info",
                                           http=GuardedH11Protocol.factory(guard), backlog=ACCEPT_BACKLOG))
    logging.getLogger("asyncio").addFilter(AcceptErrorsOnce())
    startup_report = _StartupErrorShownOnce(app)
    logging.getLogger("uvicorn.error").addFilter(startup_report)
    try:
        server.run()
    except KeyboardInterrupt:  # Ctrl-C is how a foreground server is stopped (uvicorn.run does the same)
        pass
    except SystemExit:  # uvicorn's way out of a failed startup
        if app.state.startup_error is None:
            raise
    finally:
        logging.getLogger("uvicorn.error").removeFilter(startup_report)
    if app.state.startup_error is not None:  # e.g. a state folder another service holds
        raise app.state.startup_error
