"""A photo as the Create page needs it: a verdict and an overlay at once, the upload later.

The verdict is judged on a small copy (a JPEG decoded at 1/2-1/8 scale, anything else reduced),
which takes less than decoding the photo in full; the full-resolution, metadata-stripped photo
(prepare_photo) is made only when it is needed, by `PhotoAnalysis.prepare()` (Check with Tavus,
Create), once per photo (kept in a small memo across reruns).

Imports OpenCV (through lib.photos.checks), so only the Create page and tests import this module.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from lib.photos.checks import PhotoReport, check_image
from lib.photos.intake import PhotoError, PreparedPhoto, open_photo, prepare_photo, small_copy
from lib.photos.intake import target_format as _target_format
from lib.photos.overlay import draw_overlay_on

# Short side of the copy the verdict is judged on: at least the checks' detection copy (512 px,
# lib/photos/checks.py DETECT_AREA), so nothing is judged on fewer pixels than before.
CHECK_SIDE = 512
_ORIENTATION = 0x0112
_MEMO_SIZE = 4  # prepared photos kept (a 12-MP one is ~5 MB)
_memo: OrderedDict[tuple[str, str | None], PreparedPhoto] = OrderedDict()
_memo_lock = threading.Lock()
_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="photo-hash")


@dataclass(frozen=True)
class PhotoAnalysis:
    report: PhotoReport | None = None
    overlay: bytes | None = None  # a JPEG preview with the face and head boxes
    error: str | None = None  # why the photo cannot be used at all
    notes: list[str] = field(default_factory=list)  # what preparing it will change (one a line)
    source_sha256: str | None = None  # of the bytes as picked
    data: bytes = field(default=b"", repr=False)
    filename: str | None = None
    # A photo made here from this one (Fix framing) that is sent instead, with its own report.
    replacement: PreparedPhoto | None = field(default=None, repr=False)

    @property
    def fingerprint(self) -> str | None:
        """Identifies the photo to send (for state kept across reruns): the one picked, or
        the replacement made from it."""
        return self.replacement.sha256 if self.replacement is not None else self.source_sha256

    def prepare(self) -> PreparedPhoto:
        """The full-resolution, upright, metadata-stripped photo to upload; made on the first
        call for this photo, then kept. Raises PhotoError (a file the small decode could read
        but a full one cannot) and ValueError when the photo was refused already."""
        if self.replacement is not None:
            return self.replacement
        if self.error is not None or self.source_sha256 is None:
            raise ValueError("this photo was refused: " + (self.error or "no photo"))
        key = (self.source_sha256, self.filename)
        with _memo_lock:
            if key in _memo:
                _memo.move_to_end(key)
                return _memo[key]
        prepared = prepare_photo(self.data, self.filename)  # outside the lock: ~0.15 s at 12 MP
        with _memo_lock:
            _memo[key] = prepared
            while len(_memo) > _MEMO_SIZE:
                _memo.popitem(last=False)
        return prepared

    @property
    def prepared(self) -> PreparedPhoto | None:
        """prepare(), or None for a refused photo (prepares it: not for every rerun)."""
        if self.error is not None:
            return None
        try:
            return self.prepare()
        except PhotoError:
            return None


def judge_photo(data: bytes, filename: str | None = None,
                short_side: int = CHECK_SIDE) -> PhotoAnalysis:
    """The verdict and the overlay, from a small copy of the photo; never prepares it."""
    # Hash on another thread while this one decodes (both release the GIL): ~3 ms at 5 MB.
    hashing = _pool.submit(lambda: hashlib.sha256(data).hexdigest())
    try:
        with open_photo(data, filename) as image:
            size = image.size  # the header's, not the draft decode's
            fmt = _target_format(image, data)  # what is uploaded: WebP becomes PNG or JPEG
            small, notes = small_copy(image, data, short_side)  # decodes, so EXIF is read now
            if image.getexif().get(_ORIENTATION, 1) in (5, 6, 7, 8):  # a quarter turn upright
                size = (size[1], size[0])
    except PhotoError as error:
        return PhotoAnalysis(error=str(error), source_sha256=hashing.result(), filename=filename)
    report = check_image(small, fmt, size)
    overlay = draw_overlay_on(small, report, fmt="JPEG")
    digest = hashing.result()
    return PhotoAnalysis(report=report, overlay=overlay, notes=notes, source_sha256=digest,
                         data=data, filename=filename)


def analyse_photo(data: bytes, filename: str | None = None) -> PhotoAnalysis:
    """judge_photo: what the Create page shows as soon as a photo is picked."""
    return judge_photo(data, filename)
