"""The one path every video request takes, for `POST /v1/tags` and `POST /v1/jobs` alike:
a capacity check before its body is read (429), the streamed upload (its container checked
once, on the first bytes: 415), its parameters (422), the header probe (422, and the video's
length), then the decision: tag it now on a worker, or queue it as a job (202). All but the
tagging itself runs outside the worker pool."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Annotated, Literal

from fastapi import Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from shoptag.api.auth import Principal
from shoptag.api.catalogs import CATALOG_LIST_PATTERN
from shoptag.api.jobs import CATALOGS_PARAM, Job
from shoptag.api.runner import JobRunner
from shoptag.api.schemas import JobOut, multipart_form
from shoptag.api.service import Service
from shoptag.api.uploads import VideoUpload, receive_video, validated_fields
from shoptag.errors import ServiceBusyError
from shoptag.tagging.results import TagResult


class TaggingOverrides(BaseModel):
    """The tagging settings a request may change; anything else in the form is refused."""

    model_config = ConfigDict(extra="forbid")

    fps: Annotated[float, Field(gt=0, le=30, description="Frames sampled per second.")] | None = None
    threshold: Annotated[float, Field(ge=-1, le=1, description="Match threshold.")] | None = None
    top_k: Annotated[int, Field(ge=1, le=100, description="Candidates per region.")] | None = None
    include_uncertain: Annotated[bool, Field(
        description="Also return uncertain segments (weak evidence), marked uncertain.")] | None = None
    profile: Annotated[Literal["default", "fast"], Field(
        description="Speed profile: default, or fast (fewer keyframes; about twice as fast).")] | None = None


class VideoForm(TaggingOverrides):
    """A video request's fields: the tagging settings it changes and the catalogs it searches."""

    catalogs: Annotated[str, Field(
        max_length=20_000, pattern=CATALOG_LIST_PATTERN,
        description="The catalogs to search, comma-separated (default: every one the API key may use).")] | None = None

    def tagging(self) -> dict:
        return self.model_dump(exclude_none=True, exclude={"catalogs"})


# The request body as OpenAPI describes it: the routes read it themselves, as a stream.
VIDEO_FORM = multipart_form(VideoForm, {"file": {
    "type": "string", "format": "binary", "description": "The video: MP4/MOV, WebM/MKV or AVI."}}, ("file",))

IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", min_length=1, max_length=200,
    description="Retrying with the same key returns the job the first attempt created.")]


async def submit_video(request: Request, service: Service, runner: JobRunner, principal: Principal,
                       idempotency_key: str | None, answer_now: bool) -> TagResult | Job:
    """Receive one video request and either tag it (``answer_now``, and the video is short
    enough to answer within the request) or queue it for ``runner``; the upload never outlives
    the call except as a queued job's video."""

    with service.upload_places.place(principal.owner):
        # Refused before the body is read when nothing could take it: with answer_now, a free
        # worker or room in the job queue; otherwise room in the job queue.
        if not (answer_now and service.pool.free):
            await _refuse_when_queue_full(service, principal, idempotency_key)
        upload = await receive_video(request, service.folder.uploads)
    sampler = None
    try:
        form = validated_fields(VideoForm, upload.fields)
        overrides = form.tagging()
        async with service.catalogs.chosen(principal, form.catalogs.split(",") if form.catalogs else None) as chosen:
            catalogs = [catalog.name for catalog in chosen]
            sampler, info = await asyncio.to_thread(service.open_video, upload.saved.path, upload.filename,
                                                    upload.container, overrides)
            duration_s = info.duration_s
            if answer_now and duration_s is not None and duration_s <= service.settings.service.sync_max_duration_s:
                return await service.pool.run(service.tag_video, sampler, overrides, catalogs)
        await _refuse_when_queue_full(service, principal, idempotency_key)  # it may have filled meanwhile
        return await _queue_job(service, runner, principal, upload, {**overrides, CATALOGS_PARAM: catalogs},
                                idempotency_key)
    finally:
        # Whatever happened (refused, cancelled, done): a sampler the worker has started
        # decoding is its own to release, one it never reached is released here.
        if sampler is not None:
            sampler.close()
        upload.saved.path.unlink(missing_ok=True)


def job_response(service: Service, job: Job, status: int) -> JSONResponse:
    return JSONResponse(JobOut.of(job, service.progress.of(job)).model_dump(mode="json"), status_code=status,
                        headers={"Location": f"/v1/jobs/{job.id}"})


async def _refuse_when_queue_full(service: Service, principal: Principal, idempotency_key: str | None) -> None:
    """Raise ``ServiceBusyError`` when a new job would be refused: the queue is full and this is
    not a retry of a job that exists (a retry is answered even then)."""
    if idempotency_key is not None and await asyncio.to_thread(
            service.jobs.find, principal.owner, idempotency_key) is not None:
        return
    limit = service.settings.service.max_queued_jobs
    if await asyncio.to_thread(service.jobs.count, "queued") >= limit:
        raise ServiceBusyError(f"{limit} jobs are already queued")


async def _queue_job(service: Service, runner: JobRunner, principal: Principal, upload: VideoUpload,
                     params: dict, idempotency_key: str | None) -> Job:
    """Move the upload into job storage and queue it (or, for a retry, find the first attempt's job)."""
    saved = upload.saved
    fingerprint = hashlib.sha256((saved.sha256 + json.dumps(params, sort_keys=True)).encode()).hexdigest()
    stored = service.folder.job_videos / saved.path.name
    saved.path.rename(stored)
    try:
        job, created = await asyncio.to_thread(
            service.jobs.create, principal.owner, idempotency_key, fingerprint, upload.filename, stored, params)
    except BaseException:
        stored.unlink(missing_ok=True)
        raise
    if created:
        runner.wake()
    else:
        stored.unlink(missing_ok=True)  # a retry: the first attempt's copy is the one in use
    return job
