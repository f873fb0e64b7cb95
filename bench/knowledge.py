"""14. The knowledge base: adding a 10 MB document (file → S3 → POST) against a raw PUT + POST, and
the Tavus calls the documents table costs the whole server per refresh with 5 tabs open.

Add. A ~10 MB PDF made here (a valid `%PDF-` file with its cross-reference table and `%%EOF`,
one page drawing a 1826×1826 RGB noise image stored raw, so the file is its real size).
  product = `upload_document` (the app's streamed upload: boto3's `upload_file`, multipart above
            8 MB) + `document_url_for` (the SigV4 GET Tavus downloads) + `TavusClient.
            create_document` (POST /v2/documents), against the bench's moto and simulator.
  raw     = a boto3 `put_object` of the same file (one request) + a presigned GET + an httpx POST
            /v2/documents with the same JSON over one kept-alive client.
Also interleaved, for the analysis: raw with its PUT made by boto3's `upload_file` in one part
(the product's call without the multipart split). The three alternate; after each, the bench
waits until the simulator has downloaded the file from moto (as Tavus would, later), so that
download never overlaps the next measurement, then deletes the object. What a user's click runs
(`add_file_work`: the browser's upload fetched from the bucket, judged, uploaded cleaned,
posted, the team record written) is printed beside it.

Refresh. A real `streamlit run` in demo mode (its own simulator and S3 in the app's process, the
simulator on a fixed loopback port so its request log can be read at `/_sim/requests`) with
40 documents, and 5 headless Chromium tabs (each its own context) on /knowledge, whose table
fragments refresh every REFRESH_SECONDS. Counted over a fixed number of intervals: the
simulator's GET /v2/documents (the list; one document's GET is another path) per interval, with
nothing processing, then with one document processing. The log is polled every 0.2 s, so the
calls also group into refreshes (bursts): calls per refresh, and refreshes per interval.
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
import uuid
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    AWS_KEY_ID,
    AWS_SECRET,
    BUCKET,
    TAVUS_KEY,
    Ratio,
    S3Server,
    Section,
    Simulator,
    Stat,
    Target,
    clean_env,
    free_port,
    stop,
    wait_http,
)

REPS = 15
INFO_REPS = 5  # the user's whole add, printed beside the target
TARGET_RATIO = 1.1
IMAGE_SIDE = 1826  # 1826² × 3 bytes = 10.0 MB of raw RGB
PREFIX = "bench-knowledge/"
TABS = 5
REFRESH_SECONDS = 3
INTERVALS = 10
DOCUMENTS = 40  # one page of the list (100 a page): a walk is one call
TARGET_CALLS = 2
POLL_SECONDS = 0.2
BURST_GAP = 1.0  # calls closer than this belong to one refresh (refreshes are ≥ 3 s apart)


# --- the file ---------------------------------------------------------------------------------
def make_pdf(path: Path, side: int = IMAGE_SIDE) -> int:
    """A one-page PDF drawing a side×side noise image (raw RGB, no filter): valid, and as large
    as its pixels. Deterministic. -> its size in bytes."""
    pixels = random.Random(14).randbytes(side * side * 3)
    content = f"q {side} 0 0 {side} 0 0 cm /Im1 Do Q".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {side} {side}] /Contents 4 0 R "
        "/Resources << /XObject << /Im1 5 0 R >> >> >>".encode(),
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        (f"<< /Type /XObject /Subtype /Image /Width {side} /Height {side} /ColorSpace "
         f"/DeviceRGB /BitsPerComponent 8 /Length {len(pixels)} >>\nstream\n").encode()
        + pixels + b"\nendstream",
    ]
    with open(path, "wb") as out:
        offset = out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for number, body in enumerate(objects, start=1):
            offsets.append(offset)
            offset += out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
        out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
        out.write(b"".join(b"%010d 00000 n \n" % o for o in offsets))
        out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
                  % (len(objects) + 1, offset))
    return path.stat().st_size


def _wait_for_download(http: httpx.Client, document_id: str, timeout: float = 60) -> None:
    """Until the simulator has fetched and judged the document (its updated_at moves on)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = http.get(f"/v2/documents/{document_id}").json()
        if found.get("status") == "error":
            raise RuntimeError(f"the simulator could not use the file: {found['error_message']}")
        if found.get("updated_at") != found.get("created_at"):
            return
        time.sleep(0.02)
    raise RuntimeError("the simulator did not download the document")


