"""The bitmap set an import keeps profile ids in."""

from __future__ import annotations

import random

from orders.idset import IdSet


def test_behaves_like_a_set_of_ids_in_ascending_order() -> None:
    rng = random.Random(3)
    ids = [rng.randrange(200_000) for _ in range(5_000)]
    bitmap = IdSet(ids)
    assert list(bitmap) == sorted(set(ids))
    assert len(bitmap) == len(set(ids))
    assert all(value in bitmap for value in ids)
    assert 200_001 not in bitmap and -1 not in bitmap and "7" not in bitmap
    bitmap.add(ids[0])  # adding again changes nothing
    assert len(bitmap) == len(set(ids))


def test_chunks_cover_every_id_once_in_order() -> None:
    bitmap = IdSet([0, 7, 8, 9, 64, 1_000_000])
    assert list(bitmap.chunks(4)) == [[0, 7, 8, 9], [64, 1_000_000]]
    assert list(IdSet().chunks(4)) == []


def test_a_million_ids_take_a_bit_each() -> None:
    bitmap = IdSet(range(1, 1_000_001))
    assert len(bitmap) == 1_000_000
    assert len(bitmap._bits) < 1_000_000 // 8 * 2  # one bit each, plus growth slack
