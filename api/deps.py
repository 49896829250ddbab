"""Shared route dependencies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request

from shoptag.api.catalogs import Catalog
from shoptag.api.runner import JobRunner
from shoptag.api.service import Service
from shoptag.api.webhook_applier import WebhookApplier

# The lifespan (``api/app.py``) puts the running service's parts on ``app.state``; routes and
# the intake reach them only through these dependencies.


def running_service(request: Request) -> Service:
    """The service, ready or still loading (for health checks and what needs no model)."""
    return request.app.state.service


def job_runner(request: Request) -> JobRunner:
    return request.app.state.runner


def webhook_applier(request: Request) -> WebhookApplier:
    return request.app.state.applier


RunningService = Annotated[Service, Depends(running_service)]
Runner = Annotated[JobRunner, Depends(job_runner)]
Applier = Annotated[WebhookApplier, Depends(webhook_applier)]


def ready_service(service: RunningService) -> Service:
    if not service.ready:
        raise HTTPException(503, service.scrub_paths(service.load_error or "the model and index are still loading"),
                            headers={"Retry-After": str(service.settings.service.retry_after_s)})
    return service


ReadyService = Annotated[Service, Depends(ready_service)]


async def named_catalog(request: Request, service: ReadyService) -> AsyncIterator[Catalog]:
    """The catalog of a ``/v1/catalogs/{catalog}/...`` route, or for the same route without
    that prefix the one catalog the key may use; checked against the key (404 for any other),
    and held until the request is answered. The route's role dependency comes first, so a key
    without the role learns nothing."""
    async with service.catalogs.one(request.state.principal, request.path_params.get("catalog")) as catalog:
        yield catalog


NamedCatalog = Annotated[Catalog, Depends(named_catalog)]


class CatalogRoutes:
    """Routes of a catalog's resource, at ``/v1/catalogs/{catalog}/<name>`` and, for the key's
    one catalog, at ``/v1/<name>``: each decorator registers the endpoint on both routers (each
    route keeps its own full path, which metrics label answers by)."""

    def __init__(self, name: str, **options) -> None:
        self.routers = (APIRouter(prefix=f"/v1/catalogs/{{catalog}}/{name}", **options),
                        APIRouter(prefix=f"/v1/{name}", **options))

    def get(self, path: str, **options):
        return self._route("get", path, options)

    def put(self, path: str, **options):
        return self._route("put", path, options)

    def post(self, path: str, **options):
        return self._route("post", path, options)

    def delete(self, path: str, **options):
        return self._route("delete", path, options)

    def _route(self, method: str, path: str, options: dict):
        def register(endpoint):
            for router in self.routers:
                getattr(router, method)(path, **options)(endpoint)
            return endpoint

        return register