def _add(sim: Simulator, s3: S3Server, section: Section, reps: int) -> None:
    import boto3
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config

    from lib.actions.board import Action
    from lib.knowledge.add import (
        DOCUMENT_URL_TTL_HOURS,
        INCOMING_FOLDER,
        AddAttempt,
        add_file_work,
    )
    from lib.knowledge.intake import sniff_document
    from lib.knowledge.records import DocumentRecords
    from lib.knowledge.upload import document_url_for, upload_document
    from lib.storage.s3 import ImageStore
    from lib.tavus.client import TavusClient

    folder = Path(tempfile.mkdtemp(prefix="bench-knowledge-"))
    path = folder / "handbook.pdf"
    size = make_pdf(path)
    kind = sniff_document(path, "handbook.pdf")  # judged at take-in, before this path
    section.row("document", f"{size / 1e6:.2f} MB PDF ({kind.name}), one {IMAGE_SIDE}×"
                            f"{IMAGE_SIDE} raw RGB image")
    settings = s3.settings(PREFIX)
    store = ImageStore(settings)
    tavus = TavusClient(sim.url, TAVUS_KEY)
    raw_s3 = boto3.client("s3", endpoint_url=settings.endpoint_url, region_name=settings.region,
                          aws_access_key_id=AWS_KEY_ID, aws_secret_access_key=AWS_SECRET,
                          config=Config(signature_version="s3v4",
                                        s3={"addressing_style": "path"}))
    raw_http = httpx.Client(timeout=60)
    sim_http = httpx.Client(base_url=sim.url, headers={"x-api-key": TAVUS_KEY}, timeout=30)

    def product() -> dict[str, float]:
        start = time.perf_counter()
        stored = upload_document(store, path, "handbook.pdf", kind)
        uploaded = time.perf_counter()
        url = document_url_for(store, stored.key, DOCUMENT_URL_TTL_HOURS)
        signed = time.perf_counter()
        document = tavus.create_document(document_url=url.url, document_name="Bench handbook")
        end = time.perf_counter()
        if stored.size_bytes != size:
            raise RuntimeError(f"stored {stored.size_bytes} bytes of {size}")
        _wait_for_download(sim_http, document.document_id)
        store.delete(stored.key)
        return {"upload": (uploaded - start) * 1000, "sign": (signed - uploaded) * 1000,
                "post": (end - signed) * 1000, "total": (end - start) * 1000}

    def raw() -> float:
        key = f"{PREFIX}raw/{uuid.uuid4().hex}-handbook.pdf"
        start = time.perf_counter()
        with open(path, "rb") as body:
            raw_s3.put_object(Bucket=BUCKET, Key=key, Body=body, ContentType="application/pdf")
        url = raw_s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": key},
                                            ExpiresIn=DOCUMENT_URL_TTL_HOURS * 3600)
        post = raw_http.post(f"{sim.url}/v2/documents", headers={"x-api-key": TAVUS_KEY},
                             json={"document_url": url, "document_name": "Bench handbook"})
        elapsed = (time.perf_counter() - start) * 1000
        if post.status_code != 200:
            raise RuntimeError(f"raw create failed: {post.status_code}")
        _wait_for_download(sim_http, post.json()["document_id"])
        raw_s3.delete_object(Bucket=BUCKET, Key=key)
        return elapsed

    def one_part() -> float:
        """raw, but the PUT through boto3's upload_file in one part (its threshold above the
        file): what the product's upload would cost without the multipart split."""
        key = f"{PREFIX}raw/{uuid.uuid4().hex}-handbook.pdf"
        start = time.perf_counter()
        raw_s3.upload_file(str(path), BUCKET, key, Config=one_part_config,
                           ExtraArgs={"ContentType": "application/pdf"})
        url = raw_s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": key},
                                            ExpiresIn=DOCUMENT_URL_TTL_HOURS * 3600)
        post = raw_http.post(f"{sim.url}/v2/documents", headers={"x-api-key": TAVUS_KEY},
                             json={"document_url": url, "document_name": "Bench handbook"})
        elapsed = (time.perf_counter() - start) * 1000
        _wait_for_download(sim_http, post.json()["document_id"])
        raw_s3.delete_object(Bucket=BUCKET, Key=key)
        return elapsed

    def click() -> float:
        """add_file_work as a user's click runs it, from the browser's upload in the bucket."""
        incoming = f"{PREFIX}{INCOMING_FOLDER}{uuid.uuid4().hex}-handbook.pdf"
        with open(path, "rb") as body:
            raw_s3.put_object(Bucket=BUCKET, Key=incoming, Body=body)
        attempt = AddAttempt()
        work = add_file_work(tavus, store, records, attempt, key=incoming,
                             filename="handbook.pdf", size=size, name="Bench handbook",
                             tags=("bench",), added_by="bench@example.com")
        start = time.perf_counter()
        document = work(Action(key="bench"))
        elapsed = (time.perf_counter() - start) * 1000
        if attempt.record_problem or attempt.stored is None:
            raise RuntimeError(f"the add failed: {attempt.record_problem}")
        _wait_for_download(sim_http, document.document_id)
        store.delete(attempt.stored.key)
        return elapsed

    one_part_config = TransferConfig(multipart_threshold=4 * size, max_concurrency=4)
    records = DocumentRecords(store)
    try:
        product(), raw(), one_part(), click()  # warm every path (connections, endpoints)
        steps: dict[str, Stat] = {}
        raw_stat, one_part_stat = Stat(), Stat()
        for _ in range(reps):
            for step, ms in product().items():
                steps.setdefault(step, Stat()).add(ms)
            raw_stat.add(raw())
            one_part_stat.add(one_part())
        clicks = Stat([click() for _ in range(min(reps, INFO_REPS))])
    finally:
        tavus.close()
        raw_http.close()
        sim_http.close()
        path.unlink(missing_ok=True)
        folder.rmdir()
    total = steps["total"]
    section.row("  step: upload_document (boto3 upload_file, one PUT up to 50 MB)",
                steps["upload"].fmt())
    section.row("  step: document_url_for (presigned GET)", steps["sign"].fmt())
    section.row("  step: POST /v2/documents", steps["post"].fmt())
    section.row("product add (upload + sign + POST)", total.fmt())
    section.row("raw put_object + presigned GET + httpx POST", raw_stat.fmt())
    ratio = Ratio(total, raw_stat)
    section.row("product / raw", ratio.fmt())
    section.row("(info) raw, its PUT by boto3 upload_file in one part", one_part_stat.fmt())
    section.row("(info) one part / raw", Ratio(one_part_stat, raw_stat).fmt())
    section.row("(info) a user's click: add_file_work (fetch, judge, upload, POST, record)",
                clicks.fmt())
    section.row("(info) click / raw", Ratio(clicks, raw_stat).fmt())
    section.figures.update({
        "document_bytes": size, "steps_ms": {k: v.to_json() for k, v in steps.items()},
        "raw_ms": raw_stat.to_json(), "product_over_raw": ratio.to_json(),
        "one_part_ms": one_part_stat.to_json(),
        "one_part_over_raw": Ratio(one_part_stat, raw_stat).to_json(),
        "click_ms": clicks.to_json(), "click_over_raw": Ratio(clicks, raw_stat).to_json()})
    section.target(Target("knowledge_add_ratio", "Document added (file → S3 → POST) / raw "
                          "PUT + POST", ratio.value, TARGET_RATIO, "x",
                          f"{size / 1e6:.1f} MB PDF: {total.median:.0f} ms vs "
                          f"{raw_stat.median:.0f} ms raw"))


