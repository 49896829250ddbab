"""Shopify product webhooks (``products/create``, ``products/update``, ``products/delete``):
verified, queued durably, applied in the background.

A delivery is accepted only with a valid ``X-Shopify-Hmac-Sha256`` (base64 HMAC-SHA256 of the
raw body under the app's shared secret, compared in constant time), checked before anything of
the body is parsed. An accepted event is stored in the job database and answered at once, well
inside Shopify's 5 seconds; a delivery Shopify repeats (the same ``X-Shopify-Webhook-Id``) is
answered but stored once. The applier takes events oldest first and, per product, keeps the
newest: an event older than the last one applied to that product (``updated_at``, or for a
delete the time Shopify triggered it) is skipped, so a late, out-of-order delivery never
overwrites a newer state. Events left queued by a stop are applied at the next start; applying
one twice (a stop between the index write and its mark) writes the same product again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone

from shoptag.api.jobs import JobStore
from shoptag.errors import ConfigError
from shoptag.indexing.records import Product

logger = logging.getLogger(__name__)

TOPICS = ("products/create", "products/update", "products/delete")
INDEXED_STATUSES = ("active",)


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


def event_of(topic: str, payload: object, triggered_at: str | None) -> tuple[str, str]:
    """(product's Shopify id, the event's time) of a verified delivery, or a ``ConfigError``."""
    if topic not in TOPICS:
        raise ConfigError(f"topic {topic!r} is not one of {', '.join(TOPICS)}")
    if not isinstance(payload, dict) or not isinstance(payload.get("id"), int | str):
        raise ConfigError("the payload has no product id")
    if topic == "products/delete":
        if not triggered_at:
            raise ConfigError("a products/delete delivery needs X-Shopify-Triggered-At")
        return str(payload["id"]), utc_time(triggered_at)
    if not isinstance(payload.get("handle"), str) or not payload["handle"].strip():
        raise ConfigError("the product has no handle")
    return str(payload["id"]), utc_time(payload.get("updated_at") or triggered_at)


def product_of(payload: dict, storefront: str | None, known_url: str | None) -> Product | None:
    """The catalog product of a create/update payload (the REST shape: ``images[].src`` by
    ``position``), or None when it is not to be indexed (not active, or no image)."""
    if str(payload.get("status", "active")).lower() not in INDEXED_STATUSES:
        return None
    images = sorted((i for i in payload.get("images") or [] if isinstance(i, dict) and isinstance(i.get("src"), str)),
                    key=lambda i: i.get("position") or 0)
    refs = tuple(dict.fromkeys(i["src"] for i in images))
    if not refs:
        return None
    handle = payload["handle"].strip()
    url = f"{storefront.rstrip('/')}/products/{handle}" if storefront else known_url
    tags = payload.get("tags")
    metadata = {"vendor": payload.get("vendor"), "product_type": payload.get("product_type"),
                "tags": tags if isinstance(tags, str) else None, "status": "active",
                "shopify_id": f"gid://shopify/Product/{payload['id']}", "updated_at": payload.get("updated_at")}
    return Product(handle, str(payload.get("title") or handle), refs, url,
                   {k: v for k, v in metadata.items() if isinstance(v, str) and v}, source=f"webhook for {handle!r}")


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
        with self._jobs.connect() as db:
            row = db.execute("SELECT * FROM webhook_events WHERE status = 'queued' ORDER BY seq LIMIT 1").fetchone()
        if row is None:
            return None
        return WebhookEvent(row["seq"], row["webhook_id"], row["topic"], row["shop"], row["shopify_id"],
                            row["event_time"], json.loads(row["payload"]))

    def last_applied(self, shopify_id: str) -> tuple[str | None, str] | None:
        """(handle, event time) of the newest event applied to the product, if any."""
        with self._jobs.connect() as db:
            row = db.execute("SELECT handle, event_time FROM webhook_products WHERE shopify_id = ?",
                             (shopify_id,)).fetchone()
        return (row["handle"], row["event_time"]) if row else None

    def finish(self, event: WebhookEvent, status: str, outcome: str, handle: str | None = None) -> None:
        """Mark the event done; an applied one becomes its product's newest (with its handle, or
        None once deleted)."""
        with self._jobs.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute("UPDATE webhook_events SET status = ?, outcome = ?, finished = ? WHERE seq = ?",
                       (status, outcome[:500], _now(), event.seq))
            if status == "applied":
                db.execute("INSERT INTO webhook_products (shopify_id, handle, event_time) VALUES (?, ?, ?)"
                           " ON CONFLICT (shopify_id) DO UPDATE SET handle = excluded.handle,"
                           " event_time = excluded.event_time", (event.shopify_id, handle, event.event_time))
            db.execute("COMMIT")

    def counts(self) -> dict[str, int]:
        with self._jobs.connect() as db:
            return {row[0]: row[1] for row in db.execute("SELECT status, COUNT(*) FROM webhook_events GROUP BY status")}

    def latencies(self) -> list[float]:
        """Seconds from receipt to applied, per applied event."""
        with self._jobs.connect() as db:
            rows = db.execute("SELECT received, finished FROM webhook_events WHERE status = 'applied'").fetchall()
        return [(datetime.fromisoformat(done) - datetime.fromisoformat(received)).total_seconds()
                for received, done in rows]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
