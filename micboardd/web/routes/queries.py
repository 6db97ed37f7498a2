"""What the alert and history queries share: times and device ids in query strings.

Times in queries are epoch seconds or ISO-8601 (a time without an offset is the appliance's
local time); a bad one is a 400 naming the parameter.
"""

from __future__ import annotations

import math
from datetime import datetime

from litestar.exceptions import ClientException

ID_MAX = 300  # device ids are `<receiver id>:<channel>`; receiver ids are addresses or serials
TIME_TEXT_MAX = 64  # the longest ISO-8601 time with fractions and an offset is about 32
EPOCH_MAX = 1e11  # seconds: the year 5138; larger numbers are milliseconds or nonsense


def parse_time(value: str, name: str) -> float:
    """Epoch seconds or ISO-8601; ClientException naming the parameter otherwise."""
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(number) and 0 <= number < EPOCH_MAX:
            return number
        raise ClientException(f"{name}: {value!r} is not a time")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ClientException(
            f"{name}: {value!r} is neither epoch seconds nor ISO-8601 (e.g. 2024-05-01T21:03:00Z)"
        ) from None
    if when.tzinfo is None:
        when = when.astimezone()  # the appliance's local time
    return when.timestamp()
