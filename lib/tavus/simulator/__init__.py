"""An embedded Tavus API stand-in for demos and tests (see TavusSimulator).

Plain Python: stdlib http.server plus Pillow (image decoding), PyAV (training-video probing, call
recordings), httpx (training-file and document downloads) and boto3 (recordings), all imported
only when needed.
"""

from .recording import RecordingS3
from .server import FAULT_KINDS, RequestRecord, TavusSimulator

__all__ = ["FAULT_KINDS", "RecordingS3", "RequestRecord", "TavusSimulator"]
