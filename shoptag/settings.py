"""One settings object for the whole program.

Values come from CLI flags or ``SHOPTAG_*`` environment variables (nested with ``__``,
e.g. ``SHOPTAG_TAGGING__FPS=4``) and are passed down explicitly; nothing reads the
environment anywhere else.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# A catalog's name is its folder's name in a data folder, and a path segment of the API.
CATALOG_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
DEFAULT_MODEL_SPEC = "openclip:ViT-B-32:laion2b_s34b_b79k"
OFFLINE_MODEL_SPEC = "effnet-lite0"


class _Strict(BaseModel):
    # A misspelled option must fail loudly instead of being silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSettings(_Strict):
    spec: str = Field(DEFAULT_MODEL_SPEC, description="Embedder spec, see `shoptag.model`.")
    threads: int = Field(0, ge=0, description="CPU threads of the model's runtime (torch or ONNX Runtime); "
                         "0 keeps its default (every core).")
    batch_size: int = Field(32, ge=1, le=1024)
    allow_download: bool = Field(
        True, description="Fetch missing pretrained weights from the model hub (needs network)."
    )
    cache_dir: Path | None = Field(None, description="Where downloaded weights and made ONNX graphs are "
                                   "cached (default: the hub's own cache; ONNX graphs: default_model_cache()).")


class ImageLimits(_Strict):
    max_bytes: int = Field(20 * 1024 * 1024, ge=1)
    max_pixels: int = Field(40_000_000, ge=1)


def default_model_cache() -> Path:
    """Where ONNX graphs made from installed weights are kept, e.g. ``~/.cache/shoptag/models``."""
    return platformdirs.user_cache_path("shoptag", appauthor=False) / "models"


def default_fetch_cache() -> Path:
    """The user's cache folder for ShopTag downloads, e.g. ``~/.cache/shoptag/downloads``
    (``$XDG_CACHE_HOME`` honoured). Only a path: the fetcher creates it on its first write."""
    return platformdirs.user_cache_path("shoptag", appauthor=False) / "downloads"


class FetchSettings(_Strict):
    timeout_s: float = Field(15.0, gt=0, description="The most one download may take, all told: its connects, "
                             "reads, redirects, retries and the waits between them share this one deadline.")
    retries: int = Field(3, ge=0, le=10, description="Retries after a dropped connection, 429 or 5xx, while the "
                         "download's deadline leaves time for the wait.")
    backoff_s: float = Field(0.5, ge=0, description="First retry delay; doubles on each retry.")
    max_redirects: int = Field(5, ge=0, le=20)
    allow_hosts: tuple[str, ...] = Field(
        (), description="Hosts fetched even though they resolve to private or loopback addresses.")
    cache_dir: Path | None = Field(
        default_factory=default_fetch_cache, description="Content-addressed download cache (default: "
        "the user cache folder's shoptag/downloads, e.g. $XDG_CACHE_HOME/shoptag/downloads); empty keeps no cache.")

    @field_validator("cache_dir", mode="before")
    @classmethod
    def _empty_is_none(cls, value):
        return None if isinstance(value, str) and not value.strip() else value


class VideoLimits(_Strict):
    max_duration_s: float = Field(600.0, gt=0)
    max_frames: int = Field(60_000, ge=1)
    max_width: int = Field(3840, ge=16)
    max_height: int = Field(3840, ge=16)


# Marks a tagging setting that is applied to a finished scan (segments, bars, merging): a
# scan made with other values of it is still good, so evaluation reuses it. Every setting not
# marked may change what the scan records.
_AFTER_SCAN = {"after_scan": True}


# A speed profile is a named set of tagging defaults: a setting given explicitly (flag, variable,
# request field) keeps its value whatever the profile. "default" is the fields' own defaults.
PROFILES: dict[str, dict[str, object]] = {
    "default": {},
    "fast": {"keyframe_interval": 4},
}


class TaggingSettings(_Strict):
    profile: Literal["default", "fast"] = Field(
        "default", description="Speed profile: default, or fast (fewer keyframes; see PROFILES). A setting "
        "given explicitly keeps its value in either.")
    fps: float = Field(2.0, gt=0, le=30)
    threshold: float | None = Field(
        None, ge=-1, le=1, json_schema_extra=_AFTER_SCAN,
        description="Match threshold; None uses the model's measured default.")
    top_k: int = Field(5, ge=1, le=100)
    max_gap_s: float = Field(1.0, ge=0, description="Hits closer than this merge into one segment.")
    min_hits: int = Field(
        2, ge=1, json_schema_extra=_AFTER_SCAN, description="Segments with fewer sampled hits are flickers.")
    region_scales: tuple[Annotated[float, Field(gt=0, le=1)], ...] = Field(
        (1.0, 0.6, 0.4), min_length=1, description="Crop sizes as fractions of the frame."
    )
    region_pooling: bool = Field(
        True, description="Embed all regions from one forward pass where the model supports it; "
        "false embeds each crop separately.")
    text_weight: float = Field(
        0.2, ge=0, le=1, json_schema_extra=_AFTER_SCAN,
        description="Share of the product title's similarity to the frame in an "
        "embedding score, for models with a text tower (CLIP); image-only models ignore it.")
    min_brightness: float = Field(12.0, ge=0, le=255)
    min_sharpness: float = Field(15.0, ge=0)
    verify: bool = Field(
        True, description="Check candidates geometrically (SIFT + RANSAC) when the index has features.")
    min_inliers: int = Field(12, ge=4, description="RANSAC inliers that make a candidate a verified hit.")
    verify_side: int = Field(
        960, ge=240, le=1920, description="Long side (px) frames are searched for SIFT points at, smaller ones "
        "upscaled up to 2x: a product at a given share of the frame has the same pixels whatever the video's "
        "resolution. Textured products under 15% of the frame's width reached 12 inliers in 92% of frames at "
        "960 and 58% at 640, for 133 and 76 ms of SIFT a frame.")
    verify_floor: float = Field(0.30, ge=-1, le=1, description="Embedding score a candidate needs to be verified.")
    verify_candidates: int = Field(6, ge=1, le=20, description="Best candidates per keyframe that are verified.")
    vote_candidates: int = Field(
        10, ge=0, le=20, description="Also verified: the products most of the keyframe's SIFT descriptors vote for "
        "(0: embedding candidates only).")
    min_votes: int = Field(5, ge=1, description="Descriptor votes a product needs to be a candidate.")
    track: bool = Field(
        True, description="Verify a product again in the frames after it was verified, even when the "
        "embedding no longer ranks it among the best candidates.")
    keyframe_interval: int = Field(
        2, ge=1, le=60, description="Full discovery (whole-frame SIFT, descriptor votes, object proposals, "
        "alignment candidates, region embeddings) on every n-th sampled frame, and on any frame whose picture "
        "changed (keyframe_change) or where a product followed in the frame before is lost; the frames between "
        "only follow the products being tracked, around where they were. 1: every frame is a keyframe.")
    keyframe_change: float = Field(
        255.0, ge=0, le=255, description="Mean grey-level difference (0-255, on a 32x18 thumbnail) from the last "
        "keyframe that makes a frame a keyframe (a cut, a fast pan); 255: never.")
    follow_margin: float = Field(
        0.25, ge=0, le=5, description="Between keyframes, a followed product is searched in its last box grown by "
        "this share of its sides per sampled frame since it was seen (looking back: per frame back).")
    align: bool = Field(
        True, description="Check textureless candidates photometrically (their catalog photo aligned onto "
        "object proposals) when the index has templates.")
    align_candidates: int = Field(
        15, ge=1, le=100, description="Textureless catalog images aligned per frame: those whose colour layout "
        "and embedding best match an object proposal.")
    max_proposals: int = Field(300, ge=1, le=2000, description="Object proposals per frame.")
    min_alignment: float = Field(
        0.8, ge=0, le=1, description="Correlation of an aligned catalog photo's detail with the frame's that "
        "makes a textureless candidate an aligned hit.")
    aligned_similarity: float | None = Field(
        None, ge=-1, le=1, description="Embedding similarity that an aligned box, cropped, needs to its product's "
        "photo; None: the model's crop threshold less aligned_similarity_slack.")
    aligned_similarity_slack: float = Field(
        0.2, ge=0, le=2, description="How far under the model's crop threshold an aligned box's crop may be (when "
        "aligned_similarity is None): a gradient print aligns with any facade of its colour layout (correlation "
        "0.84) whose crop is no more like the print (0.31-0.33) than unrelated photos are, while 95% of true "
        "alignments reached 0.44.")
    track_alignment_slack: float = Field(
        0.1, ge=0, le=1, description="Within the tracking horizon of a confirmed frame, an alignment this much "
        "under min_alignment continues the track (a product turns or blurs and its correlation wavers).")
    support_alignment_slack: float = Field(
        0.3, ge=0, le=1, json_schema_extra=_AFTER_SCAN,
        description="An alignable product seen by its embedding alone needs its photo aligned at least this much "
        "under min_alignment (over three catalog-scale seeds, such segments were 2 right, aligned at 0.61-0.68, "
        "and 5 wrong, never aligned).")
    fallback_margin: float = Field(
        0.05, ge=0, le=1, json_schema_extra=_AFTER_SCAN,
        description="With verification on, an unverified textureless product needs threshold + this.")
    background_margin: float = Field(
        0.05, ge=0, le=1, json_schema_extra=_AFTER_SCAN,
        description="A product seen by its embedding alone needs this much more than its "
        "highest similarity to the index's background bank of product-free footage.")
    min_embedding_hits: int = Field(
        3, ge=1, json_schema_extra=_AFTER_SCAN,
        description="Sampled hits a segment seen by its embedding alone needs; fewer is uncertain.")
    alternative_similarity: float = Field(
        0.7, ge=-1, le=1, json_schema_extra=_AFTER_SCAN,
        description="Products whose catalog images are at least this similar, seen at one "
        "place, are one tag with alternatives (effnet-lite0: variants 0.61-1.0, different products' 99th "
        "percentile 0.63).")
    look_alone_tags: bool = Field(
        False, json_schema_extra=_AFTER_SCAN,
        description="With geometry available, a product that neither geometry nor alignment can judge (too few "
        "SIFT points, no template with detail) seen by its embedding alone is a tag (true), or by default only a "
        "question: an uncertain segment, returned with include_uncertain. A smooth print or a plain object looks "
        "like a wall; its only evidence is that the frame looks like it.")
    include_uncertain: bool = Field(
        False, json_schema_extra=_AFTER_SCAN,
        description="Also return uncertain segments (embedding evidence under the product's bar, or "
        "too few hits), marked uncertain.")

    def resolved(self) -> TaggingSettings:
        """These settings with the profile's defaults in place of the values not given explicitly."""
        preset = {name: value for name, value in PROFILES[self.profile].items() if name not in self.model_fields_set}
        return self.model_copy(update=preset) if preset else self

    def given(self) -> dict:
        """The values given explicitly (what a request's overrides are laid over)."""
        return self.model_dump(include=self.model_fields_set)

    @classmethod
    def after_scan_names(cls) -> frozenset[str]:
        """The settings applied to a finished scan (marked ``_AFTER_SCAN``): changing them needs no new scan."""
        return frozenset(name for name, field in cls.model_fields.items()
                         if isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get("after_scan"))


