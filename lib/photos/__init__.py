"""Photos: intake (decode, orient, strip, normalise), the pre-flight checks and the overlay.

`checks`, `overlay` and `analysis` import OpenCV: only the Create page and tests load them.
"""
