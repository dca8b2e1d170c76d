"""Times written by the driver-level paths read back exactly as times written through SQLAlchemy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import sqlite

from storage.formats import sqlite_time, utc_text
from storage.types import UTCDateTime

CHINA = timezone(timedelta(hours=8))
MOMENTS = [
    datetime(2026, 12, 7, 0, 42, 40, 123456, tzinfo=UTC),
    datetime(2026, 12, 7, 8, 42, 40, tzinfo=CHINA),  # no microseconds, another zone
    datetime(1999, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
]


def _sqlalchemy_text(moment: datetime) -> str:
    """The text SQLAlchemy's SQLite dialect stores for `moment` in a UTCDateTime column."""
    dialect = sqlite.dialect()
    bound = UTCDateTime().process_bind_param(moment, dialect)
    processor = UTCDateTime().impl.dialect_impl(dialect).bind_processor(dialect)
    assert processor is not None
    text = processor(bound)
    assert isinstance(text, str)
    return text


@pytest.mark.parametrize("moment", MOMENTS, ids=str)
def test_driver_text_is_the_text_sqlalchemy_stores(moment: datetime) -> None:
    assert utc_text(moment) == _sqlalchemy_text(moment)
    assert sqlite_time(moment) == _sqlalchemy_text(moment)


def test_a_naive_time_is_refused_on_the_driver_paths_too() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        utc_text(datetime(2026, 12, 7, 8, 0))
    with pytest.raises(ValueError, match="naive datetime"):
        sqlite_time(datetime(2026, 12, 7, 8, 0))


def test_an_empty_time_stays_empty() -> None:
    assert sqlite_time(None) is None
