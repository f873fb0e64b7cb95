"""The photo store: S3 (or any S3-compatible server) over presigned URLs, always SigV4.

The app never hands S3 credentials to anyone: it signs a short-lived PUT to upload a photo and a
long-lived GET (24 h - 7 days) that Tavus downloads the photo from.
"""

from __future__ import annotations

import logging
import re
import time
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

import boto3
import httpx
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from lib.config import MAX_PRESIGN_TTL_HOURS, MIN_PRESIGN_TTL_HOURS, S3Settings

log = logging.getLogger("replica_studio.storage")
# httpx logs every request's full URL at INFO; a presigned URL is a credential, so keep it quiet.
logging.getLogger("httpx").setLevel(logging.WARNING)

# Big files (videos) go up in 8 MB parts, 4 at a time: at most ~32 MB in memory, however big.
FILE_TRANSFER = TransferConfig(multipart_threshold=8 * 1024 * 1024,
                               multipart_chunksize=8 * 1024 * 1024, max_concurrency=4)
UPLOAD_URL_SECONDS = 15 * 60  # the PUT is used at once; keep its window small
CONTENT_TYPES = {"image/png": ".png", "image/jpeg": ".jpg"}
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class StorageError(Exception):
    """S3 refused or could not be reached. The text is safe to show: no URL, no credentials."""

    def __init__(self, message: str, *, code: str | None = None, status_code: int | None = None):
        self.message = message
        self.code = code
        self.status_code = status_code
        super().__init__(message)

    @property
    def precondition_failed(self) -> bool:
        """A conditional write lost: the object exists (If-None-Match) or changed (If-Match).

        S3 answers 412 PreconditionFailed, or 409 ConditionalRequestConflict when two
        conditional writes to one key overlap; either way another writer got there first.
        """
        return self.code in ("PreconditionFailed", "ConditionalRequestConflict") or (
            self.code is None and self.status_code in (409, 412))


@dataclass(frozen=True)
class StoredImage:
    key: str
    content_type: str
    size: int


@dataclass(frozen=True, slots=True)
class ListedObject:
    key: str
    # S3's entity tag: changes whenever the object's content does (an MD5 for plain PUTs).
    # None when a server sends none: such an object can never be taken as unchanged.
    etag: str | None


@dataclass(frozen=True)
class ObjectListing:
    objects: list[ListedObject]
    pages: int  # ListObjectsV2 requests it took (1,000 keys a page on S3)


@dataclass(frozen=True)
class TrainingUrl:
    url: str
    expires_at: datetime
    # With temporary credentials the URL stops working when they do, whatever its own expiry.
    limited_by_session: bool


def safe_file_name(filename: str, content_type: str, *, max_length: int = 60) -> str:
    """A readable, URL-safe rendering of the user's file name, with the right extension."""
    stem = filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    cleaned = _SAFE_NAME.sub("-", ascii_stem).strip("-._")[:max_length] or "photo"
    return cleaned + CONTENT_TYPES.get(content_type, "")


