"""6. The team ledger at 10,000 records: S3 requests per refresh, counted on the wire, and time.

moto's S3 server runs in its own process with 10,000 records under one prefix (put straight into
its backend: bench/seeded_s3.py). The app's `ImageStore` talks to it over HTTP; the server logs
every request it receives (the tests count with a TCP proxy instead, tests/wire.py: here a proxy
would add its own time to every one of the full read's 10,000 requests, and flatter the ratio).

first     = a fresh `SharedLedger(store).refresh()`: the listing, then a GET per record.
unchanged = `refresh(force=True)` with nothing changed: the listing alone (target ≤ 11).
changed   = after another writer rewrote 3 records and added 2 (straight to S3, not through the
            proxy): the listing plus 5 GETs, and the new notes are read.
old       = `Ledger(store).read_all()`, what every refresh cost before: the listing plus a GET per
            record, each time. Timed as the full read the unchanged refresh is compared with.
Unchanged refreshes and old full reads alternate (the full read fewer times: ~30 s each on moto).
Also: the listing of the same 10,000 records with their photos beside them, as the app stores
them (S3 cannot list by suffix, so photos fill pages too), and the memory the ledger holds.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields
from urllib.parse import parse_qs

import httpx

from bench.common import (
    AWS_KEY_ID,
    AWS_SECRET,
    PY,
    ROOT,
    Ratio,
    Section,
    Stat,
    Target,
    clean_env,
    free_port,
    stop,
    timed,
)
from bench.seeded_s3 import LOG_PATH, seeded_record
from tests.wire import WireRequest

RECORDS = 10_000
CHANGED = (17, 5_000, 9_998)
ADDED = 2
REPS = 3  # unchanged refreshes (~3 s each on moto)
FULL_REPS = 1  # old full reads (~30 s each on moto)
TARGET_REQUESTS = 11
BUCKET = "bench-ledger"
BESIDE_BUCKET = "bench-ledger-photos"
PREFIX = "team/"
HOST = "127.0.0.2"


class SeededS3:
    """bench/seeded_s3.py in its own process."""

    def __init__(self, bucket: str, records: int, *, photos: bool = False) -> None:
        self.bucket = bucket
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.process = subprocess.Popen(
            [PY, "-m", "bench.seeded_s3", "--host", HOST, "--port", str(self.port),
             "--bucket", bucket, "--prefix", PREFIX, "--records", str(records),
             *(["--photos"] if photos else [])],
            cwd=ROOT, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True)
        self._http = httpx.Client(base_url=self.url, timeout=30)

    @property
    def requests(self) -> list[WireRequest]:
        """Every request the server received since the last reset, in arrival order."""
        logged = self._http.get(LOG_PATH).raise_for_status().json()["requests"]
        return [WireRequest(method, path, parse_qs(query)) for method, path, query in logged]

    def reset(self) -> None:
        self._http.delete(LOG_PATH).raise_for_status()

    def count(self) -> int:
        return len(self.requests)

    def wait_ready(self) -> SeededS3:
        line = self.process.stdout.readline() if self.process.stdout else ""
        if line.strip() != "ready":
            raise RuntimeError(f"bench.seeded_s3 did not start (exit {self.process.poll()})")
        return self

    def settings(self, endpoint_url: str):  # -> lib.config.S3Settings
        from lib.config import S3Settings

        return S3Settings(bucket=self.bucket, endpoint_url=endpoint_url, prefix=PREFIX,
                          access_key_id=AWS_KEY_ID, secret_access_key=AWS_SECRET)

    def stop(self) -> None:
        self._http.close()
        stop(self.process)


def on_the_wire(server: SeededS3) -> tuple[int, int, int]:
    """(requests, of which listings, of which object GETs) since the last reset."""
    requests = server.requests
    return (len(requests), sum(r.is_list for r in requests),
            sum(r.is_object_get for r in requests))


def wire_text(counts: tuple[int, int, int]) -> str:
    total, lists, gets = counts
    return f"{total:,} = {lists} LIST + {gets:,} GET"


def held_bytes(ledger) -> int:
    """What the ledger keeps: its key → entry table, the records and their field values, and
    the by-replica index (shared strings counted once per holder: an upper bound)."""
    entries = ledger._entries
    total = sys.getsizeof(entries) + sys.getsizeof(dict(ledger.records))
    names = [f.name for f in fields(next(iter(ledger.records.values())))]
    for key, entry in entries.items():
        total += sys.getsizeof(key) + sys.getsizeof(entry) + sys.getsizeof(entry.etag)
        if entry.record is not None:
            total += sys.getsizeof(entry.record)
            total += sum(sys.getsizeof(getattr(entry.record, name)) for name in names)
    return total


def run(*, reps: int = REPS, full_reps: int = FULL_REPS) -> Section:
    from lib.storage.s3 import ImageStore

    section = Section("ledger", "6. Team ledger refresh (10,000 records, S3 requests on the wire)")
    print(f"\n{section.title}", flush=True)
    records_only = SeededS3(BUCKET, RECORDS)
    beside = SeededS3(BESIDE_BUCKET, RECORDS, photos=True)
    try:
        records_only.wait_ready()
        beside.wait_ready()
        measure(section, records_only, reps=reps, full_reps=full_reps)
        beside.reset()
        listing = ImageStore(beside.settings(beside.url)).list_objects(PREFIX, suffix=".json")
        photos_listing = on_the_wire(beside)
        if len(listing.objects) != RECORDS:
            raise RuntimeError(f"listed {len(listing.objects)} records beside photos")
        section.row("with a photo beside each record: an unchanged refresh",
                    wire_text(photos_listing))
        section.figures["with_photos_beside"] = {"requests": photos_listing[0],
                                                 "lists": photos_listing[1]}
    finally:
        records_only.stop()
        beside.stop()
    return section


def measure(section: Section, server: SeededS3, *, reps: int, full_reps: int) -> None:
    from lib.storage.ledger import Ledger, SharedLedger, record_key
    from lib.storage.s3 import ImageStore

    store = ImageStore(server.settings(server.url))
    ledger = SharedLedger(store)
    server.reset()
    first_ms, records = timed(ledger.refresh)
    first = on_the_wire(server)
    if len(records) != RECORDS or ledger.last_refresh.gets != RECORDS:
        raise RuntimeError(f"the first refresh read {len(records)} records")
    section.row("first refresh (cold): requests", wire_text(first))
    section.row("first refresh: time", f"{first_ms:,.0f} ms")

    unchanged, full = Stat(), Stat()
    unchanged_counts: set[tuple[int, int, int]] = set()
    old = (0, 0, 0)
    for i in range(reps):
        server.reset()
        ms, again = timed(lambda: ledger.refresh(force=True))
        unchanged.add(ms)
        unchanged_counts.add(on_the_wire(server))
        if again != records or ledger.last_refresh.gets:
            raise RuntimeError(f"an unchanged refresh read records: {ledger.last_refresh}")
        if i < full_reps:
            server.reset()
            ms, everything = timed(Ledger(store).read_all)
            full.add(ms)
            old = on_the_wire(server)
            if everything != dict(records):
                raise RuntimeError("the old full read found other records")
    worst = max(unchanged_counts)
    if ledger.last_refresh.list_pages != worst[1]:
        raise RuntimeError(f"the ledger counts {ledger.last_refresh} but the server {worst}")
    section.row("unchanged refresh: requests", wire_text(worst) + (
        "" if len(unchanged_counts) == 1 else f" (varied: {sorted(unchanged_counts)})"))
    section.row("unchanged refresh: time", unchanged.fmt())
    section.row("old design (Ledger.read_all, every refresh): requests", wire_text(old))
    section.row("old design: full read time", full.fmt())
    ratio = Ratio(unchanged, full)
    section.row("unchanged refresh / full read", ratio.fmt())

    # Another server of the team changes 3 records and adds 2 (straight to S3).
    elsewhere = Ledger(ImageStore(server.settings(server.url)))
    for n in CHANGED:
        elsewhere.update_notes(seeded_record(n, PREFIX), f"Changed by the bench {n}.")
    for n in range(RECORDS, RECORDS + ADDED):
        elsewhere.write(seeded_record(n, PREFIX))
    server.reset()
    changed_ms, records = timed(lambda: ledger.refresh(force=True))
    changed = on_the_wire(server)
    pages_now = ledger.last_refresh.list_pages  # 10,002 records: one more page
    read = sorted(r.path.split("/", 2)[2] for r in server.requests if r.is_object_get)
    expected = sorted(record_key(seeded_record(n, PREFIX).photo_key)
                      for n in (*CHANGED, *range(RECORDS, RECORDS + ADDED)))
    if read != expected or len(records) != RECORDS + ADDED or any(
            records[f"r{n:011d}"].notes != f"Changed by the bench {n}." for n in CHANGED):
        raise RuntimeError(f"after the changes the refresh read {read}")
    section.row(f"after {len(CHANGED)} changed + {ADDED} added: requests", wire_text(changed))
    section.row(f"after {len(CHANGED)} changed + {ADDED} added: time", f"{changed_ms:,.0f} ms")
    held = held_bytes(ledger)
    section.row(f"held by the ledger ({len(records):,} records, sizeof walk)",
                f"{held / 2**20:.1f} MB ({held / len(records):,.0f} B a record)")
    per_request = full.median / old[0]
    section.note(f"moto answers a GET in ~{per_request:.1f} ms here (the old full read / its "
                 "requests), a listing page in ~"
                 f"{unchanged.median / worst[0]:,.0f} ms; real S3 takes tens of ms a GET, "
                 "so there the full read costs even more against the listing.")

    section.figures.update({
        "records": RECORDS,
        "first": {"requests": first[0], "lists": first[1], "gets": first[2],
                  "ms": round(first_ms, 1)},
        "unchanged": {"requests": worst[0], "lists": worst[1], "gets": worst[2],
                      "ms": unchanged.to_json()},
        "old_full_read": {"requests": old[0], "lists": old[1], "gets": old[2],
                          "ms": full.to_json()},
        "unchanged_over_full": ratio.to_json(),
        "changed": {"changed": len(CHANGED), "added": ADDED, "requests": changed[0],
                    "lists": changed[1], "gets": changed[2], "ms": round(changed_ms, 1)},
        "held_bytes": held,
    })
    section.target(Target("ledger_unchanged_requests",
                          "Ledger refresh at 10,000, nothing changed (S3 requests)",
                          worst[0], TARGET_REQUESTS, "calls",
                          detail=f"{worst[1]} LIST + {worst[2]} GET; old design {old[0]}"))
    section.target(Target("ledger_changed_requests",
                          f"… after {len(CHANGED)} changed + {ADDED} added (LIST pages + "
                          f"{len(CHANGED) + ADDED})",
                          changed[0], pages_now + len(CHANGED) + ADDED, "calls",
                          detail=f"{changed[1]} LIST + {changed[2]} GET"))
