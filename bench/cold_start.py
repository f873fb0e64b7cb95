"""3. Cold start: `streamlit run` to the Replicas table painted in headless Chromium, against a
hello-world Streamlit app measured the same way in the same run.

Each run starts a fresh server process (clock starts just before Popen), polls /_stcore/health,
opens the page in a new browser context and stops the clock when the app's stDataFrame is visible
with its first row's cells in the grid's accessible table and the script state is notRunning.
Product: `streamlit run streamlit_app.py` in real mode (TAVUS_API_URL / S3_ENDPOINT_URL pointing at
the bench's own simulator and moto processes, PRIVATE_APP=1), deep link /replicas, 100 replicas
(20 training), 20 of them with a team record and photo in S3. Hello world: st.title +
st.dataframe of a 3-row frame, at /. Runs alternate, after one unmeasured run of each.

Also: `python -X importtime` of the Replicas page's lib/ imports (its module graph) and which heavy
native libraries the server has mapped once the table is painted.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import (
    PY,
    ROOT,
    TAVUS_KEY,
    Ratio,
    S3Server,
    Section,
    Simulator,
    Stat,
    Target,
    clean_env,
    free_port,
    maps_contain,
    ms_since,
    stop,
    wait_http,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
RUNS = 7
TARGET_RATIO = 1.5
REPLICAS = 100
TEAM_RECORDS = 20  # of the 100, made "with the app": a team record and a photo each
PREFIX = "bench-cold/"
HELLO_APP = """\
import pandas as pd
import streamlit as st

st.title("Hello, world")
st.dataframe(pd.DataFrame({"name": ["a", "b", "c"], "value": [1, 2, 3]}))
"""
# Checked on the server after the Replicas table is painted: native code that should not be
# loaded there (OpenCV belongs to the Create page's photo checks only).
HEAVY_NATIVE = {"cv2": "cv2/", "skimage": "skimage/"}
IMPORTS_OF_INTEREST = ("streamlit", "pandas", "pyarrow", "numpy", "boto3", "httpx", "PIL.Image",
                       "cv2", "moto", "skimage", "lib.storage.s3", "lib.replicas.table",
                       "lib.ui.shell")
# What pages/replicas.py imports from lib/ (the frame pulls in the rest of lib/ui).
PAGE_IMPORTS = "import lib.ui.shell, lib.ui.widgets, lib.replicas.facts, lib.replicas.table"
PAGE_TOTAL = "the Replicas page's lib imports"
BOTO3_PROBE = """\
import time
t0 = time.perf_counter()
import lib.storage.s3
t1 = time.perf_counter()
from lib.config import S3Settings
lib.storage.s3.ImageStore(S3Settings(bucket="b", endpoint_url="http://127.0.0.1:9",
                                  access_key_id="a", secret_access_key="b"))
