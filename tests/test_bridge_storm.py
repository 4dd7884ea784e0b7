"""The bridge under a storm: bounded work per tick, true counts, full collections spaced out.

Driven directly (no running app): the sink is what the bus calls, the tick what
the 20 Hz timer calls.
"""

from __future__ import annotations

import gc

from textual.app import App

from socklab.events import Event
from socklab.ui.bridge import DRAIN_MAX, STORM_FULL_AFTER, VIEW_MAX, Batch, Bridge


def test_a_storm_is_published_in_bounded_batches_with_true_counts_and_no_full_collections(
) -> None:
    before = gc.get_threshold()
    bridge = Bridge(App())
    batches: list[Batch] = []
    bridge.subscribe(batches.append)
    total = VIEW_MAX + 3 * DRAIN_MAX
    try:
        for seq in range(1, total + 1):
            bridge.sink(Event(seq=seq, t=seq / 1000, side="client", conn=1, op="send",
                              nbytes=1, result=1))
        bridge.tick()
        # The screen is behind: the storm is on, full collections wait.
        assert bridge.collections.storm
        assert gc.get_threshold() == (before[0], before[1], max(before[2], STORM_FULL_AFTER))
        for _ in range(VIEW_MAX // DRAIN_MAX + 2):  # bounded: the view drains by then
            bridge.tick()
        # Every event reached the spool; the screen got each batch bounded, the
        # newest VIEW_MAX events in order, and counted the rest as not shown.
        assert bridge.spool.added == total
        assert all(0 < len(batch.events) <= DRAIN_MAX for batch in batches)
        shown = [event.seq for batch in batches for event in batch.events]
        assert shown == list(range(total - VIEW_MAX + 1, total + 1))
        assert bridge.skipped == total - VIEW_MAX == batches[0].gap
        # The storm is over: the collector's thresholds are as they were.
        assert not bridge.collections.storm
        assert gc.get_threshold() == before
        # A lone event later is not a storm.
        bridge.sink(Event(seq=total + 1, t=1.0, side="server", conn=None, op="socket"))
        bridge.tick()
        assert not bridge.collections.storm and batches[-1].events[-1].seq == total + 1
    finally:
        bridge.close()
        gc.set_threshold(*before)
    assert gc.get_threshold() == before
