"""Shopify product webhooks (``products/create``, ``products/update``, ``products/delete``):
verified, queued durably, applied in the background.

A delivery is accepted only with a valid ``X-Shopify-Hmac-Sha256`` (base64 HMAC-SHA256 of the
raw body under the app's shared secret, compared in constant time), checked before anything of
the body is parsed. An accepted event is stored in the job database and answered at once, well
inside Shopify's 5 seconds; a delivery Shopify repeats (the same ``X-Shopify-Webhook-Id``) is
answered but stored once. The applier takes events oldest first and, per product, keeps the
newest: an event older than the last one applied to that product (``updated_at``, or for a
delete the time Shopify triggered it) is skipped, so a late, out-of-order delivery never
overwrites a newer state. An event that fails (an image that does not download) is tried again
later, ``MAX_ATTEMPTS`` times in all, then marked failed; either way its time counts, so an
older event for the product is not applied after it. Events left queued by a stop are applied
at the next start; applying one twice (a stop between the index write and its mark) writes the
same product again. Finished events are kept ``KEEP_FINISHED_S``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from shoptag.api.jobs import JobStore
from shoptag.errors import ConfigError
from shoptag.indexing.records import Product
from shoptag.indexing.shopify import shopify_metadata, storefront_url

logger = logging.getLogger(__name__)

TOPICS = ("products/create", "products/update", "products/delete")
INDEXED_STATUSES = ("active",)
MAX_ATTEMPTS = 4
RETRY_S = 30.0  # then doubled for each further attempt
KEEP_FINISHED_S = 7 * 24 * 3600.0


def signature_valid(secret: str, body: bytes, signature: str | None) -> bool:
    if not signature:
        return False
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, signature.strip().encode())


def utc_time(value: object) -> str:
    """An ISO 8601 time (any offset, or Z) as UTC, in one spelling that sorts as it compares."""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{str(value)[:40]!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class WebhookEvent:
    seq: int
    webhook_id: str
    topic: str
    shop: str
    shopify_id: str
    event_time: str
    payload: dict
    attempts: int = 0  # tries that failed so far


def event_of(topic: str, payload: object, triggered_at: str | None) -> tuple[str, str] | None:
    """(product's Shopify id, the event's time) of a verified delivery; None for a topic this
    service does not apply (answered all the same: Shopify drops a subscription that keeps
    failing); a ``ConfigError`` for a product event it cannot use.

    The time is the product's ``updated_at`` (a delete's: when Shopify triggered it), then when
    Shopify triggered the delivery: ``updated_at`` is to the second, and two edits within one
    second are told apart by the second part."""
    if topic not in TOPICS:
        return None
    if not isinstance(payload, dict) or isinstance(payload.get("id"), bool) or not isinstance(
            payload.get("id"), int | str):
        raise ConfigError("the payload has no product id")
    if topic == "products/delete":
        if not triggered_at:
            raise ConfigError("a products/delete delivery needs X-Shopify-Triggered-At")
        return str(payload["id"]), f"{utc_time(triggered_at)} {utc_time(triggered_at)}"
    if not isinstance(payload.get("handle"), str) or not payload["handle"].strip():
        raise ConfigError("the product has no handle")
    updated = utc_time(payload.get("updated_at") or triggered_at)
    return str(payload["id"]), f"{updated} {utc_time(triggered_at) if triggered_at else updated}"


def webhook_product(payload: dict, storefront: str | None, known_url: str | None) -> Product | None:
    """The catalog product of a create/update payload (the REST shape: ``images[].src`` by
    ``position``), or None when it is not to be indexed (not active, or no image). Only http(s)
    image URLs are taken: a path would make the service read its own files."""
    if str(payload.get("status", "active")).lower() not in INDEXED_STATUSES:
        return None
    listed = payload.get("images") if isinstance(payload.get("images"), list) else []
    images = [i for i in listed if isinstance(i, dict) and isinstance(i.get("src"), str)
              and i["src"].lower().startswith(("https://", "http://"))]
    images.sort(key=lambda i: i["position"] if isinstance(i.get("position"), int) else 0)
    refs = tuple(dict.fromkeys(i["src"] for i in images))
    if not refs:
        return None
    handle = payload["handle"].strip()
    url = storefront_url(storefront, handle) if storefront else known_url
    metadata = shopify_metadata(payload.get("vendor"), payload.get("product_type"), payload.get("tags"), "active",
                                f"gid://shopify/Product/{payload['id']}", payload.get("updated_at"))
    return Product(handle, str(payload.get("title") or handle), refs, url, metadata, source=f"webhook for {handle!r}")


class WebhookStore:
    """The event queue and each product's last applied event, in the job database."""

    def __init__(self, jobs: JobStore) -> None:
        self._jobs = jobs

    def enqueue(self, webhook_id: str, topic: str, shop: str, shopify_id: str, event_time: str,
                payload: dict) -> bool:
        """Store a verified delivery; False when this webhook id was stored already."""
        with self._jobs.connect() as db:
            return db.execute(
                "INSERT OR IGNORE INTO webhook_events (webhook_id, topic, shop, shopify_id, event_time, payload,"
                " status, received) VALUES (?, ?, ?, ?, ?, ?, 'queued', ?)",
                (webhook_id, topic, shop, shopify_id, event_time, json.dumps(payload), _now())).rowcount == 1

    def next_queued(self) -> WebhookEvent | None:
        """The oldest queued event that is due (one being retried waits its turn)."""
        with self._jobs.connect() as db:
            row = db.execute("SELECT * FROM webhook_events WHERE status = 'queued' AND not_before <= ?"
                             " ORDER BY seq LIMIT 1", (_now(),)).fetchone()
        if row is None:
            return None
        return WebhookEvent(row["seq"], row["webhook_id"], row["topic"], row["shop"], row["shopify_id"],
                            row["event_time"], json.loads(row["payload"]), row["attempts"])

    def last_applied(self, shopify_id: str) -> tuple[str | None, str] | None:
        """(handle, event time) of the newest event applied to the product, if any."""
        with self._jobs.connect() as db:
            row = db.execute("SELECT handle, event_time FROM webhook_products WHERE shopify_id = ?",
                             (shopify_id,)).fetchone()
        return (row["handle"], row["event_time"]) if row else None

    def finish(self, event: WebhookEvent, status: str, outcome: str, handle: str | None = None) -> None:
        """Mark the event done. An applied one becomes its product's newest (with its handle, or
        None once deleted); a failed one's time counts too, with the handle as it was."""
        with self._jobs.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute("UPDATE webhook_events SET status = ?, outcome = ?, finished = ? WHERE seq = ?",
                       (status, outcome[:500], _now(), event.seq))
            if status in ("applied", "failed"):
                db.execute("INSERT INTO webhook_products (shopify_id, handle, event_time) VALUES (?, ?, ?)"
                           " ON CONFLICT (shopify_id) DO UPDATE SET event_time = excluded.event_time,"
                           " handle = CASE WHEN ? THEN excluded.handle ELSE webhook_products.handle END",
                           (event.shopify_id, handle, event.event_time, status == "applied"))
            db.execute("COMMIT")

    def retry_later(self, event: WebhookEvent, outcome: str) -> bool:
        """Queue a failed event again after a pause; False when its tries are used up."""
        if event.attempts + 1 >= MAX_ATTEMPTS:
            return False
        due = datetime.now(timezone.utc) + timedelta(seconds=RETRY_S * 2 ** event.attempts)
        with self._jobs.connect() as db:
            db.execute("UPDATE webhook_events SET attempts = attempts + 1, not_before = ?, outcome = ? WHERE seq = ?",
                       (due.isoformat(timespec="milliseconds"), outcome[:500], event.seq))
        return True

    def prune(self) -> int:
        """Forget events finished more than ``KEEP_FINISHED_S`` ago; returns how many."""
        cutoff = (datetime.now(timezone.utc) - timedelta(seconds=KEEP_FINISHED_S)).isoformat(timespec="milliseconds")
        with self._jobs.connect() as db:
            return db.execute("DELETE FROM webhook_events WHERE status != 'queued' AND finished < ?",
                              (cutoff,)).rowcount

    def counts(self) -> dict[str, int]:
        with self._jobs.connect() as db:
            return {row[0]: row[1] for row in db.execute("SELECT status, COUNT(*) FROM webhook_events GROUP BY status")}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
