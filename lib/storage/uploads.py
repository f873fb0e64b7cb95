"""Big files (training clips) go from the browser straight to S3 through presigned URLs.

The server only signs and checks: it plans an upload (a multipart upload with one presigned
`upload_part` URL per part, or one presigned PUT for a small file), the browser PUTs the bytes, and
the server completes the upload and verifies the stored size. No file byte passes through Python,
and the browser never sees a credential, only the URLs.

The browser PUTs cross-origin, so the bucket needs a CORS rule (`cors_rule`) that allows PUT from
the app's origin and exposes the `ETag` header (a multipart upload cannot be completed without the
parts' ETags). Demo mode sets it on its local bucket (`ensure_cors`); for a real bucket add it once,
e.g. `aws s3api put-bucket-cors --bucket B --cors-configuration '{"CORSRules": [RULE]}'` with
RULE = `cors_rule(["https://your-app.streamlit.app"])` as JSON.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from lib.storage.s3 import ImageStore, StorageError, signed_expiry

log = logging.getLogger("replica_studio.uploads")

MIB = 1024 * 1024
# 16 MiB: few enough requests for a 500 MB clip (32), small enough that a failed part costs
# little to send again. S3 wants every part but the last to be at least 5 MiB.
PART_BYTES = 16 * MIB
MIN_PART_BYTES = 5 * MIB
MAX_PARTS = 10_000  # S3's limit; bigger files get bigger parts
MAX_SINGLE_PUT_BYTES = 5 * 1024 * MIB  # S3's limit for one PUT
URL_SECONDS = 3600  # the browser starts at once, but a big file on a slow link takes a while
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class UploadPlan:
    key: str
    upload_id: str | None  # None: a single presigned PUT (`put_url`)
    part_urls: list[str]
    put_url: str | None
    part_bytes: int
    content_type: str
    size_bytes: int
    expires_at: datetime

    @property
    def multipart(self) -> bool:
        return self.upload_id is not None


@dataclass(frozen=True)
class StoredObject:
    key: str
    size_bytes: int
    etag: str | None


def cors_rule(origins: list[str]) -> dict:
    """The bucket CORS rule a browser upload needs, for the app's origin(s)."""
    return {
        "AllowedOrigins": list(origins),
        "AllowedMethods": ["PUT", "GET", "HEAD"],
        "AllowedHeaders": ["*"],
        # Without it the browser hides the ETag header and the upload cannot be completed.
        "ExposeHeaders": ["ETag"],
        "MaxAgeSeconds": 3000,
    }


# The documented rule for a real bucket: replace the origin with the app's own.
CORS_RULE: dict = cors_rule(["https://your-app.streamlit.app"])


def ensure_cors(store: ImageStore, origins: list[str]) -> None:
    """Set the upload CORS rule on the bucket. It **replaces** any rules there: demo bucket only."""
    store.call("put_bucket_cors", CORSConfiguration={"CORSRules": [cors_rule(origins)]})


def video_file_name(filename: str, *, max_length: int = 60) -> str:
    """A readable, URL-safe rendering of the user's file name, keeping its extension."""
    base = filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""

    def clean(text: str) -> str:
        ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
        return _SAFE.sub("-", ascii_text).strip("-._")

    name = clean(stem)[:max_length] or "video"
    ext = clean(ext).lower()[:8]
    return f"{name}.{ext}" if ext else name


def choose_part_bytes(size_bytes: int, part_bytes: int = PART_BYTES) -> int:
    """`part_bytes`, grown (in whole MiB) when the file would otherwise need over 10,000 parts."""
    if part_bytes < MIN_PART_BYTES:
        raise ValueError(f"part_bytes must be at least {MIN_PART_BYTES} (S3's minimum part size)")
    needed = math.ceil(size_bytes / MAX_PARTS)
    return max(part_bytes, math.ceil(needed / MIB) * MIB)


def plan_upload(store: ImageStore, filename: str, size_bytes: int, content_type: str, *,
                prefix: str = "videos/", max_bytes: int | None = None,
                part_bytes: int = PART_BYTES, now: datetime | None = None,
                noun: str = "video") -> UploadPlan:
    """Sign everything the browser needs to upload `size_bytes` bytes under a fresh key.

    The key is `<S3_PREFIX><prefix>YYYY/MM/DD/<uuid>-<safe name>`: inside the app's prefix, so an
    IAM policy scoped to that prefix covers the videos too. Files up to one part use a single
    PUT; bigger ones a multipart upload whose every part URL is signed here (SigV4, 1 h).
    """
    if size_bytes <= 0:
        raise StorageError(f"{filename} is empty (0 bytes): choose the {noun} file again.")
    if max_bytes is not None and size_bytes > max_bytes:
        raise StorageError(f"{filename} is {format_bytes(size_bytes)}; the limit is "
                           f"{format_bytes(max_bytes)}. "
                           + ("Trim or compress the clip and try again." if noun == "video" else
                              f"Make the {noun} smaller (split it, or compress its images) and "
                              "try again."))
    _sweep_once(store, prefix)
    now = now or datetime.now(UTC)
    key = (f"{store.settings.prefix}{prefix}{now:%Y/%m/%d}/{uuid.uuid4().hex}-"
           f"{video_file_name(filename)}")
    part = choose_part_bytes(size_bytes, part_bytes)
    if size_bytes <= part and size_bytes <= MAX_SINGLE_PUT_BYTES:
        url = store.presign_put(key, content_type, expires_seconds=URL_SECONDS)
        return UploadPlan(key=key, upload_id=None, part_urls=[], put_url=url, part_bytes=part,
                          content_type=content_type, size_bytes=size_bytes,
                          expires_at=signed_expiry(url))
    upload_id = store.call("create_multipart_upload", Key=key,
                           ContentType=content_type)["UploadId"]
    count = math.ceil(size_bytes / part)
    urls = [store.presign_operation("upload_part", {"Key": key, "UploadId": upload_id,
                                                    "PartNumber": number},
                                    expires_seconds=URL_SECONDS)
            for number in range(1, count + 1)]
    log.info("planned multipart upload s3://%s/%s: %d parts of %d bytes", store.bucket, key,
             count, part)
    return UploadPlan(key=key, upload_id=upload_id, part_urls=urls, put_url=None,
                      part_bytes=part, content_type=content_type, size_bytes=size_bytes,
                      expires_at=min(map(signed_expiry, urls)))