t2 = time.perf_counter()
print((t1 - t0) * 1000, (t2 - t1) * 1000)
"""


def launch_browser(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def table_painted(page, timeout: float = 120_000) -> None:
    """stDataFrame visible with row 0 drawn, and no script run in progress."""
    page.wait_for_selector('[data-testid="stDataFrame"]', state="visible", timeout=timeout)
    page.wait_for_selector('[data-testid="stDataFrame"] [data-testid="glide-cell-1-0"]',
                           state="attached", timeout=timeout)
    page.wait_for_selector('[data-testid="stApp"][data-test-connection-state="CONNECTED"]',
                           state="attached", timeout=timeout)
    page.wait_for_selector('[data-test-script-state="notRunning"]', state="attached",
                           timeout=timeout)
    if page.locator('[data-testid="stException"]').count():
        raise RuntimeError("the app shows an exception:\n" + page.inner_text("body")[:2000])


def table_complete(page, total: int, timeout: float = 120_000) -> None:
    """The Replicas caption counts the whole account ("10,000 of 10,000 shown"): every page of
    the first load has arrived and been drawn (the first rows come before)."""
    page.wait_for_function(
        "n => (document.querySelector('.st-key-replica-updated')?.innerText || '')"
        ".includes(' of ' + n + ' shown')", arg=f"{total:,}", timeout=timeout)


def start_streamlit(script: str, cwd: Path, env: dict[str, str], log: Path
                    ) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [PY, "-m", "streamlit", "run", script, "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=cwd, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    return process, f"http://127.0.0.1:{port}"


def app_env(sim: Simulator, s3: S3Server, prefix: str, **extra: str) -> dict[str, str]:
    return clean_env(TAVUS_API_KEY=TAVUS_KEY, TAVUS_API_URL=sim.url, PRIVATE_APP="1",
                     **s3.app_env(prefix), **extra)


def _one_run(browser, script: str, cwd: Path, env: dict[str, str], path: str, log: Path,
             checks: dict[str, bool] | None = None) -> tuple[float, float]:
    """-> (ms to health ok, ms to table painted), both from just before Popen."""
    start = time.perf_counter()
    process, url = start_streamlit(script, cwd, env, log)
    try:
        wait_http(f"{url}/_stcore/health", process=process, interval=0.01,
                  expect=lambda r: r.text == "ok")
        healthy = ms_since(start)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        try:
            page = context.new_page()
            page.goto(url + path)
            table_painted(page)
            painted = ms_since(start)
            if checks is not None:
                for name, needle in HEAVY_NATIVE.items():
                    checks[name] = checks.get(name, False) or maps_contain(process.pid, needle)
        finally:
            context.close()
    finally:
        stop(process)
    return healthy, painted


def import_times(runs: int = 3) -> dict[str, float]:
    """Cumulative import time (ms, median of `runs` fresh interpreters) of the Replicas page's
    lib/ graph, per module, with the whole statement's under PAGE_TOTAL."""
    found: dict[str, list[float]] = {}
    pattern = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")
    for _ in range(runs):
        out = subprocess.run([PY, "-X", "importtime", "-c", PAGE_IMPORTS], cwd=ROOT,
                             env=clean_env(), capture_output=True, text=True, check=True).stderr
        seen: set[str] = set()
        total, started = 0.0, False
        for line in out.splitlines():
            match = pattern.match(line)
            if not match:
                continue
            name, cumulative = match.group(4), int(match.group(2)) / 1000
            if len(match.group(3)) == 1:  # top level: the interpreter's own imports, then ours
                started = started or name.startswith("lib.")
                total += cumulative if started else 0.0
            if name not in seen:
                seen.add(name)
                found.setdefault(name, []).append(cumulative)
        found.setdefault(PAGE_TOTAL, []).append(total)
    return {name: sorted(v)[len(v) // 2] for name, v in found.items() if len(v) == runs}


def boto3_cost(runs: int = 3) -> tuple[Stat, Stat]:
    """(import lib.storage.s3, ImageStore() i.e. a boto3 S3 client) in fresh interpreters, ms."""
    imported, client = Stat(), Stat()
    for _ in range(runs):
        out = subprocess.run([PY, "-c", BOTO3_PROBE], cwd=ROOT, env=clean_env(),
                             capture_output=True, text=True, check=True).stdout.split()
        imported.add(float(out[0]))
        client.add(float(out[1]))
    return imported, client


def run(s3: S3Server, *, runs: int = RUNS, artifacts: Path) -> Section:
    from playwright.sync_api import sync_playwright

    section = Section("cold_start", "3. Cold start: streamlit run → Replicas table painted")
    print(f"\n{section.title}", flush=True)
    sim = Simulator("cold-start").start()
    try:
        ids = sim.add(REPLICAS, training=20)
        s3.seed_team_records(PREFIX, ids[:TEAM_RECORDS])
        hello_dir = Path(tempfile.mkdtemp(prefix="bench-hello-"))
        (hello_dir / "hello.py").write_text(HELLO_APP)
        env = app_env(sim, s3, PREFIX)
        hello_env = clean_env()
        hello, product = Stat(), Stat()
        hello_health, product_health = Stat(), Stat()
        loaded: dict[str, bool] = {}
        with sync_playwright() as playwright:
            browser = launch_browser(playwright)
            try:
                # One unmeasured run of each warms the OS page cache, as on a deployed box.
                _one_run(browser, "hello.py", hello_dir, hello_env, "/",
                         artifacts / "cold-hello.log")
                _one_run(browser, "streamlit_app.py", ROOT, env, "/replicas",
                         artifacts / "cold-product.log")
                for i in range(runs):
                    order = ("hello", "product") if i % 2 == 0 else ("product", "hello")
                    for which in order:
                        if which == "hello":
                            h, p = _one_run(browser, "hello.py", hello_dir, hello_env, "/",
                                            artifacts / "cold-hello.log")
                            hello_health.add(h)
                            hello.add(p)
                        else:
                            h, p = _one_run(browser, "streamlit_app.py", ROOT, env, "/replicas",
                                            artifacts / "cold-product.log", loaded)
                            product_health.add(h)
                            product.add(p)
            finally:
                browser.close()
    finally:
        sim.stop()
    ratio = Ratio(product, hello)
    section.row("hello world: health ok", hello_health.fmt())
    section.row("hello world: table painted", hello.fmt())
    section.note(f"Replica Studio: {REPLICAS} replicas (20 training), {TEAM_RECORDS} with a team "
                 "record and photo; hello world: a 3-row frame")
    section.row("Replica Studio /replicas: health ok", product_health.fmt())
    section.row("Replica Studio /replicas: table painted", product.fmt())
    section.row("Replica Studio / hello world", ratio.fmt())
    section.figures.update({
        "replicas": REPLICAS, "team_records": TEAM_RECORDS,
        "hello_ms": hello.to_json(), "product_ms": product.to_json(),
        "hello_health_ms": hello_health.to_json(), "product_health_ms": product_health.to_json(),
        "product_over_hello": ratio.to_json(),
        "native_loaded_after_replicas_paint": loaded,
    })
    section.target(Target("cold_start_ratio", "Cold start to /replicas painted / hello world",
                          ratio.value, TARGET_RATIO, "x",
                          f"{product.median:.0f} ms vs {hello.median:.0f} ms"))
    section.row("server has OpenCV mapped after /replicas painted",
                "yes" if loaded.get("cv2") else "no")

    times = import_times()
    top = {name: round(times[name], 1) for name in (PAGE_TOTAL, *IMPORTS_OF_INTEREST)
           if name in times}
    section.figures["import_ms"] = top
    section.row(f"python -X importtime: {PAGE_TOTAL}, total", f"{times[PAGE_TOTAL]:.0f} ms")
    for name in IMPORTS_OF_INTEREST:
        value = f"{times[name]:.0f} ms" if name in times else "not imported"
        section.row(f"  {name}", value)
    imported, client = boto3_cost()
    section.row("import lib.storage.s3 (boto3) in a fresh interpreter", imported.fmt())
    section.row("ImageStore(): creating the boto3 S3 client", client.fmt())
    section.figures["boto3_ms"] = {"import_lib_storage": imported.to_json(),
                                   "image_store_client": client.to_json()}
    return section
