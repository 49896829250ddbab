"""Asynchronous tagging: submit a video as a job, poll it, and play back its video."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse, JSONResponse

from shoptag.api.auth import Creator
from shoptag.api.deps import ReadyService, Runner
from shoptag.api.errors import error_responses
from shoptag.api.intake import VIDEO_FORM, IdempotencyKey, job_response, submit_video
from shoptag.api.limits import body_limit, upload_bytes
from shoptag.api.ranges import served_file
from shoptag.api.schemas import JobOut, NearestProductsOut, NearProduct
from shoptag.errors import NotFoundError, VideoError
from shoptag.video.container import check_container

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
JobId = Annotated[str, Path(max_length=64)]
_MEDIA_TYPES = {"mp4": "video/mp4", "matroska": "video/webm", "avi": "video/x-msvideo"}


@router.post("", status_code=202, response_model=JobOut, openapi_extra=VIDEO_FORM,
             responses=error_responses(400, 401, 403, 404, 408, 409, 413, 415, 422, 429, 503))
@body_limit(upload_bytes)
async def create_job(request: Request, service: ReadyService, runner: Runner, principal: Creator,
                     idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Queue a video for tagging; poll `GET /v1/jobs/{id}` for the result. The form holds the
    video (`file`) and optionally `fps`, `threshold`, `top_k`, `include_uncertain`, `profile`, and `catalogs`
    (comma-separated; default: every catalog the API key may use)."""
    job = await submit_video(request, service, runner, principal, idempotency_key, answer_now=False)
    return job_response(service, job, 202)


@router.get("/{job_id}", response_model=JobOut, responses=error_responses(401, 403, 404, 503))
async def get_job(service: ReadyService, principal: Creator, job_id: JobId) -> JSONResponse:
    """A job's status and progress; its result once it has succeeded, its error once it has failed."""
    return job_response(service, await asyncio.to_thread(service.jobs.get, job_id, principal.owner), 200)


@router.get("/{job_id}/video", response_class=FileResponse, responses={
    200: {"content": {media: {} for media in _MEDIA_TYPES.values()}, "description": "The uploaded video."},
    **error_responses(400, 401, 403, 404, 416, 503)})
async def get_job_video(request: Request, service: ReadyService, principal: Creator, job_id: JobId) -> FileResponse:
    """The job's video (byte ranges supported), kept for review for `job_video_retention_s` after
    the job succeeded: once tagged, a copy that every browser plays (H.264 MP4), else the upload."""
    job = await asyncio.to_thread(service.jobs.get, job_id, principal.owner)
    video = service.videos.kept(job)
    try:
        container = await asyncio.to_thread(check_container, video)
        size = video.stat().st_size
    except (VideoError, OSError):  # removed meanwhile
        raise NotFoundError(f"the video of job {job_id!r} is no longer kept") from None
    return served_file(request, video, size, media_type=_MEDIA_TYPES[container],
                       headers={"Cache-Control": "private, no-store"})


@router.get("/{job_id}/nearest-products", response_model=NearestProductsOut,
            responses=error_responses(401, 403, 404, 422, 503))
async def nearest_products(service: ReadyService, principal: Creator, job_id: JobId,
                           time_s: Annotated[float, Query(ge=0, le=86_400, description="Where in the video.")],
                           limit: Annotated[int, Query(ge=1, le=50)] = 12) -> NearestProductsOut:
    """The products of the job's catalogs that look most like the frame at `time_s` of its video,
    most similar first: the review page's product sheet, for adding a product the tagger missed."""
    job = await asyncio.to_thread(service.jobs.get, job_id, principal.owner)
    video = service.videos.kept(job)
    async with service.catalogs.chosen(principal, service.job_catalogs(job)) as chosen:
        index = await asyncio.to_thread(service.catalogs.view, chosen)
        try:
            ranked = await asyncio.to_thread(service.frame_search.nearest, service.embedder, index, video, time_s,
                                             limit)
        except FileNotFoundError:  # expired meanwhile
            raise NotFoundError(f"the video of job {job_id!r} is no longer kept") from None
    return NearestProductsOut(time_s=time_s, products=[
        NearProduct(product_id=index.products[p].product_id, title=index.products[p].title,
                    url=index.products[p].url, catalog=index.catalog_of(p), similarity=round(similarity, 4))
        for p, similarity in ranked])
