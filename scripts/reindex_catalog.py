"""Scheduled re-index for cron: bring an index up to date with a catalog file or URL.

    python scripts/reindex_catalog.py https://shop.example/exports/products.csv --index /data/index \
        [--shop-url https://shop.example] [--report /var/log/shoptag/reindex.json] [--keep 3]

    # crontab: every night at 03:10
    10 3 * * * cd /srv/shoptag && python scripts/reindex_catalog.py /data/products.csv \
        --index /data/index --report /data/reindex.json

A URL is downloaded with the same safety rules as images (http(s) only, public addresses only
unless --allow-host, size cap, retries). If the index does not exist yet it is built (with
--model, default effnet-lite0); otherwise it is updated incrementally (`shoptag index update`).
Progress goes to stderr as plain lines, the report to stdout (and --report). Exit status 0 on
success, 1 on error, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from shoptag.cli import main as shoptag_main
from shoptag.errors import FetchError
from shoptag.indexing.fetch import HttpFetcher
from shoptag.indexing.versions import IndexFolder
from shoptag.settings import FetchSettings

MAX_CATALOG_BYTES = 512 * 1024 * 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="catalog path or http(s) URL (.csv Shopify export or .jsonl)")
    parser.add_argument("--index", required=True, type=Path)
    parser.add_argument("--model", default="effnet-lite0", help="model for a first build")
    parser.add_argument("--report", type=Path)
    parser.add_argument("--shop-url")
    parser.add_argument("--status", action="append", default=[])
    parser.add_argument("--allow-host", action="append", default=[])
    parser.add_argument("--cache-dir", type=Path)
    parser.add_argument("--keep", type=int)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="shoptag-reindex-") as tmp:
        catalog = Path(args.source)
        if "://" in args.source:
            suffix = Path(urlparse(args.source).path).suffix or ".csv"
            catalog = Path(tmp) / f"catalog{suffix}"
            try:
                fetcher = HttpFetcher(FetchSettings(allow_hosts=tuple(args.allow_host)), MAX_CATALOG_BYTES)
                catalog.write_bytes(fetcher.get(args.source).data)
            except FetchError as exc:
                print(f"reindex: error: {exc.message}", file=sys.stderr)
                return 1
        exists = IndexFolder(args.index).current_name() is not None
        command = (["index", "update", str(catalog), "--index", str(args.index)] if exists else
                   ["index", "build", str(catalog), "--index", str(args.index), "--model", args.model])
        options = {"--report": args.report, "--shop-url": args.shop_url, "--cache-dir": args.cache_dir,
                   "--keep": args.keep}
        command += [part for flag, value in options.items() if value for part in (flag, str(value))]
        command += [part for value in args.status for part in ("--status", value)]
        command += [part for value in args.allow_host for part in ("--allow-host", value)]
        return shoptag_main(command)


if __name__ == "__main__":
    sys.exit(main())