class ApiKey(_Strict):
    key: SecretStr = Field(min_length=16, description="The bearer token clients send.")
    role: Literal["creator", "merchant"] = Field(
        description="creator: tagging and jobs; merchant: also product changes.")
    name: str = Field("", description="Who holds the key, for logs.")
    catalogs: tuple[Annotated[str, Field(pattern=CATALOG_NAME_PATTERN + "|^[*]$")], ...] = Field(
        (), max_length=10_000, description="The catalogs the key may use (\"*\": every one). A service of "
        "one catalog (--index) needs none; one of many (--data) refuses a key that names none.")


class IndexSettings(_Strict):
    type: Literal["auto", "flat", "hnsw", "ivfpq"] = Field(
        "auto", description="FAISS index type; auto: exact below 10,000 images, HNSW above.")
    keep: int = Field(3, ge=1, le=100, description="Index versions kept for rollback.")
    background_footage: tuple[Path, ...] = Field(
        (), max_length=100, description="Product-free videos whose region embeddings form a new index's "
        "background bank (calibration); empty: the bundled street clip.")


_SHOP_DOMAIN = r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$"


class ShopifySettings(_Strict):
    access_token: SecretStr | None = Field(
        None, description="Admin API access token of the app (read_products); never a flag, never logged.")
    webhook_secret: SecretStr | None = Field(
        None, min_length=16, description="The app's shared secret that signs webhooks; without it the service "
        "refuses them (an empty or short one is refused: it would let anyone sign).")
    shop: str | None = Field(
        None, pattern=_SHOP_DOMAIN, description="The shop whose webhooks this service "
        "applies (X-Shopify-Shop-Domain); others are answered and ignored. None: any shop the secret signs for.")
    shop_catalogs: dict[Annotated[str, Field(pattern=_SHOP_DOMAIN)],
                        Annotated[str, Field(pattern=CATALOG_NAME_PATTERN)]] = Field(
        {}, max_length=10_000, description="For a service of many catalogs (--data): each shop's catalog, which "
        "its webhooks change (JSON object, shop domain -> catalog); other shops' webhooks are ignored.")
    storefront_url: str | None = Field(
        None, pattern=r"^https?://\S+$", description="Storefront for webhook products' urls "
        "(STOREFRONT/products/<handle>); without it a product keeps the url it has. A service of many "
        "catalogs uses each shop's own https://<shop> instead.")
    api_version: str = Field("2025-10", pattern=r"^\d{4}-\d{2}$|^unstable$", description="Admin API version.")
    api_url: str | None = Field(
        None, pattern=r"^https?://\S+$", description="The GraphQL endpoint, when not "
        "https://<shop>/admin/api/<api_version>/graphql.json (a proxy; the tests' fake shop).")
    bulk_above: int = Field(
        250, ge=0, description="Shops with more products than this are read with a bulk operation, smaller "
        "ones page by page.")
    page_size: int = Field(25, ge=1, le=250, description="Products per page when paging (halved while Shopify "
                           "finds a page too costly).")
    timeout_s: float = Field(30.0, gt=0, description="Per request.")
    retries: int = Field(5, ge=0, le=20, description="Retries of a throttled, 429, 5xx or dropped request.")
    max_wait_s: float = Field(60.0, gt=0, description="Longest pause before a retry (Retry-After, throttling).")
    bulk_timeout_s: float = Field(3600.0, gt=0, description="Longest wait for a bulk operation to complete.")
    poll_s: float = Field(2.0, gt=0, description="Pause between polls of a bulk operation.")
    webhook_queue_per_shop: int = Field(
        1000, ge=1, le=1_000_000, description="Webhook events of one shop waiting to be applied; past it a "
        "delivery is answered 429 and Shopify delivers it again later (nothing answered 200 is dropped).")
    webhook_max_body_bytes: int = Field(
        2 * 1024 * 1024, ge=1024, le=2 * 1024 * 1024, description="Largest webhook body read (413 past it); at "
        "most the 2 MiB any body read into memory may have.")
    webhook_max_stored_bytes: int = Field(
        256 * 1024, ge=1024, le=2 * 1024 * 1024, description="Largest part of a webhook payload stored: only "
        "what applying reads (id, handle, title, status, vendor, type, tags, updated_at, image URLs); a "
        "product whose part is larger is refused (422).")
    webhook_events_listed: int = Field(
        200, ge=1, le=10_000, description="Most webhook events GET /v1/webhooks/events lists at once (its "
        "?limit= is capped to it).")


