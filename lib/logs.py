"""App logging: one stderr handler on the "replica_studio" logger.

Records say what happened (method, path, status, object key), never headers, keys or signed URLs.
"""

from __future__ import annotations

import logging
import sys

LOGGER_NAME = "replica_studio"


def configure_logging(level: int = logging.INFO) -> logging.Logger:
    logger = logging.getLogger(LOGGER_NAME)
    if not any(getattr(h, "_replica_studio", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._replica_studio = True  # marks ours, so reruns do not stack handlers
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False
    return logger
