"""A service of many small catalogs (a data folder): memory as catalogs are used, the first use
of a catalog against a loaded one, listing, and tagging against several catalogs at once:

    python scripts/benchmark_catalogs.py [--catalogs 1000] [--products 20] [--limit 64]

A few distinct catalogs of ``--products`` real-photo crops are built, then hard-linked into
``--catalogs`` catalog folders (loading reads each folder's files like any other catalog's).
Printed, with ratios to baselines measured in the same run:
- resident memory after using every catalog once, with ``--limit`` loaded at most, against
  the same with every catalog kept loaded (the limit at the catalog count);
- a product read from a catalog not loaded yet (its first use) against one loaded;
- `GET /v1/catalogs` of a key of every catalog;
- `POST /v1/tags` of the demo clip against ``_DISTINCT`` catalogs as one set, against one
  catalog that holds all their products (the cost of searching catalogs side by side).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark_shopify import distinct_photos  # noqa: E402

from shoptag.api import create_app  # noqa: E402
from shoptag.cli import main as shoptag  # noqa: E402
from shoptag.demo import write_demo_video  # noqa: E402
from shoptag.settings import OFFLINE_MODEL_SPEC, Settings  # noqa: E402

KEY = "benchmark-operator-key-0123456789"
HEADERS = {"Authorization": f"Bearer {KEY}"}
_DISTINCT = 4
COMBINED = "combined"


def resident_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def build_data_folder(root: Path, catalogs: int, products: int) -> Path:
    """``catalogs`` catalog folders, hard links of ``_DISTINCT`` real ones, and one more
    (``COMBINED``) that holds the products of those together."""
    photos = sorted(distinct_photos(root / "photos", _DISTINCT * products).values())
    def lines(first: int, count: int) -> list[str]:
        return [json.dumps({"product_id": f"product-{i}", "title": f"Product {first + i}",
                            "images": [str(photos[first + i])]}) for i in range(count)]

    data = root / "data"
    built = [_build(root, f"shop-{number}", lines(number * products, products), root / "built")
             for number in range(_DISTINCT)]
    combined = [json.dumps({**json.loads(line), "product_id": f"shop-{n}-{json.loads(line)['product_id']}"})
                for n in range(_DISTINCT) for line in lines(n * products, products)]
    _build(root, COMBINED, combined, data)
    for number in range(catalogs):
        shutil.copytree(built[number % _DISTINCT], data / f"shop-{number:05d}", symlinks=True, copy_function=os.link)
    return data


def _build(root: Path, name: str, lines: list[str], folder: Path) -> Path:
    catalog = root / f"{name}.jsonl"
    catalog.write_text("\n".join(lines) + "\n")
    if shoptag(["index", "build", str(catalog), "--index", str(folder / name), "--model", OFFLINE_MODEL_SPEC]):
        raise SystemExit("index build failed")
    return folder / name


def settings_for(data: Path, state: Path, limit: int) -> Settings:
    return Settings(model={"spec": OFFLINE_MODEL_SPEC},
                    service={"data_dir": data, "state_dir": state, "max_loaded_catalogs": limit,
                             "api_keys": [{"key": KEY, "role": "merchant", "catalogs": ["*"]}]})


def started(settings: Settings) -> TestClient:
    client = TestClient(create_app(settings), base_url="http://127.0.0.1")
    client.__enter__()
    deadline = time.monotonic() + 120
    while client.get("/readyz").status_code != 200:
        if time.monotonic() > deadline:
            raise SystemExit(f"not ready: {client.get('/readyz').text}")
        time.sleep(0.1)
    return client


def read_product(client: TestClient, catalog: str) -> float:
    started_s = time.perf_counter()
    answer = client.get(f"/v1/catalogs/{catalog}/products/product-0", headers=HEADERS)
    if answer.status_code != 200:
        raise SystemExit(answer.text)
    return time.perf_counter() - started_s


def memory_after_using_all(data: Path, state: Path, limit: int) -> dict:
    """In a process of its own (memory freed by another run must not be counted as room):
    resident MiB growth after every catalog was used once, and each first use's seconds."""
    done = subprocess.run([sys.executable, __file__, "--measure-memory", str(data), "--state", str(state),
                           "--limit", str(limit)], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr[-2000:])
    return json.loads(done.stdout.splitlines()[-1])


