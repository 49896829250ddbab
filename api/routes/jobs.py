"""Asynchronous tagging: submit a video as a job, then poll it."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Annotated

from fastapi import APIRouter, Header, Path, Request
from fastapi.responses import JSONResponse

from shoptag.api.auth import Creator, Principal
from shoptag.api.deps import ReadyService
from shoptag.api.errors import error_responses
from shoptag.api.intake import VIDEO_FORM, ReceivedVideo, receive_tagging_request
from shoptag.api.jobs import Job
from shoptag.api.schemas import JobOut
from shoptag.api.service import Service
from shoptag.errors import ServiceBusyError

router = APIRouter(tags=["jobs"])

IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", min_length=1, max_length=200,
    description="Retrying with the same key returns the job the first attempt created.")]


async def job_queue_full(service: Service, principal: Principal, idempotency_key: str | None) -> bool:
    """True when a new job would be refused: the queue is full and this is not a retry of a
    job that exists (a retry is answered even then)."""
    if idempotency_key is not None and await asyncio.to_thread(
            service.jobs.find, principal.owner, idempotency_key) is not None:
        return False
    return await asyncio.to_thread(service.jobs.count, "queued") >= service.settings.service.max_queued_jobs


async def refuse_when_queue_full(service: Service, principal: Principal, idempotency_key: str | None) -> None:
    if await job_queue_full(service, principal, idempotency_key):
        raise ServiceBusyError(f"{service.settings.service.max_queued_jobs} jobs are already queued")


async def queue_job(request: Request, service: Service, principal: Principal, video: ReceivedVideo,
                    idempotency_key: str | None) -> JSONResponse:
    """Move the upload into job storage and queue it; answers 202 with the job."""
    await refuse_when_queue_full(service, principal, idempotency_key)  # it may have filled while the body arrived
    saved = video.upload.saved
    fingerprint = hashlib.sha256(
        (saved.sha256 + json.dumps(video.overrides, sort_keys=True)).encode()).hexdigest()
    stored = service.job_uploads / saved.path.name
    saved.path.rename(stored)
    try:
        job, created = await asyncio.to_thread(
            service.jobs.create, principal.owner, idempotency_key, fingerprint, video.upload.filename, stored,
            video.overrides)
    except BaseException:
        stored.unlink(missing_ok=True)
        raise
    if created:
        request.app.state.runner.wake()
    else:
        stored.unlink(missing_ok=True)  # a retry: the first attempt's copy is the one in use
    return _job_response(job, 202)


def _job_response(job: Job, status: int) -> JSONResponse:
    return JSONResponse(JobOut.model_validate(job.as_json()).model_dump(mode="json", exclude_none=True),
                        status_code=status, headers={"Location": f"/v1/jobs/{job.id}"})


@router.post("/v1/jobs", status_code=202, response_model=JobOut, openapi_extra=VIDEO_FORM,
             responses=error_responses(400, 401, 403, 408, 409, 413, 415, 422, 429, 503))
async def create_job(request: Request, service: ReadyService, principal: Creator,
                     idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Queue a video for tagging; poll `GET /v1/jobs/{id}` for the result. The form holds the
    video (`file`) and optionally `fps`, `threshold`, `top_k`."""
    video = await receive_tagging_request(
        request, service, lambda: refuse_when_queue_full(service, principal, idempotency_key))
    try:
        return await queue_job(request, service, principal, video, idempotency_key)
    finally:
        video.upload.saved.path.unlink(missing_ok=True)


@router.get("/v1/jobs/{job_id}", response_model=JobOut, response_model_exclude_none=True,
            responses=error_responses(401, 403, 404, 503))
async def get_job(service: ReadyService, principal: Creator,
                  job_id: Annotated[str, Path(max_length=64)]) -> JSONResponse:
    """A job's status; its result once it has succeeded, its error once it has failed."""
    job = await asyncio.to_thread(service.jobs.get, job_id, principal.owner)
    return _job_response(job, 200)
