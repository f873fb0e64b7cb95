"""Browser-direct uploads (lib/storage/uploads.py) against moto's S3 server, PUTs sent with httpx
exactly as the browser sends them: to the presigned URLs, reading the ETag header back."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from lib.config import S3Settings
from lib.storage.s3 import ImageStore, StorageError
from lib.storage.uploads import (
    MIB,
    MIN_PART_BYTES,
    abort_stale_uploads,
    abort_upload,
    choose_part_bytes,
    complete_upload,
    cors_rule,
    ensure_cors,
    plan_upload,
    video_file_name,
)


def put_parts(plan, data: bytes) -> list[str]:
    etags = []
    for number, url in enumerate(plan.part_urls):
        chunk = data[number * plan.part_bytes:(number + 1) * plan.part_bytes]
        response = httpx.put(url, content=chunk)
        assert response.status_code == 200, response.text
        etags.append(response.headers["ETag"])
    return etags


def uploads_in(store: ImageStore) -> list[dict]:
    return store.call("list_multipart_uploads").get("Uploads", [])


def test_multipart_plan_put_complete_stores_the_exact_bytes(s3_settings: S3Settings) -> None:
    store = ImageStore(s3_settings)
    data = os.urandom(12 * MIB + 12345)  # three parts of 5 MiB: two full, one short
    plan = plan_upload(store, "Día de rodaje.MOV", len(data), "video/quicktime",
                       part_bytes=MIN_PART_BYTES)
    assert plan.multipart and plan.put_url is None and len(plan.part_urls) == 3
    assert plan.key.startswith("photos/videos/") and plan.key.endswith("-Dia-de-rodaje.mov")
    for url in plan.part_urls:
        params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        assert params["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
        assert params["X-Amz-Expires"] == "3600"
        assert params["uploadId"] == plan.upload_id
        assert s3_settings.secret_access_key not in url
    # The expiry the plan reports is the one S3 enforces: each URL's signing time plus 1 h.
    signed_at = {datetime.strptime(parse_qs(urlsplit(u).query)["X-Amz-Date"][0],
                                   "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
                 for u in plan.part_urls}
    assert plan.expires_at == min(signed_at) + timedelta(hours=1)

    stored = complete_upload(store, plan, put_parts(plan, data))
    assert stored.key == plan.key and stored.size_bytes == len(data)
    body = store.read_object(plan.key)
    assert hashlib.sha256(body).digest() == hashlib.sha256(data).digest()
    head = store.call("head_object", Key=plan.key)
    assert head["ContentType"] == "video/quicktime"
    assert uploads_in(store) == []  # completed: no upload left open


def test_small_file_is_one_presigned_put(s3_settings: S3Settings) -> None:
    store = ImageStore(s3_settings)
    data = os.urandom(300_000)
    plan = plan_upload(store, "clip.mp4", len(data), "video/mp4")
    assert not plan.multipart and plan.part_urls == [] and plan.put_url
    response = httpx.put(plan.put_url, content=data, headers={"Content-Type": "video/mp4"})
    assert response.status_code == 200
    stored = complete_upload(store, plan, [response.headers["ETag"]])
    assert stored.size_bytes == len(data)
    assert store.read_object(plan.key) == data
    assert uploads_in(store) == []


def test_a_short_object_is_refused_and_removed(s3_settings: S3Settings) -> None:
    store = ImageStore(s3_settings)
    plan = plan_upload(store, "clip.mp4", 1000, "video/mp4")
    httpx.put(plan.put_url, content=b"x" * 999, headers={"Content-Type": "video/mp4"})
    with pytest.raises(StorageError, match="999 bytes, not the 1000"):
        complete_upload(store, plan, ["whatever"])
    assert store.list_keys(plan.key) == []


def test_missing_part_etags_abort_the_upload(s3_settings: S3Settings) -> None:
    store = ImageStore(s3_settings)
    plan = plan_upload(store, "clip.mp4", 11 * MIB, "video/mp4", part_bytes=MIN_PART_BYTES)
    with pytest.raises(StorageError, match="1 of 3 parts"):
        complete_upload(store, plan, ['"abc"'])
    assert uploads_in(store) == []


def test_abort_removes_the_upload_and_its_parts(s3_settings: S3Settings) -> None:
    store = ImageStore(s3_settings)
    data = os.urandom(6 * MIB)
    plan = plan_upload(store, "clip.webm", len(data), "video/webm", part_bytes=MIN_PART_BYTES)
    httpx.put(plan.part_urls[0], content=data[:MIN_PART_BYTES])
    assert [u["UploadId"] for u in uploads_in(store)] == [plan.upload_id]
    abort_upload(store, plan)
    assert uploads_in(store) == []
    abort_upload(store, plan)  # twice is harmless (a cancel racing a failure)
    assert store.list_keys(plan.key) == []


def test_abort_stale_uploads_aborts_only_old_ones(s3_settings: S3Settings) -> None:
    store = ImageStore(s3_settings)
    ours = plan_upload(store, "a.mp4", 11 * MIB, "video/mp4", part_bytes=MIN_PART_BYTES)
    elsewhere = store.call("create_multipart_upload", Key="photos/other/x.bin")["UploadId"]
    # moto stamps every upload with one fixed "Initiated" time (in 2010), so the clock is what
    # moves here: `now` is injected on either side of the 24 h cutoff.
    (initiated,) = {u["Initiated"] for u in uploads_in(store)}
    assert abort_stale_uploads(store, now=initiated + timedelta(hours=23)) == 0
    assert {u["UploadId"] for u in uploads_in(store)} == {ours.upload_id, elsewhere}
    assert abort_stale_uploads(store, now=initiated + timedelta(hours=25)) == 1
    # Only the videos prefix is swept: another upload in the bucket is someone else's business.
    assert {u["UploadId"] for u in uploads_in(store)} == {elsewhere}


def test_ensure_cors_answers_the_browsers_preflight(s3_settings: S3Settings,
                                                    s3_endpoint: str) -> None:
    store = ImageStore(s3_settings)
    origin = "http://127.0.0.1:8501"
    ensure_cors(store, [origin])
    rules = store.call("get_bucket_cors")["CORSRules"]
    assert rules[0]["ExposeHeaders"] == ["ETag"] and "PUT" in rules[0]["AllowedMethods"]
    preflight = httpx.options(f"{s3_endpoint}/{s3_settings.bucket}/photos/videos/x.mp4",
                              headers={"Origin": origin, "Access-Control-Request-Method": "PUT",
                                       "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == origin
    assert "PUT" in preflight.headers["Access-Control-Allow-Methods"]
    # And the PUT itself lets the page read the part's ETag.
    plan = plan_upload(store, "c.mp4", 10, "video/mp4")
    put = httpx.put(plan.put_url, content=b"0123456789",
                    headers={"Origin": origin, "Content-Type": "video/mp4"})
    assert "etag" in put.headers.get("Access-Control-Expose-Headers", "").lower()


def test_cors_rule_is_the_documented_shape() -> None:
    assert cors_rule(["*"]) == {"AllowedOrigins": ["*"], "AllowedMethods": ["PUT", "GET", "HEAD"],
                                "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"],
                                "MaxAgeSeconds": 3000}


@pytest.mark.parametrize(("size", "limit", "message"), [
    (0, None, "is empty"),
    (501 * 10**6, 500 * 10**6, "is 501.0 MB; the limit is 500.0 MB"),
], ids=["empty", "too-big"])
def test_plan_refuses_empty_files_and_files_over_the_limit(
        s3_settings: S3Settings, size: int, limit: int | None, message: str) -> None:
    store = ImageStore(s3_settings)
    with pytest.raises(StorageError, match=message):
        plan_upload(store, "clip.mp4", size, "video/mp4", max_bytes=limit)
    assert uploads_in(store) == []


def test_part_size_rules() -> None:
    with pytest.raises(ValueError, match="at least"):
        choose_part_bytes(100, 1 * MIB)
    assert choose_part_bytes(100 * MIB) == 16 * MIB
    # 10,000 parts of 16 MiB hold 160 GiB; a 200 GiB file needs bigger parts.
    part = choose_part_bytes(200 * 1024 * MIB)
    assert part % MIB == 0 and 200 * 1024 * MIB / part <= 10_000


@pytest.mark.parametrize(("given", "expected"), [
    ("My Clip.MP4", "My-Clip.mp4"), ("C:\\Users\\me\\take 2.mov", "take-2.mov"),
    ("...", "video"), ("noext", "noext"), ("ünïcödé.webm", "unicode.webm"),
])
def test_video_file_name(given: str, expected: str) -> None:
    assert video_file_name(given) == expected