def measure_memory(data: Path, state: Path, limit: int) -> None:
    client = started(settings_for(data, state, limit))
    try:
        before = resident_mib()
        firsts = [read_product(client, path.name) for path in sorted(data.iterdir()) if path.name != COMBINED]
        print(json.dumps({"grown_mib": resident_mib() - before, "firsts": firsts}))
    finally:
        client.__exit__(None, None, None)


def tag_seconds(client: TestClient, video: bytes, catalogs: list[str], repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        started_s = time.perf_counter()
        answer = client.post("/v1/tags", files={"file": ("demo.mp4", video)}, data={"catalogs": ",".join(catalogs)},
                             headers=HEADERS)
        if answer.status_code != 200:
            raise SystemExit(answer.text)
        times.append(time.perf_counter() - started_s)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalogs", type=int, default=1000)
    parser.add_argument("--products", type=int, default=20)
    parser.add_argument("--limit", type=int, default=64)
    parser.add_argument("--measure-memory", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--state", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_memory:
        return measure_memory(args.measure_memory, args.state, args.limit)
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        started_s = time.perf_counter()
        data = build_data_folder(root, args.catalogs, args.products)
        print(f"{args.catalogs} catalogs of {args.products} products ({_DISTINCT} distinct) in "
              f"{time.perf_counter() - started_s:.0f} s", flush=True)
        names = sorted(path.name for path in data.iterdir() if path.name != COMBINED)

        grown_all = memory_after_using_all(data, root / "state-all", args.catalogs)["grown_mib"]
        limited = memory_after_using_all(data, root / "state", args.limit)
        grown, firsts = limited["grown_mib"], limited["firsts"]
        print(f"\nmemory after using all {args.catalogs} catalogs once (resident MiB growth)")
        print(f"  baseline: all kept loaded    {grown_all:8.1f}  1.00")
        print(f"  at most {args.limit:<5} loaded        {grown:8.1f}  {grown / grown_all:.2f}")

        client = started(settings_for(data, root / "state-warm", args.limit))
        try:
            for name in names[:args.limit]:
                read_product(client, name)
            warm = statistics.median(read_product(client, name) for name in names[:args.limit] * 3)
            first = statistics.median(firsts)
            print("\nGET /v1/catalogs/{catalog}/products/{id} (median seconds)")
            print(f"  baseline: a loaded catalog   {warm:8.4f}  1.00")
            print(f"  its first use (loading it)   {first:8.4f}  {first / warm:.1f}")
            listing = statistics.median(_timed(lambda: client.get("/v1/catalogs", headers=HEADERS)) for _ in range(5))
            print(f"  GET /v1/catalogs ({args.catalogs} names) {listing:8.4f}  {listing / warm:.1f}")

            video_path = root / "demo.mp4"
            write_demo_video(video_path)
            video = video_path.read_bytes()
            together = tag_seconds(client, video, [COMBINED])
            print(f"\nPOST /v1/tags of the 8 s demo clip (median of 3, seconds; {_DISTINCT * args.products} products)")
            print(f"  baseline: 1 catalog of them all   {together:8.2f}  1.00")
            tag_seconds(client, video, names[:_DISTINCT], repeats=1)  # the set's first build, not timed
            apart = tag_seconds(client, video, names[:_DISTINCT])
            print(f"  {_DISTINCT} catalogs of a quarter each  {apart:8.2f}  {apart / together:.2f}")
            one = tag_seconds(client, video, names[:1])
            print(f"  1 of those catalogs alone         {one:8.2f}  {one / together:.2f}")
        finally:
            client.__exit__(None, None, None)


def _timed(call) -> float:
    started_s = time.perf_counter()
    call()
    return time.perf_counter() - started_s


if __name__ == "__main__":
    main()
