"""A progress bar with rows per second on a terminal's stderr; silent when stderr is not a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class TerminalProgress:
    """Callable as an importer progress callback: (rows done, bytes read, bytes in the file)."""

    WIDTH = 30

    def __init__(self, label: str = "", stream: TextIO | None = None, *, force: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.enabled = force or self.stream.isatty()
        self.label = label
        self._started = time.monotonic()
        self._last_draw = 0.0
        self._drawn = False

    def __call__(self, rows: int, position: int, size: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        # Redrawing more than a few times a second costs more than it tells.
        if now - self._last_draw < 0.2 and position < size:
            return
        self._last_draw = now
        fraction = min(1.0, position / size) if size else 0.0
        filled = int(fraction * self.WIDTH)
        rate = rows / max(now - self._started, 1e-6)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        self.stream.write(f"\r{self.label} [{bar}] {fraction:4.0%} {rows:,} rows {rate:,.0f} rows/s")
        self.stream.flush()
        self._drawn = True

    def done(self) -> None:
        """End the bar's line so the report starts on a fresh one."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
