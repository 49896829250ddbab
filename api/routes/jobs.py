"""Asynchronous tagging: submit a video as a job, then poll it."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from shoptag.api.auth import Creator
from shoptag.api.deps import ReadyService
from shoptag.api.errors import error_responses
from shoptag.api.intake import VIDEO_FORM, IdempotencyKey, job_response, submit_video
from shoptag.api.schemas import JobOut

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.post("", status_code=202, response_model=JobOut, openapi_extra=VIDEO_FORM,
             responses=error_responses(400, 401, 403, 408, 409, 413, 415, 422, 429, 503))
async def create_job(request: Request, service: ReadyService, principal: Creator,
                     idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Queue a video for tagging; poll `GET /v1/jobs/{id}` for the result. The form holds the
    video (`file`) and optionally `fps`, `threshold`, `top_k`, `include_uncertain`."""
    return job_response(await submit_video(request, service, principal, idempotency_key, answer_now=False), 202)


@router.get("/{job_id}", response_model=JobOut, responses=error_responses(401, 403, 404, 503))
async def get_job(service: ReadyService, principal: Creator,
                  job_id: Annotated[str, Path(max_length=64)]) -> JSONResponse:
    """A job's status; its result once it has succeeded, its error once it has failed."""
    return job_response(await asyncio.to_thread(service.jobs.get, job_id, principal.owner), 200)