class ImageStore:
    def __init__(self, settings: S3Settings, *, timeout: float = 20.0) -> None:
        self.settings = settings
        self._timeout = timeout
        # One pooled client for the store's life: a new client per PUT costs a connection and
        # an SSL context each time (measured by bench/: most of the create path's overhead).
        self._http = httpx.Client(timeout=httpx.Timeout(timeout, connect=5.0))
        self._s3 = boto3.client(
            "s3",
            region_name=settings.region,
            endpoint_url=settings.endpoint_url,
            aws_access_key_id=settings.access_key_id,
            aws_secret_access_key=settings.secret_access_key,
            aws_session_token=settings.session_token,
            config=Config(
                # boto3 still signs us-east-1 URLs with SigV2 unless told otherwise.
                signature_version="s3v4",
                # Custom endpoints (MinIO, R2, local servers) rarely support virtual hosts.
                s3={"addressing_style": "path" if settings.endpoint_url else "virtual"},
                connect_timeout=5,
                read_timeout=timeout,
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        )

    @property
    def bucket(self) -> str:
        return self.settings.bucket

    def object_key(self, filename: str, content_type: str, *, now: datetime | None = None) -> str:
        """prefix/YYYY/MM/DD/<uuid>-<safe name>: unique, sortable by day, readable in a console."""
        now = now or datetime.now(UTC)
        name = safe_file_name(filename, content_type)
        return f"{self.settings.prefix}{now:%Y/%m/%d}/{uuid.uuid4().hex}-{name}"

    def presign_put(self, key: str, content_type: str, *, expires_seconds: int = UPLOAD_URL_SECONDS
                    ) -> str:
        return self._presign("put_object", {"Bucket": self.bucket, "Key": key,
                                            "ContentType": content_type}, expires_seconds)

    def presign_get(self, key: str, *, ttl_hours: int) -> TrainingUrl:
        """The URL Tavus downloads the photo from. TTL is clamped to what Tavus and SigV4 allow."""
        hours = min(max(ttl_hours, MIN_PRESIGN_TTL_HOURS), MAX_PRESIGN_TTL_HOURS)
        seconds = hours * 3600
        url = self._presign("get_object", {"Bucket": self.bucket, "Key": key}, seconds)
        return TrainingUrl(
            url=url,
            expires_at=signed_expiry(url),
            limited_by_session=self.settings.temporary_credentials,
        )

    def presign_view(self, key: str, *, seconds: int = 3600) -> str:
        """A short-lived GET for showing a photo to the team (not the long-lived training URL)."""
        return self._presign("get_object", {"Bucket": self.bucket, "Key": key}, seconds)

    def upload_image(self, data: bytes, filename: str, content_type: str) -> StoredImage:
        """Push the photo through a presigned PUT, as a browser or another service would."""
        if content_type not in CONTENT_TYPES:
            raise StorageError(f"Only PNG and JPEG photos can be uploaded, not {content_type}.")
        key = self.object_key(filename, content_type)
        self.put_bytes(key, data, content_type)
        return StoredImage(key=key, content_type=content_type, size=len(data))

    def put_bytes(self, key: str, data: bytes, content_type: str, *,
                  timeout: float | None = None, if_none_match: bool = False,
                  if_match: str | None = None) -> str | None:
        """PUT through a presigned URL; `timeout` lets callers that must not wait long cap it.

        `if_none_match` writes only if the key does not exist yet; `if_match` only if the object
        still has that ETag (a missing object fails with NoSuchKey). A lost condition raises a
        StorageError whose `precondition_failed` is true. The conditions are signed into the URL,
        so a proxy cannot drop them and leave an unconditional write.

        Returns the stored object's ETag, as a listing shows it (None if the server sent none).
        """
        params: dict[str, str] = {"Bucket": self.bucket, "Key": key, "ContentType": content_type}
        headers = {"Content-Type": content_type}
        if if_none_match:
            params["IfNoneMatch"] = headers["If-None-Match"] = "*"
        if if_match is not None:
            params["IfMatch"] = headers["If-Match"] = if_match
        url = self._presign("put_object", params, UPLOAD_URL_SECONDS)
        limit = timeout or self._timeout
        started = time.perf_counter()
        try:
            response = self._http.put(url, content=data, headers=headers,
                                      timeout=httpx.Timeout(limit, connect=min(5.0, limit)))
        except httpx.TransportError as exc:
            raise StorageError(
                f"Could not reach the photo store ({self._where()}): {type(exc).__name__}. "
                "Check S3_ENDPOINT_URL and your network, then try again.") from None
        # Log the key, never the URL: its query string is a credential.
        log.info("PUT s3://%s/%s -> %s (%.0f ms)", self.bucket, key, response.status_code,
                 (time.perf_counter() - started) * 1000)
        if response.status_code >= 300:
            raise _error_from_s3_response(response, self.bucket)
        return response.headers.get("ETag")

    def upload_file(self, path: str | Path, key: str, content_type: str, *,
                    on_bytes: Callable[[int], None] | None = None,
                    single_put_up_to: int | None = None) -> None:
        """Upload a file from disk, streamed (multipart above 8 MB, or above `single_put_up_to`
        bytes: a document of at most 50 MB goes in one PUT, a third of the round trips).
        `on_bytes(n)` reports each chunk sent, from boto3's transfer threads."""
        config = FILE_TRANSFER if single_put_up_to is None else TransferConfig(
            multipart_threshold=single_put_up_to + 1,
            multipart_chunksize=FILE_TRANSFER.multipart_chunksize,
            max_concurrency=FILE_TRANSFER.max_concurrency)
        try:
            self._s3.upload_file(str(path), self.bucket, key, Config=config,
                                 ExtraArgs={"ContentType": content_type}, Callback=on_bytes)
        except S3UploadFailedError as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, ClientError | BotoCoreError):
                raise _error_from_boto(cause, self.bucket) from None
            raise StorageError(f"The upload to the store failed: {exc}. Check the S3 settings, "
                               "then try again.") from None
        except (ClientError, BotoCoreError) as exc:
            raise _error_from_boto(exc, self.bucket) from None
        log.info("uploaded s3://%s/%s (%s)", self.bucket, key, content_type)

    def list_keys(self, prefix: str, *, suffix: str = "") -> list[str]:
        return [o.key for o in self.list_objects(prefix, suffix=suffix).objects]

    def list_objects(self, prefix: str, *, suffix: str = "", page_size: int | None = None
                     ) -> ObjectListing:
        """Every object under `prefix` whose key ends with `suffix`, with its ETag, in key order.

        S3 cannot filter by suffix: every key under the prefix is listed (and counts towards the
        pages), the others are dropped here. `page_size` is keys per request (S3's default and
        maximum, 1,000, when None).
        """
        objects: list[ListedObject] = []
        pages = 0
        paging = {"PageSize": page_size} if page_size else {}
        try:
            for page in self._s3.get_paginator("list_objects_v2").paginate(
                    Bucket=self.bucket, Prefix=prefix, PaginationConfig=paging):
                pages += 1
                objects.extend(ListedObject(o["Key"], o.get("ETag"))
                               for o in page.get("Contents", []) if o["Key"].endswith(suffix))
        except (ClientError, BotoCoreError) as exc:
            raise _error_from_boto(exc, self.bucket) from None
        return ObjectListing(objects=objects, pages=pages)

    def download_file(self, key: str, path: str | Path) -> None:
        """Download an object to a file on disk, streamed (never whole in memory)."""
        try:
            self._s3.download_file(self.bucket, key, str(path), Config=FILE_TRANSFER)
        except (ClientError, BotoCoreError) as exc:
            raise _error_from_boto(exc, self.bucket) from None

    def read_object(self, key: str) -> bytes:
        try:
            return self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise _error_from_boto(exc, self.bucket) from None

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        """Delete one object (a missing key is no error: S3 answers 204 either way).

        `if_match` deletes only if the object still has that ETag (else `precondition_failed`).
        """
        conditions = {"IfMatch": if_match} if if_match is not None else {}
        try:
            self._s3.delete_object(Bucket=self.bucket, Key=key, **conditions)
        except (ClientError, BotoCoreError) as exc:
            raise _error_from_boto(exc, self.bucket) from None
        log.info("deleted s3://%s/%s", self.bucket, key)

    def ensure_bucket(self) -> None:
        """Create the bucket if it is missing (used for the local demo server)."""
        try:
            self._s3.head_bucket(Bucket=self.bucket)
        except ClientError:
            try:
                self._s3.create_bucket(Bucket=self.bucket)
            except (ClientError, BotoCoreError) as exc:
                raise _error_from_boto(exc, self.bucket) from None

    def presign_operation(self, operation: str, params: dict, *, expires_seconds: int) -> str:
        """A SigV4 URL for any S3 operation on this bucket (e.g. `upload_part`)."""
        return self._presign(operation, {"Bucket": self.bucket, **params}, expires_seconds)

    def call(self, operation: str, **params: object) -> dict:
        """One S3 API call on this bucket through the store's client, errors as StorageError.

        For storage modules (multipart uploads, CORS) that need calls this class does not wrap;
        keeping them here means one client, one retry policy and one error vocabulary.
        """
        try:
            return getattr(self._s3, operation)(Bucket=self.bucket, **params)
        except (ClientError, BotoCoreError) as exc:
            raise _error_from_boto(exc, self.bucket) from None

    def _presign(self, operation: str, params: dict, expires_seconds: int) -> str:
        try:
            return self._s3.generate_presigned_url(operation, Params=params,
                                                   ExpiresIn=expires_seconds)
        except (ClientError, BotoCoreError) as exc:
            raise _error_from_boto(exc, self.bucket) from None

    def _where(self) -> str:
        return self.settings.endpoint_url or f"S3 in {self.settings.region}"


