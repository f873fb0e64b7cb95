"""Call records: who started a conversation from this app, and with which preset.

Tavus knows a conversation's replica and times, not the teammate who started it nor the preset
used, so the history reads that from a small JSON record per conversation in the team bucket,
`{S3_PREFIX}calls/<conversation_id>.json`. The record is written in the background after the start
(like the ledger's writer): a slow or failing S3 never holds up or fails a call that Tavus has
already started and is billing. Reads go through one per-process `SharedObjects` copy.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields

from lib.storage.ledger import now_iso
from lib.storage.s3 import ImageStore
from lib.storage.shared_objects import SharedObjects

log = logging.getLogger("replica_studio.calls")

CALL_RECORD_VERSION = 1
CALLS_FOLDER = "calls/"
WRITE_TIMEOUT_SECONDS = 5.0
# Tavus ids are short alphanumerics; anything else must not become part of a key.
_CONVERSATION_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")

# One long-lived worker: records are tiny and a start is a click, not a stream.
_writer = ThreadPoolExecutor(max_workers=2, thread_name_prefix="calls")


@dataclass(frozen=True, slots=True)
class CallRecord:
    conversation_id: str
    started_by: str | None
    preset_name: str | None
    started_at: str
    record: bool = False
    version: int = CALL_RECORD_VERSION

    @classmethod
    def now(cls, conversation_id: str, *, started_by: str | None, preset_name: str | None,
            record: bool) -> CallRecord:
        return cls(conversation_id, started_by, preset_name, now_iso(), record)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2).encode()


def parse_call_record(key: str, data: bytes) -> CallRecord:
    """A record from its file (unknown fields from a newer app ignored); ValueError if not."""
    raw = json.loads(data)
    if not isinstance(raw, dict):
        raise ValueError(f"{key} is not a call record")
    if not isinstance(raw.get("conversation_id"), str) or not isinstance(
            raw.get("started_at"), str):
        raise ValueError(f"{key} has no conversation_id or started_at")
    for name in ("started_by", "preset_name"):
        if raw.get(name) is not None and not isinstance(raw[name], str):
            raise ValueError(f"{key} has an unreadable {name}")
    if not isinstance(raw.get("record", False), bool):
        raise ValueError(f"{key} has an unreadable record flag")
    known = {f.name for f in fields(CallRecord)}
    return CallRecord(**{k: v for k, v in raw.items() if k in known})


class CallLog:
    """The team's call records, shared by every session of one server process."""

    def __init__(self, store: ImageStore, *, max_age_seconds: float = 30.0) -> None:
        self.store = store
        self.folder = store.settings.prefix + CALLS_FOLDER
        self._objects: SharedObjects[CallRecord] = SharedObjects(
            store, self.folder, parse_call_record, max_age_seconds=max_age_seconds)

    def key_for(self, conversation_id: str) -> str:
        if not _CONVERSATION_ID.fullmatch(conversation_id):
            raise ValueError(f"not a conversation id: {conversation_id!r}")
        return f"{self.folder}{conversation_id}.json"

    def write(self, record: CallRecord) -> str:
        """Store the record (raises StorageError); visible to this process's reads at once."""
        key = self.key_for(record.conversation_id)
        etag = self.store.put_bytes(key, record.to_json(), "application/json",
                                    timeout=WRITE_TIMEOUT_SECONDS)
        self._objects.wrote(key, record, etag)
        return key

    def write_later(self, record: CallRecord) -> Future[str]:
        """Write in the background; the future holds the key or the StorageError.

        The caller never waits: the page may check the future on a later rerun to say the
        record could not be kept, but the call itself has started either way.
        """
        self.key_for(record.conversation_id)  # a bad id fails here, in the caller, not unseen
        return _writer.submit(self.write, record)

    def records(self, *, force: bool = False) -> Mapping[str, CallRecord]:
        """Records by conversation id (files that do not parse are logged and skipped).

        Raises StorageError only when the folder cannot be listed.
        """
        entries = self._objects.refresh(force=force)
        return {e.value.conversation_id: e.value for e in entries.values()
                if e.value is not None}

    def invalidate(self) -> None:
        self._objects.invalidate()
