"""Assembles the FastAPI app; the routes, the pool, the jobs and the metrics live elsewhere.

The lifespan takes the state folder (``Service``), starts answering at once (/livez, and
/readyz says 503) while the model and index load in a thread, then starts the job runner.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from contextlib import asynccontextmanager

from fastapi import FastAPI

from shoptag import __version__
from shoptag.api.auth import Authenticate, LoopbackOnly
from shoptag.api.errors import install_error_handlers
from shoptag.api.limits import BodyLimits
from shoptag.api.metrics import Metrics, MetricsMiddleware
from shoptag.api.routes import catalogs, health, jobs, page, product_images, products, reviews, tags, webhooks
from shoptag.api.runner import JobRunner
from shoptag.api.service import Service, path_scrubber
from shoptag.api.webhook_applier import WebhookApplier
from shoptag.errors import ShopTagError
from shoptag.model.base import Embedder
from shoptag.settings import Settings

logger = logging.getLogger(__name__)


_PRODUCTS = re.compile(r"/v1/(catalogs/[^/]+/)?products")


def streams_uploads(method: str, path: str) -> bool:
    """The routes that stream a multipart body into files: videos, and product photos."""
    if method == "POST":
        return path in ("/v1/tags", "/v1/jobs") or _PRODUCTS.fullmatch(path) is not None
    return method == "PUT" and (found := _PRODUCTS.match(path)) is not None and path[found.end():].startswith("/")


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
    routers = (health.router, page.router, tags.router, jobs.router, reviews.router, catalogs.router,
               *products.router.routers, *product_images.router.routers, webhooks.router)
    for router in routers:
        app.include_router(router)
    install_error_handlers(app, settings.service.retry_after_s, path_scrubber(settings),
                           [route for router in routers for route in router.routes])
    # Added last = outermost: metrics see every answer, and no body is read before the
    # caller is authenticated (or, without keys, known to be a local, same-site caller).
    config = settings.service
    app.add_middleware(BodyLimits, max_bytes=config.max_upload_bytes, idle_timeout_s=config.body_timeout_s,
                       upload_routes=streams_uploads,
                       min_bytes_per_s=config.min_body_bytes_per_s)
    app.add_middleware(Authenticate, keys=config.api_keys)
    if not config.api_keys:
        app.add_middleware(LoopbackOnly)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
