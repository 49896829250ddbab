"""Shared route dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from shoptag.api.service import Service


def ready_service(request: Request) -> Service:
    service: Service = request.app.state.service
    if not service.ready:
        raise HTTPException(503, service.scrub_paths(service.load_error or "the model and index are still loading"),
                            headers={"Retry-After": str(service.settings.service.retry_after_s)})
    return service


ReadyService = Annotated[Service, Depends(ready_service)]

