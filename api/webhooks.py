"""Shopify product webhooks (``products/create``, ``products/update``, ``products/delete``):
verified, queued durably, applied in the background.

A delivery is accepted only with a valid ``X-Shopify-Hmac-Sha256`` (base64 HMAC-SHA256 of the
raw body under the app's shared secret, compared in constant time), checked before anything of
the body is parsed. An accepted event is stored in the job database and answered at once, well
inside Shopify's 5 seconds; a delivery Shopify repeats (the same ``X-Shopify-Webhook-Id``) is
answered but stored once. Only what applying reads of the payload is stored (``applied_fields``),
and each shop has at most ``webhook_queue_per_shop`` events queued: past it a delivery is
refused (429, ``ServiceBusyError``) before anything is stored, and Shopify delivers it again,
so nothing answered 200 is dropped. The applier lets shops take turns, one event each
(``next_queued``), each shop's events oldest first, and, per product, keeps the newest: an
event older than the last one applied to that product (``updated_at``, or for a delete the time
Shopify triggered it) is skipped, so a late, out-of-order delivery never
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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from shoptag.api.jobs import JobStore
from shoptag.errors import InvalidRequestError, ServiceBusyError
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
        raise InvalidRequestError(f"{str(value)[:40]!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    try:  # 9999-12-31T23:59:59-05:00 is past the last UTC time there is, year 1 at +01:00 before the first
        return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")
    except OverflowError:
        raise InvalidRequestError(f"{str(value)[:40]!r} is outside the times UTC can hold (years 1 to 9999)") from None


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
    failing); a ``InvalidRequestError`` for a product event it cannot use.

    The time is the product's ``updated_at`` (a delete's: when Shopify triggered it), then when
    Shopify triggered the delivery: ``updated_at`` is to the second, and two edits within one
    second are told apart by the second part."""
    if topic not in TOPICS:
        return None
    if not isinstance(payload, dict) or isinstance(payload.get("id"), bool) or not isinstance(
            payload.get("id"), int | str):
        raise InvalidRequestError("the payload has no product id")
    if topic == "products/delete":
        if not triggered_at:
            raise InvalidRequestError("a products/delete delivery needs X-Shopify-Triggered-At")
        return str(payload["id"]), f"{utc_time(triggered_at)} {utc_time(triggered_at)}"
    if not isinstance(payload.get("handle"), str) or not payload["handle"].strip():
        raise InvalidRequestError("the product has no handle")
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


# What applying reads of a create/update payload (``webhook_product``, ``event_of``): the rest
# (description, variants, options...) is not stored.
_APPLIED_FIELDS = ("id", "handle", "title", "status", "vendor", "product_type", "tags", "updated_at")


def applied_fields(topic: str, payload: dict, max_bytes: int) -> dict:
    """The part of a verified product event's payload that applying it needs, as stored: a
    delete's product id; a create or update's text fields and its http(s) images (src, and
    position where it is a number). A ``InvalidRequestError`` when even that is over ``max_bytes``."""
    if topic == "products/delete":
        kept = {"id": payload["id"]}
    else:
        kept = {key: payload[key] for key in _APPLIED_FIELDS
                if key in payload and isinstance(payload[key], str | int | float | None)}
        if "status" in payload and "status" not in kept:  # an odd status is still not "active"
            kept["status"] = "unknown"
        if isinstance(payload.get("images"), list):
            kept["images"] = [
                {"src": image["src"], **({"position": image["position"]} if isinstance(image.get("position"), int)
                                         else {})}
                for image in payload["images"] if isinstance(image, dict) and isinstance(image.get("src"), str)
                and image["src"].lower().startswith(("https://", "http://"))]
    size = len(json.dumps(kept).encode())
    if size > max_bytes:
        raise InvalidRequestError(f"the product's fields that applying needs (title, tags, image URLs...) take "
                                  f"{size} bytes, more than the {max_bytes} a webhook event may store")
    return kept


@dataclass(frozen=True)
class EventRecord:
    """An event as a merchant sees it listed: what it was, and what became of it."""
    webhook_id: str
    topic: str
    shop: str
    shopify_id: str
    event_time: str  # the product's updated_at (a delete's: when Shopify triggered it), UTC
    status: str  # queued, applied, skipped or failed
    outcome: str | None  # what was done, or why not
    attempts: int
    received: str
    finished: str | None


