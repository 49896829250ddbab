"""Assembles the FastAPI app; the routes, the pool, the jobs and the metrics live elsewhere.

The lifespan takes the state folder (``Service``), starts answering at once (/livez, and
/readyz says 503) while the model and index load in a thread, then starts the job runner.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from starlette.routing import BaseRoute

from shoptag import __version__
from shoptag.api.auth import Authenticate, LoopbackOnly
from shoptag.api.errors import install_error_handlers
from shoptag.api.limits import BodyLimits, RouteBodyLimits
from shoptag.api.metrics import Metrics, MetricsMiddleware
from shoptag.api.routes import catalogs, health, jobs, page, product_images, products, reviews, tags, webhooks
from shoptag.api.runner import JobRunner
from shoptag.api.service import Service, path_scrubber
from shoptag.api.webhook_applier import WebhookApplier
from shoptag.errors import ShopTagError
from shoptag.model.base import Embedder
from shoptag.settings import Settings

logger = logging.getLogger(__name__)


ROUTERS = (health.router, page.router, tags.router, jobs.router, reviews.router, catalogs.router,
           *products.router.routers, *product_images.router.routers, webhooks.router)


def api_routes(routers: Sequence[APIRouter] = ROUTERS) -> list[BaseRoute]:
    """The service's routes in the order the app tries them (each with its full path)."""
    return [route for router in routers for route in router.routes]


def create_app(settings: Settings, embedder: Embedder | None = None) -> FastAPI:
    """``embedder`` replaces the one ``settings.model`` names (tests share one model). Nothing
    is opened here: the lifespan takes the state folder and starts the service, so an app can
    be built (for its OpenAPI document, say) without touching any folder."""
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.startup_error = None
        try:
            service = Service(settings, metrics, embedder)
        except ShopTagError as exc:
            app.state.startup_error = exc  # for serve() to report as the CLI reports errors
            raise
        task = None
        try:
            runner, applier = JobRunner(service), WebhookApplier(service)
            app.state.service, app.state.runner, app.state.applier = service, runner, applier

            async def start() -> None:
                await asyncio.to_thread(service.load)
                if service.ready:
                    await asyncio.gather(runner.run_forever(), applier.run_forever())

            task = asyncio.create_task(start())
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            service.pool.shutdown()
            service.close()

    app = FastAPI(title="ShopTag", version=__version__, lifespan=lifespan,
                  description="Suggests which catalog products appear in a video, and when.")
    app.state.startup_error = None
    routers = ROUTERS
    for router in routers:
        app.include_router(router)
    routes = api_routes(routers)
    install_error_handlers(app, settings.service.retry_after_s, path_scrubber(settings), routes)
    # Added last = outermost: metrics see every answer, and no body is read before the
    # caller is authenticated (or, without keys, known to be a local, same-site caller).
    config = settings.service
    app.add_middleware(BodyLimits, limit_of=RouteBodyLimits(routes, settings),
                       idle_timeout_s=config.body_timeout_s, min_bytes_per_s=config.min_body_bytes_per_s)
    app.add_middleware(Authenticate, keys=config.api_keys)
    if not config.api_keys:
        app.add_middleware(LoopbackOnly)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
