"""Catalogs that do not all fit: title searches that rotate over more catalogs than may stay
loaded, against a real `shoptag serve --data` process:

    python scripts/benchmark_catalog_churn.py [--catalogs 8] [--limit 4] [--products 300] [--clients 6]

``--catalogs`` catalogs of ``--products`` real-photo crops each (two distinct ones, copied under
each name). Each of ``--clients`` clients searches titles ``--rounds`` times, each time naming
``--limit`` catalogs, the window moving by one catalog per search, so every search needs some
catalog that was let go. A client answered 429 waits the Retry-After it is given (1 s here) and
asks again, as a well-behaved client does. Printed for the service with ``--limit`` loaded at
most, against the baseline of the same service with every catalog kept loaded (measured in the
same run): answers by status, each search's latency until its 200 (its waits included), and the
server's resident memory (start, peak, end), with ratios.
Then one catalog's load against its reload after it was let go (its unchanged files not hashed
again) and against a load that hashes them all.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_support import served  # noqa: E402
from benchmark_shopify import distinct_photos  # noqa: E402

from shoptag.cli import main as shoptag  # noqa: E402
from shoptag.files import VerifiedFiles  # noqa: E402
from shoptag.indexing.store import CatalogIndex  # noqa: E402
from shoptag.model import create_embedder  # noqa: E402
from shoptag.settings import OFFLINE_MODEL_SPEC, ModelSettings  # noqa: E402

KEY = "benchmark-operator-key-0123456789"
HEADERS = {"Authorization": f"Bearer {KEY}"}
_DISTINCT = 2


def build_data_folder(root: Path, catalogs: int, products: int) -> Path:
    photos = sorted(distinct_photos(root / "photos", _DISTINCT * products).values())
    built = []
    for number in range(_DISTINCT):
        catalog = root / f"catalog-{number}.jsonl"
        catalog.write_text("".join(json.dumps({"product_id": f"product-{i}", "title": f"Product {i} of {number}",
                                               "images": [str(photos[number * products + i])]}) + "\n"
                                   for i in range(products)))
        folder = root / "built" / f"catalog-{number}"
        if shoptag(["index", "build", str(catalog), "--index", str(folder), "--model", OFFLINE_MODEL_SPEC]):
            raise SystemExit("index build failed")
        built.append(folder)
    data = root / "data"
    for number in range(catalogs):
        shutil.copytree(built[number % _DISTINCT], data / f"shop-{number}", symlinks=True)
    return data


def resident_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_service(data: Path, state: Path, limit: int, catalogs: int, clients: int, rounds: int, window: int) -> dict:
    env = {"SHOPTAG_SERVICE__STATE_DIR": str(state), "SHOPTAG_SERVICE__MAX_LOADED_CATALOGS": str(limit),
           "SHOPTAG_SERVICE__RETRY_AFTER_S": "1",
           "SHOPTAG_SERVICE__API_KEYS": json.dumps([{"key": KEY, "role": "merchant", "catalogs": ["*"]}])}
    with served(["--data", str(data), "--threads", "1"], env, state.parent / f"serve-{limit}.log") as (base, process):
        start_mib, peak = resident_mib(process.pid), [0.0]
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], resident_mib(process.pid))
                time.sleep(0.05)

        def client(number: int) -> list[tuple[int, float]]:
            answers = []
            with httpx.Client(base_url=base, headers=HEADERS, timeout=120) as http:
                for turn in range(rounds):
                    first = (number + turn) % catalogs
                    names = ",".join(f"shop-{(first + i) % catalogs}" for i in range(window))
                    started = time.perf_counter()
                    while True:
                        answer = http.get("/v1/products", params={"q": "product 1", "catalogs": names})
                        answers.append((answer.status_code, time.perf_counter() - started))
                        if answer.status_code != 429:
                            break
                        time.sleep(float(answer.headers["Retry-After"]))
            return answers

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        with ThreadPoolExecutor(clients) as pool:
            answers = [a for batch in pool.map(client, range(clients)) for a in batch]
        stop.set()
        watcher.join()
        ok = sorted(seconds for status, seconds in answers if status == 200)
        statuses: dict[int, int] = {}
        for status, _ in answers:
            statuses[status] = statuses.get(status, 0) + 1
        return {"statuses": statuses, "p50_s": statistics.median(ok) if ok else float("nan"),
                "p95_s": ok[math.ceil(0.95 * len(ok)) - 1] if ok else float("nan"),
                "max_s": ok[-1] if ok else float("nan"),
                "rss_start_mib": start_mib, "rss_peak_mib": peak[0], "rss_end_mib": resident_mib(process.pid)}


def load_seconds(folder: Path) -> dict:
    embedder = create_embedder(ModelSettings(spec=OFFLINE_MODEL_SPEC))
    verified = VerifiedFiles()

    def timed(known: VerifiedFiles) -> float:
        started = time.perf_counter()
        CatalogIndex.load(folder, embedder, verified=known)
        return time.perf_counter() - started

    first = timed(verified)
    return {"first_load_s": first, "reload_s": statistics.median(timed(verified) for _ in range(3)),
            "hashing_load_s": statistics.median(timed(VerifiedFiles()) for _ in range(3))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalogs", type=int, default=8)
    parser.add_argument("--limit", type=int, default=4)
    parser.add_argument("--products", type=int, default=300)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        data = build_data_folder(root, args.catalogs, args.products)
        runs = {}
        for label, limit in (("baseline: every catalog loaded", args.catalogs), (f"at most {args.limit}", args.limit)):
            runs[label] = run_service(data, root / f"state-{limit}", limit, args.catalogs, args.clients, args.rounds,
                                      args.limit)
        loads = load_seconds(data / "shop-0")
    base = runs["baseline: every catalog loaded"]
    print(f"{args.catalogs} catalogs of {args.products} products, {args.clients} clients x {args.rounds} title "
          f"searches of {args.limit} catalogs each (window moving by one)")
    print("| service | answers | p50 s | p95 s | max s | RSS start / peak / end MiB | peak ratio | p50 ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for label, run in runs.items():
        answers = ", ".join(f"{count}× {status}" for status, count in sorted(run["statuses"].items()))
        print(f"| {label} | {answers} | {run['p50_s']:.3f} | {run['p95_s']:.3f} | {run['max_s']:.3f} | "
              f"{run['rss_start_mib']:.0f} / {run['rss_peak_mib']:.0f} / {run['rss_end_mib']:.0f} | "
              f"{run['rss_peak_mib'] / base['rss_peak_mib']:.2f} | {run['p50_s'] / base['p50_s']:.2f} |")
    print(f"one catalog: first load {loads['first_load_s']:.3f} s, reload with its unchanged files not hashed "
          f"{loads['reload_s']:.3f} s, load hashing them all {loads['hashing_load_s']:.3f} s "
          f"(ratio {loads['reload_s'] / loads['hashing_load_s']:.2f})")


if __name__ == "__main__":
    main()