def complete_upload(store: ImageStore, plan: UploadPlan, etags: list[str]) -> StoredObject:
    """Complete the multipart upload (or find the single PUT's object) and check its size.

    A stored size other than the planned one means the browser sent something else: the object
    is deleted and a StorageError raised, so nothing half-right is ever used.
    """
    if plan.multipart:
        if len(etags) != len(plan.part_urls) or not all(etags):
            abort_upload(store, plan)
            raise StorageError(f"The browser reported {len(etags)} of {len(plan.part_urls)} "
                               "parts: the upload was cancelled. Upload the file again.")
        parts = [{"PartNumber": n, "ETag": etag} for n, etag in enumerate(etags, start=1)]
        try:
            store.call("complete_multipart_upload", Key=plan.key, UploadId=plan.upload_id,
                       MultipartUpload={"Parts": parts})
        except StorageError:
            abort_upload(store, plan)
            raise
    head = store.call("head_object", Key=plan.key)
    size = int(head["ContentLength"])
    if size != plan.size_bytes:
        store.call("delete_object", Key=plan.key)
        raise StorageError(f"The stored file is {size} bytes, not the {plan.size_bytes} chosen: "
                           "it was removed. Upload the file again.")
    log.info("completed upload s3://%s/%s (%d bytes)", store.bucket, plan.key, size)
    return StoredObject(key=plan.key, size_bytes=size, etag=head.get("ETag"))


def abort_upload(store: ImageStore, plan: UploadPlan) -> None:
    """Drop an unfinished upload: S3 frees the parts already sent (they are billed until then)."""
    if plan.multipart:
        try:
            store.call("abort_multipart_upload", Key=plan.key, UploadId=plan.upload_id)
        except StorageError as exc:
            if exc.code != "NoSuchUpload":  # already completed or aborted: nothing to drop
                raise
    else:
        # A single PUT is all or nothing; delete in case it landed just before the cancel.
        store.call("delete_object", Key=plan.key)
    log.info("aborted upload s3://%s/%s", store.bucket, plan.key)


def abort_stale_uploads(store: ImageStore, *, prefix: str = "videos/",
                        older_than: timedelta = timedelta(hours=24),
                        now: datetime | None = None) -> int:
    """Abort multipart uploads under the prefix started over `older_than` ago; return how many.

    A closed tab or a crashed server leaves its parts in the bucket, invisible and billed; no
    browser upload takes a day, so older ones are orphans.
    """
    cutoff = (now or datetime.now(UTC)) - older_than
    markers: dict[str, str] = {}
    aborted = 0
    while True:
        page = store.call("list_multipart_uploads", Prefix=f"{store.settings.prefix}{prefix}",
                          **markers)
        for upload in page.get("Uploads", []):
            if upload["Initiated"] < cutoff:
                store.call("abort_multipart_upload", Key=upload["Key"],
                           UploadId=upload["UploadId"])
                aborted += 1
        if not page.get("IsTruncated"):
            break
        markers = {"KeyMarker": page["NextKeyMarker"],
                   "UploadIdMarker": page["NextUploadIdMarker"]}
    if aborted:
        log.info("aborted %d stale multipart uploads in s3://%s", aborted, store.bucket)
    return aborted


_swept: set[tuple[str | None, str, str]] = set()
_swept_lock = threading.Lock()


def _sweep_once(store: ImageStore, prefix: str) -> None:
    """abort_stale_uploads once per process and bucket, on the first plan; never blocks a plan."""
    where = (store.settings.endpoint_url, store.bucket, store.settings.prefix + prefix)
    with _swept_lock:
        if where in _swept:
            return
        _swept.add(where)
    try:
        abort_stale_uploads(store, prefix=prefix)
    except StorageError as exc:  # e.g. no s3:ListBucketMultipartUploads permission
        log.warning("could not clean up stale uploads: %s", exc.message)


def format_bytes(size: int) -> str:
    """1.5 GB, 12.0 MB, 900 KB: decimal units, as file managers show them."""
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"