def signed_expiry(url: str) -> datetime:
    """When a SigV4 presigned URL stops working: its signing time plus its lifetime, as S3 will
    enforce them (read from the URL, not from a clock read beside the signing)."""
    params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    signed = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return signed + timedelta(seconds=int(params["X-Amz-Expires"]))


_HINTS = {
    "NoSuchBucket": "Check S3_BUCKET: the bucket {bucket!r} does not exist.",
    "AccessDenied": "Check that the AWS credentials may write to the bucket {bucket!r}.",
    "InvalidAccessKeyId": "Check AWS_ACCESS_KEY_ID: S3 does not know this key.",
    "SignatureDoesNotMatch": "Check AWS_SECRET_ACCESS_KEY: it does not match the key id.",
    "ExpiredToken": "The temporary AWS credentials have expired: renew AWS_SESSION_TOKEN.",
    "PermanentRedirect": "Check S3_REGION: the bucket {bucket!r} lives in another region.",
    "AuthorizationHeaderMalformed": "Check S3_REGION: it does not match the bucket's region.",
    "AuthorizationQueryParametersError": "Check S3_REGION: it does not match the bucket's region.",
}


# Some answers carry no XML body (S3 for HEAD, moto for a bucket-policy denial, proxies):
# the status alone still says which setting to look at.
_CODE_FOR_STATUS = {403: "AccessDenied", 404: "NoSuchBucket"}


def _explain(code: str | None, status: int | None, bucket: str, detail: str | None) -> StorageError:
    hint_code = code or _CODE_FOR_STATUS.get(status or 0, "")
    hint = _HINTS.get(hint_code, "Check the S3 settings, then try again.").format(bucket=bucket)
    what = code or (f"HTTP {status}" if status else "an error")
    text = f"The photo store refused the request ({what})"
    if detail:
        text += f": {detail.rstrip('.')}"
    return StorageError(f"{text}. {hint}", code=code, status_code=status)


def _error_from_s3_response(response: httpx.Response, bucket: str) -> StorageError:
    code = message = None
    try:
        root = ElementTree.fromstring(response.content)
        code = root.findtext("Code")
        message = root.findtext("Message")
    except ElementTree.ParseError:
        pass
    return _explain(code, response.status_code, bucket, message)


def _error_from_boto(exc: Exception, bucket: str) -> StorageError:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return _explain(error.get("Code"), status, bucket, error.get("Message"))
    return StorageError(f"Could not reach the photo store: {type(exc).__name__}. "
                        "Check the S3 settings and your network, then try again.")
