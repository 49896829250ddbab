"""A creator's review of a finished job's suggestions (see ``api.reviews``)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from shoptag.api.auth import Creator
from shoptag.api.deps import ReadyService
from shoptag.api.errors import error_responses
from shoptag.api.reviews import ReviewIn, ReviewOut, check_decisions
from shoptag.api.routes.jobs import JobId
from shoptag.errors import CatalogUnavailableError, NotFoundError

router = APIRouter(prefix="/v1/jobs", tags=["reviews"])


@router.get("/{job_id}/review", response_model=ReviewOut, responses=error_responses(401, 403, 404, 503))
async def get_review(service: ReadyService, principal: Creator, job_id: JobId) -> ReviewOut:
    """The decisions saved for the job (revision 0 and none while nothing has been saved)."""
    job = await asyncio.to_thread(service.jobs.get, job_id, principal.owner)
    return await asyncio.to_thread(service.reviews.get, job)


@router.put("/{job_id}/review", response_model=ReviewOut,
            responses=error_responses(400, 401, 403, 404, 408, 409, 413, 422, 503))
async def put_review(service: ReadyService, principal: Creator, job_id: JobId, review: ReviewIn) -> ReviewOut:
    """Replace the job's decisions. `revision` is the one they were built from: if another
    save came in between, nothing is stored and the answer is 409 (load the review again)."""
    job = await asyncio.to_thread(service.jobs.get, job_id, principal.owner)
    stored = await asyncio.to_thread(service.reviews.get, job)  # saves compare revisions: it cannot change unseen

    def in_catalog(product_id: str, catalog: str) -> bool:
        if principal.catalogs is not None and catalog not in principal.catalogs:
            return False  # the key may no longer use it
        try:
            return product_id in service.catalogs.get(catalog).live.snapshot()
        except (NotFoundError, CatalogUnavailableError):  # a catalog removed, or broken, since the job ran
            return False

    review = await asyncio.to_thread(check_decisions, review, job, service.job_catalogs(job), in_catalog, stored)
    return await asyncio.to_thread(service.reviews.save, job, review, principal.owner)
