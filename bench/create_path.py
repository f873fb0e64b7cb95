"""4. The create path with a 5 MB, 12 MP photo: checks, then upload + create, against a raw
presigned PUT + a raw POST.

The photo: skimage's astronaut portrait upscaled to 3464×3464 (12.0 MP), with a fine grain like a
camera sensor's and a small EXIF block (make, model, orientation 1) as every phone photo has,
saved as JPEG with the quality and grain picked so the file is about 5 MB.

checks  = prepare_photo + check_photo (what the Create page waits for before its verdict);
          draw_overlay, the preview the page also draws, is printed separately.
product = create_replica_from_photo with an ImageStore on the bench's moto and a TavusClient on
          its simulator: presigned PUT of the photo, presigned GET for Tavus, POST /v2/replicas,
          then the team's ledger record (another small PUT). Timed per step via on_step.
raw     = sign the PUT, httpx PUT of the same bytes, sign the GET, httpx POST /v2/replicas with
          the same JSON, over one kept-alive httpx client (signing is local work any client does).
Product and raw alternate; after each, the bench waits for the simulator to finish downloading the
photo from moto (as Tavus would, later), so that download never overlaps the next measurement.
"""

from __future__ import annotations

import io
import time

import httpx

from bench.common import TAVUS_KEY, Ratio, S3Server, Section, Simulator, Stat, Target, timed

REPS = 15
TARGET_RATIO = 1.2
TARGET_CHECKS_MS = 300.0
TARGET_BYTES = 5_000_000
SIDE = 3464  # 3464² = 12.0 MP


def make_photo() -> bytes:
    """A ~5 MB, 12 MP JPEG portrait (deterministic)."""
    import numpy as np
    from PIL import Image
    from skimage import data

    base = Image.fromarray(data.astronaut()).resize((SIDE, SIDE), Image.Resampling.LANCZOS)
    pixels = np.asarray(base).astype(np.int16)
    noise = np.random.default_rng(12).normal(0, 1, pixels.shape).astype(np.float32)
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0112] = "BenchCam", "BC-12", 1
    best = b""
    for sigma in (6.0, 7.0, 7.5, 8.0, 8.5, 9.0):
        grain = np.clip(pixels + (noise * sigma).astype(np.int16), 0, 255).astype(np.uint8)
        out = io.BytesIO()
        Image.fromarray(grain).save(out, format="JPEG", quality=95, exif=exif.tobytes())
        if abs(out.tell() - TARGET_BYTES) < abs(len(best) - TARGET_BYTES):
            best = out.getvalue()
        if out.tell() >= TARGET_BYTES:
            break
    return best


