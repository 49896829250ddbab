"""The catalog's records: a product to index, and an item skipped with its reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# A catalog file is read whole (JSONL) or streamed (CSV); either way, larger files are refused.
MAX_CATALOG_BYTES = 1 << 30


@dataclass(frozen=True)
class Product:
    product_id: str
    title: str
    images: tuple[str, ...]
    url: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # where it came from, e.g. "catalog.jsonl line 3", for messages


@dataclass(frozen=True)
class Skipped:
    where: str
    reason: str
