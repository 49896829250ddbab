"""Shared route dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Form, HTTPException, Request

from shoptag.api.service import Service


def ready_service(request: Request) -> Service:
    service: Service = request.app.state.service
    if not service.ready:
        raise HTTPException(503, service.load_error or "the model and index are still loading",
                            headers={"Retry-After": str(service.settings.service.retry_after_s)})
    return service


ReadyService = Annotated[Service, Depends(ready_service)]


def tagging_overrides(
    fps: Annotated[float | None, Form(gt=0, le=30, description="Frames sampled per second.")] = None,
    threshold: Annotated[float | None, Form(ge=-1, le=1, description="Match threshold.")] = None,
    top_k: Annotated[int | None, Form(ge=1, le=100, description="Candidates per region.")] = None,
) -> dict:
    return {k: v for k, v in {"fps": fps, "threshold": threshold, "top_k": top_k}.items() if v is not None}


TaggingOverrides = Annotated[dict, Depends(tagging_overrides)]