def _wait_for_download(tavus, replica_id: str, timeout: float = 20) -> None:
    """Until the simulator has fetched the training photo (its updated_at moves on)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replica = tavus.get_replica(replica_id)
        if replica.error_message:
            raise RuntimeError(f"the simulator could not use the photo: {replica.error_message}")
        if replica.updated_at != replica.created_at:
            return
        time.sleep(0.02)
    raise RuntimeError("the simulator did not download the training photo")


def run(sim: Simulator, s3: S3Server, *, reps: int = REPS) -> Section:
    from lib.photos.checks import check_photo
    from lib.photos.intake import prepare_photo
    from lib.photos.overlay import draw_overlay
    from lib.replicas.create import ReplicaForm, attempt_for, create_replica_from_photo
    from lib.storage.s3 import ImageStore
    from lib.tavus.client import TavusClient

    section = Section("create", "4. Create path with a 5 MB photo")
    print(f"\n{section.title}", flush=True)
    photo = make_photo()
    section.row("photo", f"{len(photo) / 1e6:.2f} MB JPEG, {SIDE}×{SIDE} "
                         f"({SIDE * SIDE / 1e6:.1f} MP), EXIF")

    # --- checks ---
    prepare, check, overlay, checks = Stat(), Stat(), Stat(), Stat()
    prepared = report = None
    for _ in range(reps):
        a, prepared = timed(lambda: prepare_photo(photo, "portrait.jpg"))
        b, report = timed(lambda p=prepared: check_photo(p.data))
        c, _ = timed(lambda p=prepared, r=report: draw_overlay(p.data, r))
        prepare.add(a)
        check.add(b)
        overlay.add(c)
        checks.add(a + b)
    assert prepared is not None and report is not None
    section.row("prepare_photo (decode, strip metadata, re-encode)", prepare.fmt())
    section.row("check_photo (faces, framing, light, sharpness)", check.fmt())
    section.row("checks = prepare + check", checks.fmt())
    section.row("(separately) draw_overlay preview", overlay.fmt())
    section.row("verdict on the photo", f"{report.verdict} ({report.score}/100)")
    section.figures.update({
        "photo_bytes": len(photo), "photo_pixels": SIDE * SIDE,
        "prepared_bytes": len(prepared.data), "verdict": str(report.verdict),
        "prepare_ms": prepare.to_json(), "check_ms": check.to_json(),
        "checks_ms": checks.to_json(), "overlay_ms": overlay.to_json()})
    section.target(Target("checks_ms", "Checks on a 12 MP photo (prepare + check)",
                          checks.median, TARGET_CHECKS_MS, "ms",
                          f"overlay {overlay.median:.0f} ms more"))
    # --- upload + create ---
    tavus = TavusClient(sim.url, TAVUS_KEY)
    store = ImageStore(s3.settings("bench-create/"))
    form = ReplicaForm(replica_name="Bench portrait", voice_name="anna")
    raw_http = httpx.Client(timeout=30)

    def product() -> dict[str, float]:
        marks: list[tuple[str, float]] = []
        attempt = attempt_for(prepared, None)  # the page does this on upload
        start = time.perf_counter()
        attempt = create_replica_from_photo(
            tavus=tavus, store=store, attempt=attempt, photo=prepared,
            filename="portrait.jpg", form=form, ttl_hours=72,
            on_step=lambda step: marks.append((step, time.perf_counter())))
        end = time.perf_counter()
        if attempt.replica_id is None or attempt.ledger_error:
            raise RuntimeError(f"create failed: {attempt.ledger_error}")
        steps = {"before": (marks[0][1] - start) * 1000}
        for (step, at), (_, nxt) in zip(marks, [*marks[1:], ("end", end)], strict=True):
            steps[step] = (nxt - at) * 1000
        steps["total"] = (end - start) * 1000
        _wait_for_download(tavus, attempt.replica_id)
        return steps

    def raw() -> float:
        key = store.object_key("portrait.jpg", prepared.content_type)
        start = time.perf_counter()
        put_url = store.presign_put(key, prepared.content_type)
        put = raw_http.put(put_url, content=prepared.data,
                           headers={"Content-Type": prepared.content_type})
        get_url = store.presign_get(key, ttl_hours=72).url
        body = {"train_image_url": get_url, "voice_name": form.voice_name,
                "replica_name": form.replica_name, "auto_fix_training_image": True,
                "model_name": form.model_name}
        post = raw_http.post(f"{sim.url}/v2/replicas", json=body,
                             headers={"x-api-key": TAVUS_KEY})
        elapsed = (time.perf_counter() - start) * 1000
        if put.status_code != 200 or post.status_code != 200:
            raise RuntimeError(f"raw create failed: {put.status_code} / {post.status_code}")
        _wait_for_download(tavus, post.json()["replica_id"])
        return elapsed

    product(), raw()  # warm every path (connections, boto3's endpoint resolution)
    steps: dict[str, Stat] = {}
    raw_stat = Stat()
    for _ in range(reps):
        for step, ms in product().items():
            steps.setdefault(step, Stat()).add(ms)
        raw_stat.add(raw())
    total = steps["total"]
    for step in ("before", "uploading", "signing", "creating", "recording"):
        label = {"before": "hash check of the photo", "uploading": "upload (presigned PUT)",
                 "signing": "sign the training URL", "creating": "POST /v2/replicas",
                 "recording": "team ledger record (PUT)"}[step]
        section.row(f"  step: {label}", steps[step].fmt())
    section.row("product create (upload + create + record)", total.fmt())
    section.row("raw presigned PUT + raw POST", raw_stat.fmt())
    ratio = Ratio(total, raw_stat)
    no_record = Stat([t - r for t, r in zip(total.samples, steps["recording"].samples,
                                            strict=True)])
    section.row("product / raw", ratio.fmt())
    section.row("(info) without the ledger step / raw", Ratio(no_record, raw_stat).fmt())
    section.figures.update({
        "steps_ms": {k: v.to_json() for k, v in steps.items()}, "raw_ms": raw_stat.to_json(),
        "product_over_raw": ratio.to_json(),
        "product_without_ledger_over_raw": Ratio(no_record, raw_stat).to_json()})
    section.target(Target("create_ratio", "Create (beyond checks) / raw PUT + POST",
                          ratio.value, TARGET_RATIO, "x",
                          f"{total.median:.0f} ms vs {raw_stat.median:.0f} ms raw"))
    tavus.close()
    raw_http.close()
    return section