# --- the table's refresh ----------------------------------------------------------------------
class _Site:
    """A small text file on loopback for the demo simulator to download as each document."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="bench-knowledge-site-"))
        (self.folder / "hours.txt").write_bytes(b"Opening hours: 9 to 5, Monday to Friday.\n")

        class Quiet(SimpleHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0),
                                          partial(Quiet, directory=str(self.folder)))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hours.txt"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        (self.folder / "hours.txt").unlink(missing_ok=True)
        self.folder.rmdir()


def _document_lists(log: list[dict[str, Any]]) -> int:
    return sum(1 for r in log if r["method"] == "GET" and r["path"] == "/v2/documents")


def _count(sim: httpx.Client, seconds: float) -> dict[str, Any]:
    """Poll the simulator's request log for `seconds` from a reset: GET /v2/documents calls,
    and the refreshes they make (calls closer than BURST_GAP are one)."""
    sim.delete("/_sim/requests").raise_for_status()
    start = time.monotonic()
    seen, arrivals, others = 0, [], 0
    while True:
        now = time.monotonic()
        log = sim.get("/_sim/requests").json()["requests"]
        calls = _document_lists(log)
        arrivals.extend([now - start] * (calls - seen))
        seen = calls
        others = sum(1 for r in log if r["path"].startswith("/v2/documents/"))
        if now - start >= seconds:
            break
        time.sleep(POLL_SECONDS)
    elapsed = time.monotonic() - start
    bursts: list[list[float]] = []
    for at in arrivals:
        if bursts and at - bursts[-1][-1] < BURST_GAP:
            bursts[-1].append(at)
        else:
            bursts.append([at])
    intervals = elapsed / REFRESH_SECONDS
    return {"calls": seen, "seconds": round(elapsed, 2), "intervals": round(intervals, 2),
            "calls_per_interval": round(seen / intervals, 3), "refreshes": len(bursts),
            "calls_per_refresh": round(seen / max(len(bursts), 1), 3),
            "refreshes_per_interval": round(len(bursts) / intervals, 3),
            "max_calls_in_a_refresh": max((len(b) for b in bursts), default=0),
            "one_document_gets": others}


def _table_shown(page, documents: int, timeout: float = 120_000) -> None:
    page.wait_for_function(
        "n => document.body.innerText.includes(n + ' of ' + n + ' documents')",
        arg=f"{documents:,}", timeout=timeout)
    if page.locator('[data-testid="stException"]').count():
        raise RuntimeError("the app shows an exception:\n" + page.inner_text("body")[:2000])


def _refresh(section: Section, artifacts: Path, intervals: int) -> None:
    from playwright.sync_api import sync_playwright

    from bench.cold_start import launch_browser, start_streamlit
    from lib.demo import DEMO_API_KEY

    sim_port, s3_port = free_port(), free_port()
    env = clean_env(DEMO_MODE="1", REFRESH_SECONDS=str(REFRESH_SECONDS),
                    SIMULATOR_PORT=str(sim_port), DEMO_S3_PORT=str(s3_port),
                    # An hour a document: one added during the run is still processing at its
                    # end; the seeded ones are moved past it with the simulator's clock.
                    SIMULATOR_DOCUMENT_SECONDS="3600")
    sim_url = f"http://127.0.0.1:{sim_port}"
    site = _Site()
    process, url = start_streamlit("streamlit_app.py", Path.cwd(), env,
                                   artifacts / "knowledge-app.log")
    sim = httpx.Client(base_url=sim_url, headers={"x-api-key": DEMO_API_KEY}, timeout=30)
    phases: dict[str, dict[str, Any]] = {}
    try:
        wait_http(f"{url}/_stcore/health", process=process, expect=lambda r: r.text == "ok")
        with sync_playwright() as playwright:
            browser = launch_browser(playwright)
            contexts = []
            try:
                # The first page view starts demo mode's simulator and S3 in the app's process.
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                contexts.append(context)
                first = context.new_page()
                first.goto(f"{url}/knowledge")
                _table_shown(first, 0)
                wait_http(f"{sim_url}/", process=process)
                made = [sim.post("/v2/documents", json={
                    "document_url": site.url, "document_name": f"Handbook {i + 1}",
                    "tags": ["bench"]}).json()["document_id"] for i in range(DOCUMENTS)]
                _settle(sim, made)
                for _ in range(TABS - 1):
                    context = browser.new_context(viewport={"width": 1400, "height": 1000})
                    contexts.append(context)
                    context.new_page().goto(f"{url}/knowledge")
                pages = [c.pages[0] for c in contexts]
                for page in pages:
                    _table_shown(page, DOCUMENTS)
                time.sleep(2 * REFRESH_SECONDS)  # every tab's fragment timer running
                phases["nothing_processing"] = _count(sim, intervals * REFRESH_SECONDS)

                busy = sim.post("/v2/documents", json={
                    "document_url": site.url, "document_name": "Being processed"}).json()
                for page in pages:
                    _table_shown(page, DOCUMENTS + 1)
                time.sleep(REFRESH_SECONDS)
                phases["one_processing"] = _count(sim, intervals * REFRESH_SECONDS)
                still = sim.get(f"/v2/documents/{busy['document_id']}").json()["status"]
                if still not in ("started", "processing"):
                    raise RuntimeError(f"the busy document was {still} by the end")
                pages[0].screenshot(path=str(artifacts / "knowledge-tab.png"))
            finally:
                for context in contexts:
                    context.close()
                browser.close()
            time.sleep(2 * REFRESH_SECONDS)  # fragment runs under way end before the stop
    finally:
        sim.close()
        stop(process)
        site.close()
    labels = {"nothing_processing": f"{DOCUMENTS} documents, nothing processing",
              "one_processing": f"{DOCUMENTS + 1} documents, one processing"}
    for key, figures in phases.items():
        section.row(f"{TABS} tabs, {labels[key]}",
                    f"{figures['calls']} calls in {figures['intervals']:.1f} intervals of "
                    f"{REFRESH_SECONDS} s: {figures['calls_per_interval']:.2f} per interval")
        section.row("  refreshes seen / calls per refresh (most in one)",
                    f"{figures['refreshes']} ({figures['refreshes_per_interval']:.2f} per "
                    f"interval) / {figures['calls_per_refresh']:.2f} "
                    f"({figures['max_calls_in_a_refresh']})")
    section.figures["refresh"] = {"tabs": TABS, "refresh_seconds": REFRESH_SECONDS,
                                  "documents": DOCUMENTS, **phases}
    worst = max(f["calls_per_interval"] for f in phases.values())
    section.target(Target("knowledge_calls_per_refresh", "Tavus calls per refresh, documents "
                          f"table, whole server, {TABS} tabs", worst, TARGET_CALLS, "calls",
                          "GET /v2/documents per refresh interval, worst of the two phases, "
                          "counted in the simulator's request log"))


def _settle(sim: httpx.Client, ids: list[str], timeout: float = 60) -> None:
    """Wait until the simulator has downloaded every document, then move its clock past their
    processing: all ready."""
    deadline = time.monotonic() + timeout
    waiting = set(ids)
    while waiting:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(waiting)} documents were never downloaded")
        for document_id in list(waiting):
            found = sim.get(f"/v2/documents/{document_id}").json()
            if found["status"] == "error":
                raise RuntimeError(f"document failed: {found['error_message']}")
            if found["updated_at"] != found["created_at"]:
                waiting.discard(document_id)
        time.sleep(0.1)
    sim.post("/_sim/advance", json={"seconds": 4000}).raise_for_status()
    statuses = {sim.get(f"/v2/documents/{i}").json()["status"] for i in ids}
    if statuses != {"ready"}:
        raise RuntimeError(f"seeded documents are {statuses}, not ready")


def run(sim: Simulator, s3: S3Server, *, artifacts: Path, quick: bool = False) -> Section:
    section = Section("knowledge", "14. The knowledge base: adding a document, the table's "
                                   "refresh")
    print(f"\n{section.title}", flush=True)
    _add(sim, s3, section, 3 if quick else REPS)
    _refresh(section, artifacts, 4 if quick else INTERVALS)
    return section
