"""Liveness, readiness and Prometheus metrics (no auth: they reveal no catalog data)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from shoptag.api.deps import Runner, RunningService
from shoptag.api.errors import error_response, error_responses
from shoptag.api.schemas import LiveOut, ReadyOut

router = APIRouter(tags=["health"])


@router.get("/livez", response_model=LiveOut)
async def livez() -> LiveOut:
    """The process is up and answering."""
    return LiveOut()


@router.get("/readyz", response_model=ReadyOut, responses=error_responses(503))
async def readyz(service: RunningService, runner: Runner) -> Response:
    """200 once the model is loaded and warmed up and the index is loaded, while the job store
    answers; 503 otherwise."""
    retry = {"Retry-After": str(service.settings.service.retry_after_s)}
    if not service.ready:
        if service.load_error:
            return error_response(503, "load_failed", service.scrub_paths(service.load_error))
        return error_response(503, "not_ready", "the model and index are still loading", retry)
    if runner.error:
        return error_response(503, "jobs_unavailable", service.scrub_paths(runner.error), retry)
    catalogs = service.catalogs
    if catalogs.single is None:
        return ReadyOut(model=service.embedder.identity, catalogs=len(await asyncio.to_thread(catalogs.names)),
                        catalogs_unavailable=len(catalogs.unavailable()))
    index = catalogs.get(catalogs.single).live.current  # loaded before the service was ready
    return ReadyOut(model=service.embedder.identity, catalogs=1, index_version=index.version,
                    products=len(index.products))


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format."}})
async def metrics(service: RunningService) -> Response:
    # Rendering asks the job store for its queue depth: never on the event loop.
    return Response(await asyncio.to_thread(service.metrics.render), media_type=CONTENT_TYPE_LATEST)


# Health checks that use HEAD get the same answers (without a body).
for _path, _check in (("/livez", livez), ("/readyz", readyz)):
    router.add_api_route(_path, _check, methods=["HEAD"], include_in_schema=False)
