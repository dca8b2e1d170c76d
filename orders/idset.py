"""A set of profile ids as a bitmap, so what an import remembers per profile stays flat in memory.

A file of ten million rows can touch millions of profiles. As Python sets of ints, the few sets an
import keeps (touched, created by this run, bought in this run) cost about 60 bytes per id each and
would grow with the file; a bitmap over the dense id range costs one bit per id.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator


class IdSet:
    """Non-negative integer ids, iterated in ascending order."""

    __slots__ = ("_bits", "_count")

    def __init__(self, ids: Iterable[int] = ()) -> None:
        self._bits = bytearray()
        self._count = 0
        self.update(ids)

    def add(self, value: int) -> None:
        index, bit = value >> 3, 1 << (value & 7)
        bits = self._bits
        if index >= len(bits):
            # Grow geometrically: ids of new profiles arrive in ascending runs.
            bits.extend(bytes(max(index + 1 - len(bits), len(bits) // 2, 64)))
        if not bits[index] & bit:
            bits[index] |= bit
            self._count += 1

    def update(self, ids: Iterable[int]) -> None:
        for value in ids:
            self.add(value)

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, int) or value < 0:
            return False
        index = value >> 3
        return index < len(self._bits) and bool(self._bits[index] & (1 << (value & 7)))

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[int]:
        for index, byte in enumerate(self._bits):
            if byte:
                base = index << 3
                for bit in range(8):
                    if byte & (1 << bit):
                        yield base + bit

    def chunks(self, size: int) -> Iterator[list[int]]:
        """The ids in ascending order, `size` at a time, without listing them all at once."""
        part: list[int] = []
        for value in self:
            part.append(value)
            if len(part) == size:
                yield part
                part = []
        if part:
            yield part
