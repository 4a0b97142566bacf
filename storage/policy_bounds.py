"""The least COMPRESS_AFTER and RETAIN_MINUTE_BARS_FOR allowed (storage/policies.py says why).

Apart from the policies so that settings can check them without importing the database driver.
"""

from __future__ import annotations

from datetime import timedelta

MIN_COMPRESS_AFTER = timedelta(days=1)
MIN_RETAIN_MINUTE_BARS = timedelta(days=8)  # TimescaleDB's refresh policies look back 7 days
