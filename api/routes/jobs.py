"""Asynchronous tagging: submit a video as a job, then poll it."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Annotated

from fastapi import APIRouter, File, Header, Path, Request, UploadFile
from fastapi.responses import JSONResponse

from shoptag.api.auth import Creator, Principal
from shoptag.api.deps import ReadyService, TaggingOverrides
from shoptag.api.errors import error_responses
from shoptag.api.jobs import Job
from shoptag.api.schemas import JobOut
from shoptag.api.service import Service
from shoptag.api.uploads import SavedUpload, save_upload
from shoptag.errors import ServiceBusyError
from shoptag.video.container import check_container

router = APIRouter(tags=["jobs"])

VideoFile = Annotated[UploadFile, File(description="The video: MP4/MOV, WebM/MKV or AVI.")]
IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", min_length=1, max_length=200,
    description="Retrying with the same key returns the job the first attempt created.")]


async def receive_video(service: Service, file: UploadFile) -> SavedUpload:
    """Store the upload privately and refuse what is not a video container (415) at once."""
    saved = await asyncio.to_thread(save_upload, file.file, service.uploads, ".video")
    try:
        check_container(saved.path)
    except BaseException:
        saved.path.unlink(missing_ok=True)
        raise
    return saved


async def queue_job(request: Request, service: Service, principal: Principal, saved: SavedUpload,
                    video_name: str, overrides: dict, idempotency_key: str | None) -> JSONResponse:
    """Move ``saved`` into job storage and queue it; answers 202 with the job."""
    limit = service.settings.service.max_queued_jobs
    # A retry of a job that exists is answered even when the queue is full.
    retry = idempotency_key is not None and await asyncio.to_thread(
        service.jobs.find, principal.owner, idempotency_key) is not None
    if not retry and await asyncio.to_thread(service.jobs.count, "queued") >= limit:
        raise ServiceBusyError(f"{limit} jobs are already queued")
    fingerprint = hashlib.sha256(
        (saved.sha256 + json.dumps(overrides, sort_keys=True)).encode()).hexdigest()
    stored = service.job_uploads / saved.path.name
    saved.path.rename(stored)
    try:
        job, created = await asyncio.to_thread(
            service.jobs.create, principal.owner, idempotency_key, fingerprint, video_name, stored,
            overrides)
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


@router.post("/v1/jobs", status_code=202, response_model=JobOut,
             responses=error_responses(400, 401, 403, 409, 413, 415, 422, 429, 503))
async def create_job(request: Request, service: ReadyService, principal: Creator, file: VideoFile,
                     overrides: TaggingOverrides, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Queue a video for tagging; poll `GET /v1/jobs/{id}` for the result."""
    saved = await receive_video(service, file)
    try:
        await asyncio.to_thread(service.probe_video, saved.path, overrides)
        return await queue_job(request, service, principal, saved, file.filename or "upload",
                               overrides, idempotency_key)
    finally:
        saved.path.unlink(missing_ok=True)


@router.get("/v1/jobs/{job_id}", response_model=JobOut, response_model_exclude_none=True,
            responses=error_responses(401, 403, 404, 503))
async def get_job(service: ReadyService, principal: Creator,
                  job_id: Annotated[str, Path(max_length=64)]) -> JSONResponse:
    """A job's status; its result once it has succeeded, its error once it has failed."""
    job = await asyncio.to_thread(service.jobs.get, job_id, principal.owner)
    return _job_response(job, 200)
