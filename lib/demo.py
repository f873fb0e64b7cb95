"""Demo mode: an embedded Tavus simulator and a local S3 server, on loopback, once per process.

With no Tavus key configured the app still works end to end, offline: photos go to moto's S3 server
and replicas are trained by the simulator on a fast clock. A recorded demo call is written by the
simulator into the same local S3 (the bucket the conversation names). Nothing leaves this machine.
"""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass

from lib.config import S3Settings

log = logging.getLogger("replica_studio.demo")

# Not a secret: the simulator listens on loopback only and holds no real data.
DEMO_API_KEY = "demo-local-simulator-key"
DEMO_BUCKET = "replica-studio-demo"
DEMO_REGION = "us-east-1"
DEMO_AWS_KEY_ID = "demo"
DEMO_AWS_SECRET = "demo-secret"  # not a secret: moto accepts any credentials
_lock = threading.Lock()
_services: DemoServices | None = None


@dataclass(frozen=True)
class DemoServices:
    tavus_url: str
    tavus_api_key: str
    s3: S3Settings
    simulator: object  # lib.tavus.simulator.TavusSimulator, typed loosely to keep imports lazy


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_demo_services(*, training_seconds: float, simulator_port: int = 0,
                        s3_port: int = 0, document_seconds: float = 8.0) -> DemoServices:
    """Start the simulator and the S3 server (first call only) and make the bucket.

    `document_seconds`: how long a knowledge-base document takes to process."""
    global _services
    with _lock:
        if _services is not None:
            return _services
        # Imported here: moto and the simulator are only needed in demo mode.
        from moto.server import ThreadedMotoServer

        from lib.storage.s3 import ImageStore
        from lib.storage.uploads import ensure_cors
        from lib.tavus.simulator import RecordingS3, TavusSimulator

        # werkzeug (moto's server) logs each request line, presigned query string included.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        s3_port = s3_port or free_port()
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=s3_port, verbose=False)
        moto.start()
        s3 = S3Settings(
            bucket=DEMO_BUCKET,
            region=DEMO_REGION,
            endpoint_url=f"http://127.0.0.1:{s3_port}",
            prefix="demo/",
            access_key_id=DEMO_AWS_KEY_ID,
            secret_access_key=DEMO_AWS_SECRET,
        )
        store = ImageStore(s3)
        store.ensure_bucket()
        # The browser uploads training clips straight to this bucket (lib/storage/uploads.py):
        # any origin, since the app's port is not known here and nothing but loopback reaches it.
        ensure_cors(store, ["*"])

        # Recorded demo calls go to this same local S3 (the bucket each conversation names in
        # recording_storage): these settings stand in for the role Tavus would assume.
        recording_s3 = RecordingS3(endpoint_url=s3.endpoint_url, access_key_id=DEMO_AWS_KEY_ID,
                                   secret_access_key=DEMO_AWS_SECRET, region=DEMO_REGION)
        simulator = TavusSimulator(DEMO_API_KEY, port=simulator_port,
                                   training_seconds=training_seconds, seed_demo_data=True,
                                   recording_s3=recording_s3,
                                   document_seconds=document_seconds).start()
        log.info("demo mode: Tavus simulator at %s, S3 at %s", simulator.base_url, s3.endpoint_url)
        _services = DemoServices(tavus_url=simulator.base_url, tavus_api_key=DEMO_API_KEY, s3=s3,
                                 simulator=simulator)
        return _services


def running_demo_services() -> DemoServices | None:
    """The stand-ins if demo mode has started them in this process (for tests and tools)."""
    return _services
