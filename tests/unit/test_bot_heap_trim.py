"""The heap trimmer (issue 18's memory target): when it trims, and that it never trims mid-burst."""

from __future__ import annotations

import asyncio
import sys

import pytest

from bot.heap_trim import HeapTrimmer, _load_malloc_trim


class Script:
    """A load that follows a script, one value per check, then stays at the last value."""

    def __init__(self, values: list[int]) -> None:
        self.values = values
        self.checks = 0
        self.trimmed_at: list[int] = []
        self.done = asyncio.Event()

    def load(self) -> int:
        value = self.values[min(self.checks, len(self.values) - 1)]
        self.checks += 1
        if self.checks >= len(self.values) + 3:
            self.done.set()
        return value

    def trim(self) -> int:
        self.trimmed_at.append(self.checks)
        return 1


async def run_script(values: list[int], *, min_interval_s: float = 0.0) -> Script:
    script = Script(values)
    trimmer = HeapTrimmer(script.load, trim=script.trim, check_s=0.0, min_interval_s=min_interval_s)
    task = asyncio.create_task(trimmer.run())
    try:
        await asyncio.wait_for(script.done.wait(), timeout=5.0)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    return script


async def test_trims_once_after_the_load_drops_and_settles() -> None:
    script = await run_script([0, 5, 200, 200, 3, 0, 0, 0])
    # checks: 1 is the baseline; the drop 200 -> 3 -> 0 is seen at checks 5 and 6, settled at 7.
    assert script.trimmed_at == [7]


async def test_never_trims_while_the_load_rises_or_holds() -> None:
    script = await run_script([0, 10, 50, 200, 200, 200])
    assert script.trimmed_at == []


async def test_a_second_drop_trims_again_but_not_within_the_interval() -> None:
    # Render workers go idle long after the turns end: two separate drops.
    values = [400, 200, 200, 200, 0, 0, 0]
    assert (await run_script(values)).trimmed_at == [3, 6]
    assert (await run_script(values, min_interval_s=3600.0)).trimmed_at == [3]


async def test_without_malloc_trim_the_loop_returns_at_once() -> None:
    trimmer = HeapTrimmer(lambda: 0, check_s=0.0)
    trimmer._trim = None  # as on macOS or musl
    await asyncio.wait_for(trimmer.run(), timeout=1.0)
    assert not trimmer.available


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
async def test_real_malloc_trim_runs() -> None:
    trim = _load_malloc_trim()
    assert trim is not None
    blobs = [bytearray(100_000) for _ in range(100)]
    del blobs
    assert trim() in (0, 1)
    trimmer = HeapTrimmer(lambda: 0)
    await trimmer.trim_now()
    assert trimmer.trims == 1
