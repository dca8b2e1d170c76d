"""A plain clone runs its tests: nothing read from beside the repository, run-time files ignored by git."""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
TESTS = REPOSITORY / "tests"


def _ignored(name: str) -> bool:
    patterns = [
        line.strip()
        for line in (REPOSITORY / ".gitignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return any(fnmatch.fnmatch(name, pattern) for pattern in patterns)


def test_the_official_wechat_vector_ships_with_its_provenance() -> None:
    folder = TESTS / "fixtures" / "wechat"
    vector = json.loads((folder / "official_sample_vector.json").read_text(encoding="utf-8"))
    assert "WXBizMsgCrypt" in vector["source"]
    assert "WXBizMsgCrypt" in (folder / "README.md").read_text(encoding="utf-8")


def test_no_test_reads_files_from_beside_the_repository() -> None:
    # A path built to the folder beside the checkout, or a fixture named through `..`.
    outside = re.compile(r"""["']shared["']|\.\./shared|parents\[\d\]\.parent|shared_dir""")
    offenders = [
        f"{path.relative_to(REPOSITORY)}:{number}"
        for path in TESTS.rglob("*.py")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if outside.search(line) and not line.lstrip().startswith("#") and path != Path(__file__).resolve()
    ]
    assert offenders == []


def test_files_the_product_writes_at_run_time_are_ignored_by_git() -> None:
    # `scrm demo` leaves its generated sign-in beside the database; group commit's lock file sits beside
    # the SQLite database (storage.group_commit `_writers_turn`).
    assert _ignored("scrm-demo-login.txt")
    assert _ignored("scrm.db-writers.lock")
    assert _ignored("scrm.db")