class WebhookStore:
    """The event queue and each product's last applied event, in the job database."""

    def __init__(self, jobs: JobStore) -> None:
        self._jobs = jobs
        with jobs.connect() as db:  # the queue by shop (its bound, its turn) and a shop's recent events
            db.execute("CREATE INDEX IF NOT EXISTS webhook_events_queued_by_shop ON webhook_events (status, shop, seq)")
            db.execute("CREATE INDEX IF NOT EXISTS webhook_events_by_shop ON webhook_events (shop, seq)")

    def enqueue(self, webhook_id: str, topic: str, shop: str, shopify_id: str, event_time: str,
                payload: dict, max_queued: int | None = None) -> bool:
        """Store a verified delivery; False when this webhook id was stored already. With
        ``max_queued``, a ``ServiceBusyError`` when the shop has that many events queued (the
        count and the insert in one transaction): Shopify delivers it again later."""
        with self._jobs.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                if db.execute("SELECT 1 FROM webhook_events WHERE webhook_id = ?", (webhook_id,)).fetchone():
                    return False
                if max_queued is not None:
                    queued = db.execute("SELECT COUNT(*) FROM (SELECT 1 FROM webhook_events WHERE status = 'queued'"
                                        " AND shop = ? LIMIT ?)", (shop, max_queued)).fetchone()[0]
                    if queued >= max_queued:
                        raise ServiceBusyError(f"{queued} webhook events of this shop are waiting to be applied; "
                                               "deliver this one again later")
                db.execute("INSERT INTO webhook_events (webhook_id, topic, shop, shopify_id, event_time, payload,"
                           " status, received) VALUES (?, ?, ?, ?, ?, ?, 'queued', ?)",
                           (webhook_id, topic, shop, shopify_id, event_time, json.dumps(payload), _now()))
                db.execute("COMMIT")
                return True
            finally:
                if db.in_transaction:
                    db.execute("ROLLBACK")

    def next_queued(self, after_shop: str | None = None) -> WebhookEvent | None:
        """The oldest due event (one being retried waits its turn) of the first shop after
        ``after_shop`` (by name, round and round) that has one: shops take turns, one event
        each, so a shop with a long queue delays another's by one event per turn. Within a
        shop, events go oldest first."""
        now = _now()
        with self._jobs.connect() as db:
            db.execute("BEGIN")  # one read snapshot for both questions
            row = None
            for bound in ((after_shop,) if after_shop is not None else ()) + ("",):
                operator = ">" if bound else ">="
                shop = db.execute(f"SELECT shop FROM webhook_events WHERE status = 'queued' AND shop {operator} ?"
                                  " AND not_before <= ? ORDER BY shop LIMIT 1", (bound, now)).fetchone()
                if shop is not None:
                    row = db.execute("SELECT * FROM webhook_events WHERE status = 'queued' AND shop = ?"
                                     " AND not_before <= ? ORDER BY seq LIMIT 1", (shop[0], now)).fetchone()
                    break
            db.execute("COMMIT")
        if row is None:
            return None
        return WebhookEvent(row["seq"], row["webhook_id"], row["topic"], row["shop"], row["shopify_id"],
                            row["event_time"], json.loads(row["payload"]), row["attempts"])

    def recent(self, shops: Sequence[str] | None, limit: int) -> list[EventRecord]:
        """The newest ``limit`` events of ``shops`` (None: of every shop), newest first."""
        query = ("SELECT webhook_id, topic, shop, shopify_id, event_time, status, outcome, attempts, received, finished"
                 " FROM webhook_events")
        parameters: tuple = (limit,)
        if shops is not None:
            query += " WHERE shop IN (SELECT value FROM json_each(?))"
            parameters = (json.dumps(list(shops)), limit)
        with self._jobs.connect() as db:
            rows = db.execute(query + " ORDER BY seq DESC LIMIT ?", parameters).fetchall()
        return [EventRecord(**{**dict(row), "event_time": row["event_time"].split(" ")[0]}) for row in rows]

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

    def counts(self, timeout_s: float = 30) -> dict[str, int]:
        with self._jobs.connect(timeout_s) as db:
            return {row[0]: row[1] for row in db.execute("SELECT status, COUNT(*) FROM webhook_events GROUP BY status")}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
