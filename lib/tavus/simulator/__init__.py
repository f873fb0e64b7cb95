"""An embedded Tavus API stand-in for demos and tests (see TavusSimulator).

Plain Python: stdlib http.server plus Pillow (image decoding), PyAV (training-video probing) and
httpx (training-file downloads), all imported only when needed.
"""

from .server import FAULT_KINDS, RequestRecord, TavusSimulator

__all__ = ["FAULT_KINDS", "RequestRecord", "TavusSimulator"]
