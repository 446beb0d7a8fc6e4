"""How long a server asks us to wait before retrying (``Retry-After``, RFC 9110, and ``retry-after-ms``)."""

from __future__ import annotations

import email.utils
import math
import time
from datetime import UTC
from typing import Any


def _seconds(value: str, scale: float = 1.0) -> float | None:
    try:
        seconds = float(value) * scale
    except ValueError:
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def parse_retry_after(headers: Any) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (delay-seconds or an HTTP date, RFC 9110).

    Anything else (``soon``, a garbled date) is None: the caller then backs off on its own schedule.
    """
    if headers is None:
        return None
    value = (headers.get("retry-after-ms") or "").strip()
    if value and (seconds := _seconds(value, 1 / 1000)) is not None:
        return seconds
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    if (seconds := _seconds(value)) is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000" or no zone: HTTP dates are always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - time.time())
