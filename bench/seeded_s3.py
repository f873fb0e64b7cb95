"""moto's S3 server in its own process, with team ledger records put straight into its backend.

Over HTTP moto spends ~3–4.5 ms of its own work on every request here, so seeding 10,000 records
by PUT would take ~45 s of a bench section; its backend takes them in ~0.5 s. Only the seeding
skips HTTP: everything the ledger bench measures (listings and GETs) goes over HTTP to this server.

About half of moto's time per request is spent listing its own package directory to route the
request (`moto.backends.list_of_moto_modules`, a directory listing and a stat per service, every
request). That list cannot change while the server runs, so it is computed once here: the same
server, answering the same bytes, in about half the time (a full read of 10,000 records is the
slow part of the ledger section).

The server keeps its own request log: every HTTP request it receives, as method, path and query
string, read with GET and emptied with DELETE on /_bench/requests (answered by the log, never
passed to moto). Counting there, in the server, costs the measured client nothing, where a proxy
in its path would add its own time to every request.

    python -m bench.seeded_s3 --host 127.0.0.2 --port P --bucket B --prefix team/ --records 10000
        [--photos]   also a small placeholder photo beside each record, as the app stores them

Prints "ready" once it serves; stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

LOG_PATH = "/_bench/requests"


class RequestLog:
    """WSGI middleware in front of moto: records each request, serves the record at LOG_PATH."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._requests: list[list[str]] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        if path == LOG_PATH:
            with self._lock:
                body = json.dumps({"requests": self._requests}).encode()
                if method == "DELETE":
                    self._requests = []
            start_response("200 OK", [("Content-Type", "application/json"),
                                      ("Content-Length", str(len(body)))])
            return [body]
        with self._lock:
            self._requests.append([method, path, environ.get("QUERY_STRING", "")])
        return self.app(environ, start_response)


def seeded_record(n: int, prefix: str):  # -> lib.storage.ledger.LedgerRecord
    """The bench's record number n, as the app would have written it for one replica."""
    from lib.storage.ledger import LedgerRecord

    return LedgerRecord(
        replica_id=f"r{n:011d}", replica_name=f"Team replica {n}",
        photo_key=f"{prefix}2026/11/30/{n:05d}-portrait.jpg", voice_name="anna",
        model_name="phoenix-4", auto_fix_training_image=True,
        created_at=f"2026-11-30T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z",
        created_by="bench@example.com", check_score=90, notes=f"Seeded record {n}.")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.seeded_s3", description=__doc__)
    parser.add_argument("--host", default="127.0.0.2")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--records", type=int, required=True)
    parser.add_argument("--photos", action="store_true")
    args = parser.parse_args()

    import logging

    from moto import backends
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.moto_server.threaded_moto_server import MotoRequestHandler
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from moto.s3.models import s3_backends
    from werkzeug.serving import make_server

    from lib.storage.ledger import record_key

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    backend.create_bucket(args.bucket, "us-east-1")
    for n in range(args.records):
        record = seeded_record(n, args.prefix)
        backend.put_object(args.bucket, record_key(record.photo_key), record.to_json())
        if args.photos:
            backend.put_object(args.bucket, record.photo_key, b"\xff\xd8 placeholder")
    # What moto.server.ThreadedMotoServer runs, with the request log in front.
    server = make_server(args.host, args.port,
                         RequestLog(DomainDispatcherApplication(create_backend_app)),
                         threaded=True, request_handler=MotoRequestHandler)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print("ready", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