class RaySettings(_Strict):
    address: str | None = Field(
        None, max_length=500, description="The Ray cluster to run `--engine ray` jobs on (ray://HOST:10001, or "
        "auto for the one this machine belongs to); None starts a local Ray on this machine.")
    num_cpus: int | None = Field(None, ge=1, description="CPUs of a local Ray (default: every core).")
    workers: int = Field(2, ge=1, le=10_000, description="Actors that embed catalog images or tag videos, each "
                         "holding the model (and for tagging, the index) once.")
    batch_size: int = Field(16, ge=1, le=1024, description="Catalog images per embedding batch.")


class BatchSettings(_Strict):
    workers: int = Field(0, ge=0, le=256, description="Processes of in-process batch tagging, each with the "
                         "model and index loaded once; 0: one per core.")
    max_video_bytes: int = Field(256 * 1024 * 1024, ge=1024, description="Largest video fetched from a URL.")
    video_timeout_s: float = Field(3600.0, gt=0, description="Longest one video may take in process; past it "
                                   "its worker is ended, the video recorded as failed, and a new worker started.")
    max_videos: int = Field(1_000_000, ge=1, description="Most videos one source may list.")


class ServiceSettings(_Strict):
    index: Path | None = Field(None, description="Index folder the service answers from (one catalog).")
    data_dir: Path | None = Field(
        None, description="Folder of named catalogs, one index folder each (<data>/<catalog>), that the service "
        "answers from instead of one index.")
    max_loaded_catalogs: int = Field(
        64, ge=1, le=100_000, description="Catalogs of a data folder held in memory at once; the least "
        "recently used one is let go for another.")
    max_catalogs_per_request: int = Field(
        20, ge=1, le=1000, description="Catalogs one tagging request or product search may search (never more "
        "than max_loaded_catalogs: a request loads no more catalogs than may stay loaded).")
    catalog_load_threads: int = Field(
        1, ge=1, le=64, description="Threads that load catalogs of a data folder (reading and checking their "
        "files); requests wait for a load without holding a thread.")
    max_catalog_loads: int = Field(
        4, ge=1, le=1024, description="Catalog loads running or waiting for a load thread; a request that "
        "needs another catalog loaded beyond them, or while every catalog that may stay loaded is in use, gets 429.")
    catalog_wait_s: float = Field(
        300.0, gt=0, description="Longest a queued job waits for its catalogs to be loaded while every catalog "
        "that may stay loaded is in use (a request is answered 429 instead); past it the job fails as busy.")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    api_keys: tuple[ApiKey, ...] = Field(
        (), description="JSON list of {key, role, name}; empty means no auth, loopback only.")
    workers: int = Field(1, ge=1, le=64, description="Threads that decode and embed videos.")
    queue_size: int = Field(2, ge=0, le=1024, description="Requests waiting for a worker before 429.")
    max_queued_jobs: int = Field(100, ge=1, description="Queued async jobs before 429.")
    retry_after_s: int = Field(5, ge=1, description="Retry-After sent with 429.")
    max_upload_bytes: int = Field(256 * 1024 * 1024, ge=1024)
    max_uploads_in_flight: int = Field(
        4, ge=1, le=1024, description="Video uploads received at once; more get 429 before their body is read.")
    max_uploads_per_key: int = Field(
        2, ge=1, le=1024, description="Of those, at most this many for one API key (no keys: one caller).")
    max_product_images: int = Field(20, ge=1, le=200, description="Images in one product request.")
    max_connections: int = Field(
        1000, ge=8, description="Open connections; past it, the oldest one still sending its request "
        "headers is closed for the new one, or the new one is refused.")
    header_timeout_s: float = Field(10.0, gt=0, description="Time a client has to send its request headers.")
    write_timeout_s: float = Field(
        30.0, gt=0, description="Longest an answer may wait for its client to read it before the connection "
        "is dropped.")
    body_timeout_s: float = Field(
        30.0, gt=0, description="Longest wait for the next part of a request body; after that long, the "
        "body must also have averaged min_body_bytes_per_s.")
    min_body_bytes_per_s: int = Field(8192, ge=0, description="Slowest average upload rate accepted.")
    sync_max_duration_s: float = Field(
        60.0, gt=0, description="Longer videos sent to /v1/tags become jobs (202).")
    state_dir: Path | None = Field(
        None, description="Jobs database, job uploads and product images; default <index>.state/.")
    job_video_retention_s: float = Field(
        7 * 24 * 3600.0, ge=0, description="How long a succeeded job's video is kept for its review "
        "(the review page plays it; exported reviews point at it); 0 deletes it once tagged.")
    job_video_max_bytes: int = Field(
        20 * 1024**3, ge=0, description="Most bytes of succeeded jobs' videos kept for review; past it the "
        "oldest go first.")
    review_video_side: int = Field(
        854, ge=0, le=3840, description="Long side (px) of the copy of each job's video that every browser plays "
        "(H.264 MP4, made after tagging: phones record HEVC, which most browsers do not play); 0: no copy, "
        "the review page plays the upload as it is.")
    review_video_fps: float = Field(30.0, gt=0, le=60, description="Most frames a second in that copy.")
    image_root: Path | None = Field(
        None, description="Folder that product image paths may point into; None refuses paths.")

    @property
    def binds_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @model_validator(mode="after")
    def _one_served_folder(self) -> ServiceSettings:
        if self.index is not None and self.data_dir is not None:
            raise ValueError("serve one index (index) or a data folder of catalogs (data_dir), not both")
        return self

    @property
    def served(self) -> Path | None:
        """The folder served: the index, or the data folder of catalogs."""
        return self.index if self.index is not None else self.data_dir

    def resolved_state_dir(self, served: Path) -> Path:
        return self.state_dir or served.with_name(served.name + ".state")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SHOPTAG_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    # Built per Settings(), not at import: a default such as the fetch cache folder follows the
    # environment of the moment. Flags reach these as init values, which pydantic-settings
    # deep-merges over the environment's field by field, then validates alike.
    model: ModelSettings = Field(default_factory=ModelSettings)
    images: ImageLimits = Field(default_factory=ImageLimits)
    fetch: FetchSettings = Field(default_factory=FetchSettings)
    index: IndexSettings = Field(default_factory=IndexSettings)
    video: VideoLimits = Field(default_factory=VideoLimits)
    tagging: TaggingSettings = Field(default_factory=TaggingSettings)
    shopify: ShopifySettings = Field(default_factory=ShopifySettings)
    ray: RaySettings = Field(default_factory=RaySettings)
    batch: BatchSettings = Field(default_factory=BatchSettings)
    service: ServiceSettings = Field(default_factory=ServiceSettings)
