"""11. Several photos at once: a batch of 10 photos created / one photo created, same run.

The photos: skimage's astronaut portrait upscaled to 1536×1536 with a different sensor-like grain
each (so 10 distinct photos, about 1 MB JPEG each), checked once beforehand (not timed).
one   = create_all on a batch of one row: upload (presigned PUT to the bench's moto), sign,
        POST /v2/replicas to its simulator, the team record in the background.
batch = create_all on 10 rows, bounded parallel (lib.replicas.batch.CREATE_WORKERS at once;
        an info row also shows 4 at once).
Both are timed from the click to the last row's outcome; one and batch alternate, and after each
the bench waits for the simulator to finish downloading the photos (as Tavus would, later), so
those downloads never overlap the next measurement.

Two settings, same run:
- target: each POST /v2/replicas held TAVUS_DELAY s by the simulator (Tavus's answer to a create
  is a network round trip plus its own work, never the loopback's ~5 ms: an assumption, named);
- (info) loopback: no delay, so the figure is the bench machine's CPU (moto, the simulator and
  the client share its cores), which parallel uploads cannot beat on 2 cores.
"""

from __future__ import annotations

import io
import time

from bench.common import TAVUS_KEY, Ratio, S3Server, Section, Simulator, Stat, Target

REPS = 5
TAVUS_DELAY = 0.5  # s per POST /v2/replicas in the target rows
BATCH = 10
TARGET_RATIO = 2.0
SIDE = 1536


def make_photos(n: int) -> list[tuple[str, bytes]]:
    import numpy as np
    from PIL import Image
    from skimage import data

    base = np.asarray(Image.fromarray(data.astronaut()).resize(
        (SIDE, SIDE), Image.Resampling.LANCZOS)).astype(np.int16)
    photos = []
    for i in range(n):
        noise = np.random.default_rng(100 + i).normal(0, 6, base.shape).astype(np.int16)
        out = io.BytesIO()
        Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)).save(
            out, format="JPEG", quality=92)
        photos.append((f"portrait_{i:02d}.jpg", out.getvalue()))
    return photos


def _wait_for_downloads(tavus, replica_ids: list[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    left = set(replica_ids)
    while left and time.monotonic() < deadline:
        for rid in list(left):
            replica = tavus.get_replica(rid)
            if replica.error_message:
                raise RuntimeError(f"the simulator could not use the photo: "
                                   f"{replica.error_message}")
            if replica.updated_at != replica.created_at:
                left.discard(rid)
        if left:
            time.sleep(0.02)
    if left:
        raise RuntimeError("the simulator did not download every training photo")


def run(sim: Simulator, s3: S3Server, *, reps: int = REPS) -> Section:
    from lib.photos.analysis import analyse_photo
    from lib.replicas.batch import CREATE_WORKERS, check_all, create_all
    from lib.replicas.create import ReplicaForm, wait_for_ledger
    from lib.storage.s3 import ImageStore
    from lib.tavus.client import TavusClient

    section = Section("batch", "11. Several photos at once: a batch of 10 / one photo")
    print(f"\n{section.title}", flush=True)
    photos = make_photos(BATCH + 1)
    checked = check_all(photos, lambda data, name: analyse_photo(data, name))
    if any(r.status != "ready" for r in checked):
        raise RuntimeError(f"bench photos not ready: {[r.reason for r in checked]}")
    section.row("photos", f"{BATCH} + 1 distinct JPEGs, {SIDE}×{SIDE}, "
                          f"{sum(len(d) for _, d in photos) / len(photos) / 1e6:.2f} MB each")
    tavus = TavusClient(sim.url, TAVUS_KEY)
    store = ImageStore(s3.settings("bench-batch/"))

    def form_for(row):
        return ReplicaForm(replica_name=row.name, voice_name="anna")

    def fresh(rows):  # the same checked photos, as rows never created (a new batch)
        from lib.replicas.batch import row_from
        return [row_from(r.filename, r.analysis) for r in rows]

    def timed_create(rows, delay: float = 0.0, workers: int = CREATE_WORKERS) -> float:
        if delay:
            sim.delay_next(len(rows), delay, path_prefix="/v2/replicas")
        start = time.perf_counter()
        ran = create_all(rows, tavus=tavus, store=store, form_for=form_for, ttl_hours=72,
                         max_workers=workers)
        elapsed = (time.perf_counter() - start) * 1000
        failed = [r.error for r in ran if r.status != "created"]
        if len(ran) != len(rows) or failed:
            raise RuntimeError(f"batch create failed: {failed}")
        for r in ran:
            wait_for_ledger(r.attempt, timeout=30)
        sim.clear_faults()
        _wait_for_downloads(tavus, [r.replica_id for r in ran])
        return elapsed

    one_rows, batch_rows = checked[:1], checked[1:]
    timed_create(fresh(one_rows)), timed_create(fresh(batch_rows))  # warm every path

    def measure(delay: float, workers: int = CREATE_WORKERS) -> tuple[Stat, Stat, Ratio]:
        one, batch = Stat(), Stat()
        for _ in range(reps):
            one.add(timed_create(fresh(one_rows), delay, workers))
            batch.add(timed_create(fresh(batch_rows), delay, workers))
        return one, batch, Ratio(batch, one)

    one, batch, ratio = measure(TAVUS_DELAY)
    _, four_batch, four_ratio = measure(TAVUS_DELAY, workers=4)
    local_one, local_batch, local_ratio = measure(0.0)
    held = f"+{TAVUS_DELAY * 1000:.0f} ms per Tavus create"
    section.row(f"one photo created ({held})", one.fmt())
    section.row(f"batch of {BATCH} created ({CREATE_WORKERS} at once, {held})", batch.fmt())
    section.row(f"batch of {BATCH} / one ({held})", ratio.fmt())
    section.row(f"(info) batch of {BATCH} / one, 4 at once ({held})", four_ratio.fmt())
    section.row("(info) loopback: one photo created", local_one.fmt())
    section.row(f"(info) loopback: batch of {BATCH} created", local_batch.fmt())
    section.row(f"(info) loopback: batch of {BATCH} / one", local_ratio.fmt())
    section.figures.update({
        "photos": BATCH, "workers": CREATE_WORKERS, "tavus_delay_s": TAVUS_DELAY,
        "one_ms": one.to_json(), "batch_ms": batch.to_json(), "batch_over_one": ratio.to_json(),
        "four_workers_batch_ms": four_batch.to_json(),
        "four_workers_batch_over_one": four_ratio.to_json(),
        "loopback_one_ms": local_one.to_json(), "loopback_batch_ms": local_batch.to_json(),
        "loopback_batch_over_one": local_ratio.to_json()})
    section.target(Target("batch_ratio", f"Batch of {BATCH} photos created / one ({held})",
                          ratio.value, TARGET_RATIO, "x",
                          f"{batch.median:.0f} ms vs {one.median:.0f} ms; loopback "
                          f"{local_ratio.value:.1f}x"))
    tavus.close()
    return section
