"""The one exception hierarchy of ShopTag.

Library code raises these; only the CLI (exit codes) and the API (HTTP statuses) translate
them. Each class carries a stable machine-readable ``code`` so that both front ends can
report the same problem the same way.
"""

from __future__ import annotations


class ShopTagError(Exception):
    """Base class: a problem the user can act on, described in one line."""

    code = "shoptag_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(ShopTagError):
    """A setting, option or file of the deployment cannot be used: the operator's to fix (the
    CLI's user, or a service's configuration, which the API reports as its own failure)."""

    code = "bad_config"


class InvalidRequestError(ShopTagError):
    """What a service's client sent cannot be used: a form field, a review, a webhook payload,
    the catalogs it asks for. The client's to fix."""

    code = "invalid_request"


class ModelError(ShopTagError):
    """An embedder could not be created."""

    code = "model_error"


class UnknownModelSpecError(ModelError):
    code = "unknown_model"


class ModelWeightsUnavailableError(ModelError):
    code = "weights_unavailable"


class CatalogError(ShopTagError):
    """The catalog file as a whole cannot be read (single bad rows are only skipped)."""

    code = "bad_catalog"


class ImageLoadError(ShopTagError):
    """One image could not be read, decoded, or is too large to decode safely."""

    code = "bad_image"


class IndexBuildError(ShopTagError):
    code = "index_build_failed"


class IndexLoadError(ShopTagError):
    """An index folder is missing, incomplete or corrupted."""

    code = "bad_index"


class IndexModelMismatchError(IndexLoadError):
    """The index was built with other weights than the embedder in use."""

    code = "index_model_mismatch"


class VideoError(ShopTagError):
    code = "bad_video"


class UnsupportedContainerError(VideoError):
    """The bytes are not one of the accepted video containers."""

    code = "unsupported_media"


class VideoDecodeError(VideoError):
    """The container is accepted but its frames cannot be decoded (empty, truncated...)."""

    code = "undecodable_video"


class VideoLimitError(VideoError):
    """Duration, frame count or resolution is above the configured limit."""

    code = "video_too_large"


class NotFoundError(ShopTagError):
    """A product, job or other named thing does not exist (or is not visible to the caller)."""

    code = "not_found"


class ServiceBusyError(ShopTagError):
    """Every worker and queue slot is taken; the caller should retry later."""

    code = "busy"


class IdempotencyConflictError(ShopTagError):
    """An idempotency key was reused for a different request."""

    code = "idempotency_conflict"


class FetchError(ShopTagError):
    """A URL could not be downloaded, or was refused (scheme, private address, size)."""

    code = "fetch_failed"


class ReviewConflictError(ShopTagError):
    """A review was saved by someone else since the revision the caller started from, or the
    job cannot be reviewed yet."""

    code = "conflict"


class ShopifyError(ShopTagError):
    """Shopify's Admin API refused, failed or answered something unusable."""

    code = "shopify_error"


class JobNotFinishedError(ShopTagError):
    """The job has no result (yet): what needs one, a review, must wait."""

    code = "job_not_finished"


class CatalogUnavailableError(ShopTagError):
    """A catalog that exists cannot be loaded (damaged, or built with another model)."""

    code = "catalog_unavailable"


class BatchError(ShopTagError):
    """A batch job's workers could not start, or all ended before its videos were done."""

    code = "batch_failed"
