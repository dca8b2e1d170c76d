from __future__ import annotations

import io
import logging

from scrm.logs import KeyValueFormatter, PhoneMaskingFilter, mask_phones_in


def test_phone_numbers_in_messages_and_fields_are_masked() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(KeyValueFormatter("%(message)s"))
    handler.addFilter(PhoneMaskingFilter())
    logger = logging.getLogger("test.masking")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(
            "bind %s from +86 13800138000", "13912345678", extra={"msg_id": "m1", "text": "我的手机13700001111"}
        )
    finally:
        logger.removeHandler(handler)
    line = stream.getvalue()
    assert "13800138000" not in line and "13912345678" not in line and "13700001111" not in line
    assert "139****5678" in line and "msg_id=m1" in line


def test_order_numbers_are_not_mistaken_for_phones() -> None:
    assert mask_phones_in("order 3712345678901234567") == "order 3712345678901234567"
