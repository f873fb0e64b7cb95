"""lib/storage against moto's S3 server, over the S3 wire protocol."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from lib.config import S3Settings
from lib.storage.s3 import ImageStore, StorageError, safe_file_name
from tests.media import astronaut_png


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_upload_goes_through_a_presigned_put_and_the_training_url_serves_it(
        s3_settings: S3Settings) -> None:
    store = ImageStore(s3_settings)
    photo = astronaut_png()
    stored = store.upload_image(photo, "My Head Shot.png", "image/png")
    assert stored.size == len(photo)
    assert store.read_object(stored.key) == photo

    training = store.presign_get(stored.key, ttl_hours=72)
    response = httpx.get(training.url)
    assert response.status_code == 200
    assert response.content == photo
    assert response.headers["content-type"] == "image/png"


def test_training_url_is_sigv4_and_lives_the_configured_time(s3_settings: S3Settings) -> None:
    store = ImageStore(s3_settings)
    training = store.presign_get("photos/x.png", ttl_hours=48)
    params = query(training.url)
    assert params["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert params["X-Amz-Expires"] == str(48 * 3600)
    assert "Signature" not in params  # no SigV2 fallback
    # The expiry shown to the team is the one S3 enforces: the signing time plus 48 h.
    signed_at = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert training.expires_at == signed_at + timedelta(hours=48)


@pytest.mark.parametrize(("asked", "expected_hours"), [(1, 24), (500, 168), (100, 100)])
def test_training_url_ttl_is_clamped_to_24h_to_7_days(s3_settings: S3Settings, asked: int,
                                                      expected_hours: int) -> None:
    url = ImageStore(s3_settings).presign_get("k.png", ttl_hours=asked).url
    assert query(url)["X-Amz-Expires"] == str(expected_hours * 3600)


def test_sigv4_even_in_us_east_1_without_an_endpoint() -> None:
    store = ImageStore(S3Settings(bucket="team-photos", region="us-east-1",
                                  access_key_id="AKIAEXAMPLE", secret_access_key="x"))
    url = store.presign_get("k.png", ttl_hours=24).url
    assert query(url)["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert urlsplit(url).hostname == "team-photos.s3.amazonaws.com"  # virtual-hosted on real AWS


def test_custom_endpoint_uses_path_style(s3_settings: S3Settings) -> None:
    url = ImageStore(s3_settings).presign_get("photos/a.png", ttl_hours=24).url
    parts = urlsplit(url)
    assert parts.netloc == urlsplit(s3_settings.endpoint_url).netloc
    assert parts.path == f"/{s3_settings.bucket}/photos/a.png"


def test_object_key_is_prefixed_dated_unique_and_safe(s3_settings: S3Settings) -> None:
    store = ImageStore(s3_settings)
    now = datetime(2026, 11, 25, tzinfo=UTC)
    first = store.object_key("../../etc/Pass wd?.PNG", "image/png", now=now)
    second = store.object_key("../../etc/Pass wd?.PNG", "image/png", now=now)
    assert first != second
    assert first.startswith("photos/2026/11/25/")
    assert first.endswith("-Pass-wd.png")
    assert ".." not in first and " " not in first


@pytest.mark.parametrize(("name", "content_type", "expected"), [
    ("portrait.jpeg", "image/jpeg", "portrait.jpg"),
    ("Zoë café.png", "image/png", "Zoe-cafe.png"),
    ("<script>.png", "image/png", "script.png"),
    ("....", "image/png", "photo.png"),
])
def test_safe_file_name(name: str, content_type: str, expected: str) -> None:
    assert safe_file_name(name, content_type) == expected


def test_upload_sets_content_type(s3_settings: S3Settings) -> None:
    store = ImageStore(s3_settings)
    stored = store.upload_image(b"\xff\xd8fake-jpeg", "a.jpg", "image/jpeg")
    head = store._s3.head_object(Bucket=s3_settings.bucket, Key=stored.key)
    assert head["ContentType"] == "image/jpeg"


def test_listing_gives_each_key_its_etag_as_the_put_returned_it(s3_settings: S3Settings) -> None:
    store = ImageStore(s3_settings)
    etags = {key: store.put_bytes(key, data, "application/json")
             for key, data in [("photos/b.json", b"{}"), ("photos/a.json", b"[]"),
                               ("other/c.json", b"{}")]}
    store.put_bytes("photos/a.png", b"\x89PNG", "image/png")
    listing = store.list_objects("photos/", suffix=".json")
    assert [(o.key, o.etag) for o in listing.objects] == [
        ("photos/a.json", etags["photos/a.json"]), ("photos/b.json", etags["photos/b.json"])]
    assert etags["photos/a.json"] != etags["photos/b.json"] and listing.pages == 1
    store.put_bytes("photos/b.json", b'{"x": 1}', "application/json")
    changed = store.list_objects("photos/", suffix=".json").objects[1]
    assert changed.key == "photos/b.json" and changed.etag != etags["photos/b.json"]
    assert store.list_objects("photos/", page_size=1).pages == 3  # a.json, a.png, b.json


def test_missing_bucket_is_explained(s3_settings: S3Settings) -> None:
    store = ImageStore(replace(s3_settings, bucket="no-such-bucket-here"))
    with pytest.raises(StorageError) as caught:
        store.upload_image(b"x", "a.png", "image/png")
    assert caught.value.code == "NoSuchBucket"
    assert "S3_BUCKET" in caught.value.message


def test_unreachable_endpoint_is_explained_without_the_url() -> None:
    store = ImageStore(S3Settings(bucket="b", endpoint_url="http://127.0.0.1:9",
                                  access_key_id="id", secret_access_key="shh-secret"))
    with pytest.raises(StorageError) as caught:
        store.upload_image(b"x", "a.png", "image/png")
    text = str(caught.value)
    assert "Could not reach the photo store" in text
    assert "X-Amz" not in text and "shh-secret" not in text


def test_other_file_types_are_refused_before_any_request(s3_settings: S3Settings) -> None:
    with pytest.raises(StorageError, match="PNG and JPEG"):
        ImageStore(s3_settings).upload_image(b"GIF89a", "a.gif", "image/gif")


def test_logs_name_the_key_never_the_signed_url(s3_settings: S3Settings,
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    stored = ImageStore(s3_settings).upload_image(b"\x89PNG", "a.png", "image/png")
    # werkzeug is the S3 server's own request log (the test's stand-in, not the app's client).
    text = "\n".join(r.getMessage() for r in caplog.records if r.name != "werkzeug")
    assert stored.key in text
    assert "X-Amz-Signature" not in text and "test-secret-value" not in text


def test_upload_file_streams_a_big_file_in_parts_with_its_content_type(
        s3_settings: S3Settings, tmp_path) -> None:
    store = ImageStore(s3_settings)
    path = tmp_path / "big.mp4"
    chunk = bytes(range(256)) * 4096  # 1 MB
    with path.open("wb") as out:
        for _ in range(20):  # 20 MB: above the multipart threshold
            out.write(chunk)
    sent: list[int] = []
    store.upload_file(path, "videos/big.mp4", "video/mp4", on_bytes=sent.append)
    head = store._s3.head_object(Bucket=s3_settings.bucket, Key="videos/big.mp4")
    assert head["ContentType"] == "video/mp4"
    assert head["ContentLength"] == path.stat().st_size == sum(sent)
    assert head["ETag"].strip('"').endswith("-3")  # three 8 MB parts: a multipart upload


def test_upload_file_to_a_missing_bucket_is_explained(s3_settings: S3Settings, tmp_path) -> None:
    path = tmp_path / "small.mp4"
    path.write_bytes(b"\x00" * 100)
    store = ImageStore(replace(s3_settings, bucket="no-such-bucket-here"))
    with pytest.raises(StorageError) as caught:
        store.upload_file(path, "videos/small.mp4", "video/mp4")
    assert caught.value.code == "NoSuchBucket"


def test_delete_removes_the_object_and_a_missing_key_is_no_error(
        s3_settings: S3Settings) -> None:
    store = ImageStore(s3_settings)
    store.put_bytes("videos/refused.mp4", b"not a video", "video/mp4")
    store.put_bytes("videos/kept.mp4", b"another", "video/mp4")
    store.delete("videos/refused.mp4")
    assert store.list_keys("videos/") == ["videos/kept.mp4"]
    store.delete("videos/refused.mp4")  # already gone: S3 answers 204 again
    assert store.list_keys("videos/") == ["videos/kept.mp4"]


def test_delete_names_the_endpoint_when_the_store_is_down(s3_settings: S3Settings) -> None:
    store = ImageStore(replace(s3_settings, endpoint_url="http://127.0.0.1:9"), timeout=2)
    with pytest.raises(StorageError) as caught:
        store.delete("videos/refused.mp4")
    assert "Could not reach" in caught.value.message, caught.value.message
