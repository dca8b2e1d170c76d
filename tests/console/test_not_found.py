"""A URL naming a row that does not exist, or an id that is not a number, is a clean 404."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.mark.parametrize(
    ("path", "noun"),
    [
        ("/console/accounts/999", "account"),
        ("/console/accounts/abc", "account"),
        ("/console/profiles/999", "profile"),
        ("/console/profiles/x1", "profile"),
        ("/console/templates/999", "template"),
        ("/console/journeys/999", "journey"),
        ("/console/imports/999", "import"),
    ],
)
async def test_missing_rows_are_404(admin: Any, path: str, noun: str) -> None:
    response = await admin.get(path)
    assert response.status == 404
    assert f"No such {noun}." in await response.text()
