"""The Ray engine: a local Ray, or the cluster ``SHOPTAG_RAY__ADDRESS`` names, for the two jobs
that outgrow one machine.

- Catalog images (``RayEmbedding``, ``shoptag index build|update --engine ray``): Ray Data reads
  and decodes each distinct image ref and detects its local features in CPU tasks (the same
  ``ImageReader`` limits and download cache as in process), then embeds them in a pool of
  actors that load the model once each (``map_batches``). The driver joins the answers into
  the same entries, in catalog order, that ``indexing.embedding.embed_entries`` makes, so the
  index written is the same. An actor lost with its node is restarted and its batch tried
  again (Ray Data's default).
- Videos (``ray_tag``): a pool of actors that load the model and index once each, one video at a
  time, their result lines streamed back to the driver as they finish.

Ray is imported only here, and only when a job asks for it.
"""

from __future__ import annotations

import json
import logging
import pickle
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from shoptag.batch.portable import portable, settings_of
from shoptag.errors import ConfigError, ImageLoadError
from shoptag.indexing.embedding import EmbedStats, ImageOutcome, entries_of
from shoptag.indexing.images import ImageReader, decode_image
from shoptag.indexing.local_features import catalog_features
from shoptag.indexing.records import Entry, ImageVector, Product
from shoptag.indexing.thumbnails import thumbnail_jpeg
from shoptag.model.base import Embedder
from shoptag.settings import RaySettings, Settings

logger = logging.getLogger(__name__)

# A tagging actor lost is restarted and its video tried again, but not forever (Ray Data's
# default): a video that crashes every actor it meets ends the job with an error.
_BOUNDED_RETRIES = {"max_restarts": 2, "max_task_retries": 2}

def connect(settings: RaySettings):
    """Ray, connected: to ``settings.address``, or a local instance started here."""
    try:
        import ray
    except ImportError:
        raise ConfigError("the Ray engine needs Ray: pip install 'ray[data]'") from None
    if not ray.is_initialized():
        ray.init(address=settings.address, num_cpus=settings.num_cpus if settings.address is None else None,
                 include_dashboard=False, log_to_driver=False, configure_logging=False)
    return ray


class RayEmbedding:
    """``embed_entries`` on Ray: the same arguments and answer (the driver's ``embedder`` names
    the model; each actor loads its own from ``settings.model``)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def embed_entries(self, products: Iterable[Product], base_dir: Path, embedder: Embedder, reader: ImageReader,
                      known: dict[str, ImageVector] | None = None,
                      on_image: Callable[[], None] | None = None) -> tuple[list[Entry], EmbedStats]:
        products = list(products)
        refs = list(dict.fromkeys(ref for product in products for ref in product.images))
        outcomes: dict[str, ImageOutcome] = {}
        if refs:
            ray = connect(self._settings.ray)
            config = self._settings.ray
            complete = {sha for sha, stored in (known or {}).items()
                        if stored.features is not None and stored.features.template is not None}
            rows = (ray.data.from_items([{"ref": ref} for ref in refs], override_num_blocks=min(len(refs), 200))
                    .map(_read_image, fn_kwargs={"settings": portable(self._settings), "base_dir": str(base_dir),
                                                 "complete": complete}, num_cpus=1)
                    .map_batches(_EmbedImages, fn_constructor_kwargs={"settings": portable(self._settings)},
                                 batch_size=config.batch_size, compute=ray.data.ActorPoolStrategy(size=config.workers),
                                 num_cpus=1, batch_format="pandas"))
            for row in rows.iter_rows():
                outcomes[row["ref"]] = _outcome(row, known or {})
                if on_image:
                    on_image()
        return entries_of(products, outcomes, known or {})


def _outcome(row: dict, known: dict[str, ImageVector]) -> ImageOutcome:
    if row["error"]:
        return ImageOutcome(None, None, None, row["error"])
    features = pickle.loads(row["features"]) if row["features"] else known[row["sha256"]].features
    vector = (np.frombuffer(row["vector"], np.float32).copy() if row["vector"]
              else np.asarray(known[row["sha256"]].vector))
    thumbnail = row["thumbnail"] or known[row["sha256"]].thumbnail
    return ImageOutcome(row["sha256"], vector, features, None, thumbnail)


def _read_image(row: dict, settings: str, base_dir: str, complete: set[str]) -> dict:
    """Reads one image ref, and unless the index holds it whole (``complete``: by content hash),
    decodes it and detects its local features (a CPU task; the pixels travel on to the
    embedding actors)."""
    settings = settings_of(settings)
    reader = ImageReader(settings.images, settings.fetch)
    ref = row["ref"]
    out = {"ref": ref, "sha256": "", "pixels": b"", "shape": [], "features": b"", "thumbnail": b"", "error": ""}
    try:
        image = reader.read(ref, Path(base_dir))
        out["sha256"] = image.sha256
        if image.sha256 not in complete:
            pixels = decode_image(image.data, reader.limits, ref)
            out.update(pixels=pixels.tobytes(), shape=list(pixels.shape),
                       features=pickle.dumps(catalog_features(pixels)), thumbnail=thumbnail_jpeg(pixels))
    except ImageLoadError as exc:
        out["error"] = exc.message
    return out


class _EmbedImages:
    """Embeds a batch of decoded images with a model loaded once per actor."""

    def __init__(self, settings: str) -> None:
        from shoptag.model import create_embedder

        self._embedder = create_embedder(settings_of(settings).model)

    def __call__(self, batch):
        todo = [i for i, pixels in enumerate(batch["pixels"]) if pixels]
        vectors = [b""] * len(batch)
        if todo:
            images = [np.frombuffer(batch["pixels"].iloc[i], np.uint8).reshape(batch["shape"].iloc[i]) for i in todo]
            for i, vector in zip(todo, self._embedder.embed_images(images), strict=True):
                vectors[i] = np.asarray(vector, np.float32).tobytes()
        batch = batch.drop(columns=["pixels", "shape"])
        batch["vector"] = vectors
        return batch


def ray_tag(settings: Settings, index: Path, videos: Sequence[str]) -> Iterator[dict]:
    """Each video's result line (``batch.tag_batch.tag_line``), as actors finish them."""
    ray = connect(settings.ray)
    rows = (ray.data.from_items([{"video": video} for video in videos], override_num_blocks=len(videos))
            .map(_TagVideos, fn_constructor_kwargs={"settings": portable(settings), "index": str(index)},
                 compute=ray.data.ActorPoolStrategy(size=settings.ray.workers), num_cpus=1, **_BOUNDED_RETRIES))
    for row in rows.iter_rows():
        yield json.loads(row["line"])


class _TagVideos:
    """Tags videos one at a time, with the model and the index loaded once per actor."""

    def __init__(self, settings: str, index: str) -> None:
        from shoptag.batch.tag_batch import VideoTagger

        self._tagger = VideoTagger(settings_of(settings), Path(index))

    def __call__(self, row: dict) -> dict:
        return {"line": json.dumps(self._tagger.tag_line(row["video"]))}
