"""The data calls' fast paths inside a flood (engine/data.py, floods.py).

A send or recv counted into a flood skips the full path's frames, and a counted
send holds its socket's locks, not the bus lock.  These tests hold both paths
to the same truth on real loopback sockets: every call counted once, every byte
accounted for and delivered intact, and the log causal while other threads
report (flush) floods and emit events.
"""

from __future__ import annotations

import random
import threading
import time

import pytest
from helpers import LIMIT, Recorder, assert_causal, assert_seq_increasing, stream_pair
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socklab.engine import Endpoint, Lab, calls, floods
from socklab.engine import data as data_calls
from socklab.engine.floods import COALESCE_AFTER
from socklab.events import DONE, WAIT, Event

#: Bytes every payload is cut from (a repeating pattern: a byte out of place shows).
PATTERN = bytes(range(251)) * 800
#: A send of at most this much, drained at once, never waits in one thread.
MOST = 32 * 1024

#: (bytes sent, recv's bufsize, recv keeps its bytes) per step.
STEPS = st.lists(st.tuples(st.integers(0, MOST), st.integers(1, 3 * MOST), st.booleans()),
                 min_size=1, max_size=60)


def _payload(offset: int, size: int) -> bytes:
    start = offset % 251
    return PATTERN[start:start + size]


def _totals(events: list[Event], side: str, op: str) -> tuple[int, int]:
    """(calls, bytes) the log accounts for: one side's successful ``op`` events."""
    done = [e for e in events if e.side == side and e.op == op and e.phase == DONE and e.ok]
    return sum(e.count for e in done), sum(e.nbytes or 0 for e in done)


def _exchange(steps: list[tuple[int, int, bool]]) -> tuple[list[Event], dict[str, int]]:
    """The client sends each step's bytes, the server recvs them (one thread), then
    EOF.  Returns the log and what the test itself counted."""
    rec = Recorder()
    truth = {"sends": 0, "sent": 0, "recvs": 0}
    with Lab(connect_timeout=LIMIT) as lab:
        lab.subscribe(rec)
        _, conn, client = stream_pair(lab)
        sent, got = bytearray(), bytearray()
        for size, bufsize, keep in steps:
            payload = _payload(len(sent), size)
            event = client.send(payload)
            assert event is None or event.ok, event
            truth["sends"] += 1
            sent += payload
            while len(got) < len(sent):
                received = conn.recv(bufsize, timeout=LIMIT, keep=keep)
                truth["recvs"] += 1
                assert received.ok and received.data, received.event
                got += bytes(received.data)  # a kept buffer's view: copied before the next
        assert client.shutdown().ok
        end = conn.recv(1024, timeout=LIMIT, keep=False)
        truth["recvs"] += 1
        assert end.eof and end.data == b""
        assert got == sent
        truth["sent"] = len(sent)
        assert client.bytes_out == conn.bytes_in == len(sent)
        client.close()
        conn.close()
    return rec.snapshot(), truth


def _check(events: list[Event], truth: dict[str, int]) -> None:
    assert_seq_increasing(events)
    assert_causal(events, sender=("client", 1), receiver=("server", 1))
    assert _totals(events, "client", "send") == (truth["sends"], truth["sent"])
    assert _totals(events, "server", "recv") == (truth["recvs"], truth["sent"])


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(steps=STEPS)
def test_fast_and_full_paths_count_the_same_calls_and_bytes(
        steps: list[tuple[int, int, bool]]) -> None:
    fast, truth = _exchange(steps)
    _check(fast, truth)
    if len(steps) > COALESCE_AFTER + 1:
        assert any(e.count > 1 for e in fast if e.op == "send"), "a flood of sends is counted"
    with pytest.MonkeyPatch.context() as patch:
        # No flood is ever seen by the data calls: every call takes the full path.
        patch.setattr(data_calls, "flood_of", lambda tally, op: None)
        full, full_truth = _exchange(steps)
    _check(full, full_truth)
    assert (full_truth["sends"], full_truth["sent"]) == (truth["sends"], truth["sent"])


def test_a_recv_that_drops_its_bytes_still_reports_them(lab: Lab, rec: Recorder) -> None:
    """recv(keep=False) reported on its own (no flood yet): its event and its data
    are its own bytes, not a view of the buffer the next recv overwrites."""
    _, conn, client = stream_pair(lab)
    assert client.send(b"first\x1b[31m").ok
    first = conn.recv(4096, timeout=LIMIT, keep=False)
    assert first.event is not None and first.event.ok
    assert first.data == b"first\x1b[31m" and type(first.data) is bytes
    assert first.event.raw == b"first\x1b[31m" and first.event.data == "first\\x1b[31m"
    assert client.send(b"second").ok
    assert conn.recv(4096, timeout=LIMIT, keep=False).data == b"second"
    assert first.data == b"first\x1b[31m"
    # recv(0) asks for nothing (recv_into would read 0 as "the whole buffer").
    assert client.send(b"third").ok
    nothing = conn.recv(0, timeout=LIMIT, keep=False)
    assert nothing.data == b""
    assert conn.recv(4096, timeout=LIMIT, keep=False).data == b"third"


def _start_floods(client: Endpoint, conn: Endpoint) -> None:
    """Enough sends and recvs in a row that each socket counts into a flood."""
    for i in range(COALESCE_AFTER + 2):
        client.send(b"x%d" % i)
        conn.recv(65536, timeout=LIMIT)
    assert client.tally.flood is not None and conn.tally.flood is not None


#: More than loopback's buffers hold: a send of it waits midway, its bytes partly out.
BIG = (PATTERN * 84)[:16 << 20]


def _no_periodic_report(monkeypatch: pytest.MonkeyPatch) -> None:
    """No flood is reported by time, nor a quiet wait said after a pause: only an
    event of another thread says a send waiting midway."""
    monkeypatch.setattr(floods, "COALESCE_SECONDS", 3600.0)
    monkeypatch.setattr(calls, "COALESCE_SECONDS", 3600.0)


def _small_sends(client: Endpoint) -> None:
    """Enough small sends in a row that the client counts into a flood (the server
    reads none yet)."""
    for i in range(COALESCE_AFTER + 2):
        client.send(b"x%d" % i)


def _until_waiting(client: Endpoint) -> None:
    """Until a call on ``client`` waits (bounded)."""
    deadline = time.monotonic() + LIMIT
    while not client.waiter.waiting and time.monotonic() < deadline:
        time.sleep(0.005)
    assert client.waiter.waiting, "the send never waited"


def _read_slowly(conn: Endpoint, total: int, bufsize: int, pause: float) -> int:
    """recv ``total`` bytes a little at a time, so a send blocks midway again and
    again (bounded); returns the bytes read."""
    got = 0
    deadline = time.monotonic() + LIMIT
    while got < total and time.monotonic() < deadline:
        received = conn.recv(bufsize, timeout=LIMIT)
        assert received.ok and received.data, received.event
        got += len(received.data)
        time.sleep(pause)
    return got


def test_a_counted_send_and_recv_need_no_bus_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The locking changed: a send counted into a flood holds its tally's lock
    across the call and its count, not the bus lock.  So it completes while
    another thread holds the bus lock (before, it waited for it), and the log
    accounts for every call once the lock is free."""
    monkeypatch.setattr(floods, "COALESCE_SECONDS", 3600.0)  # no periodic report meanwhile
    rec = Recorder()
    with Lab(connect_timeout=LIMIT) as lab:
        lab.subscribe(rec)
        _, conn, client = stream_pair(lab)
        _start_floods(client, conn)
        held, done = threading.Event(), threading.Event()

        def hold() -> None:
            with lab.bus.lock:
                held.set()
                done.wait(LIMIT)

        holder = threading.Thread(target=hold)
        holder.start()
        assert held.wait(LIMIT)
        results = []
        for i in range(50):
            results.append(client.send(b"y%d" % i))
            results.append(conn.recv(65536, timeout=LIMIT).event)
        finished_while_held = not done.is_set() and holder.is_alive()
        done.set()
        holder.join(LIMIT)
        assert finished_while_held
        assert results == [None] * 100, "each call counted into its flood"
        sent = client.bytes_out
        client.close()
        conn.close()
    events = rec.snapshot()
    assert _totals(events, "client", "send")[1] == sent
    assert _totals(events, "server", "recv")[1] == sent
    assert_causal(events, sender=("client", 1), receiver=("server", 1))


def _flood_against_reports(sizes: list[int]) -> tuple[list[Event], int]:
    """A sender floods ``sizes``' sends while a receiver thread recvs with mixed
    buffers (some reported on their own) and a third thread reports the floods
    as a view's timer would.  Returns the log and the bytes the receiver got."""
    rec = Recorder()
    with Lab(connect_timeout=LIMIT) as lab:
        lab.subscribe(rec)
        _, conn, client = stream_pair(lab)
        stop = threading.Event()
        got = [0]

        def receive() -> None:
            pick = random.Random(7)
            for _ in range(100_000):
                received = conn.recv(pick.choice((512, 65536, 1 << 20)), timeout=LIMIT,
                                     keep=pick.random() < 0.5)
                if not received.ok or not received.data:
                    return
                got[0] += len(received.data)

        def report() -> None:
            for _ in range(100_000):
                if stop.wait(0.003):
                    return
                lab.floods.flush(keep_streaks=True)

        receiver = lab.spawn(receive, "receiver")
        reporter = lab.spawn(report, "reporter")
        for size in sizes:
            event = client.send(_payload(0, size))
            assert event is None or event.ok, event
        assert client.shutdown().ok
        receiver.join(LIMIT)
        stop.set()
        reporter.join(LIMIT)
        assert not receiver.is_alive() and not reporter.is_alive()
        client.close()
        conn.close()
    return rec.snapshot(), got[0]


def test_counted_sends_stay_causal_against_reports_from_other_threads() -> None:
    """Sends that never wait (60 KB in all: loopback's buffers take it), counted
    without the bus lock, while other threads report floods and recvs: no recv
    is ever numbered before the sends of its bytes, every call counted once."""
    rng = random.Random(24)
    sizes = [rng.choice((1, 10, 150, 300)) for _ in range(400)]
    events, got = _flood_against_reports(sizes)
    assert got == sum(sizes)
    assert_seq_increasing(events)
    assert_causal(events, sender=("client", 1), receiver=("server", 1))
    assert _totals(events, "client", "send") == (len(sizes), sum(sizes))
    assert _totals(events, "server", "recv")[1] == sum(sizes)


def test_sends_that_block_midway_stay_causal() -> None:
    rng = random.Random(24)
    sizes = [rng.choice((1, 700, 65536, 200_000)) for _ in range(400)]
    events, got = _flood_against_reports(sizes)
    assert got == sum(sizes)
    assert _totals(events, "client", "send") == (len(sizes), sum(sizes))
    assert_causal(events, sender=("client", 1), receiver=("server", 1))


@pytest.mark.parametrize("coalesce", [True, False], ids=["in-a-flood", "one-by-one"])
def test_a_send_waiting_with_bytes_out_is_said_before_a_recv_of_them(
        monkeypatch: pytest.MonkeyPatch, coalesce: bool) -> None:
    """A send finds the buffer full midway: some of its bytes are out while it waits
    (the lab's send sends all, as sendall).  A recv of those bytes, reported on its
    own, comes after the send's "wait", and the sends counted before it (a flood)
    are reported before that wait; the send's end pairs with its wait.  Inside a
    flood, a wait is quiet until then (no periodic report here to say it)."""
    _no_periodic_report(monkeypatch)
    rec = Recorder()
    with Lab(connect_timeout=LIMIT, coalesce=coalesce) as lab:
        lab.subscribe(rec)
        _, conn, client = stream_pair(lab)
        _small_sends(client)
        assert (client.tally.flood is not None) is coalesce
        before = client.bytes_out
        sender = lab.spawn(lambda: client.send(BIG), "sender")
        _until_waiting(client)
        got = 0
        while got < before + len(BIG):
            received = conn.recv(1 << 20, timeout=LIMIT)
            assert received.ok and received.data, received.event
            got += len(received.data)
        sender.join(LIMIT)
        assert not sender.is_alive()
        client.close()
        conn.close()
    events = rec.snapshot()
    assert_seq_increasing(events)
    assert_causal(events, sender=("client", 1), receiver=("server", 1))
    big_send = [e for e in events if e.side == "client" and e.op == "send"
                and e.call and e.call == next(
                    w.call for w in events if w.side == "client" and w.op == "send"
                    and w.phase == WAIT)]
    assert [e.phase for e in big_send] == [WAIT, DONE], big_send
    assert big_send[1].nbytes == len(BIG)
    first_recv = next(e for e in events if e.side == "server" and e.op == "recv")
    assert big_send[0].seq < first_recv.seq
    assert _totals(events, "client", "send")[1] == client.bytes_out == got


@pytest.mark.parametrize("ending", ["timeout", "close"])
def test_a_send_said_waiting_ends_with_its_own_id(monkeypatch: pytest.MonkeyPatch,
                                                  ending: str) -> None:
    """A send inside a flood waits with some of its bytes out and ends without
    sending the rest: its timeout, or the lab closing its socket.  The end pairs
    with the wait that said it (the same call id); no wait is left without an end
    (the oracle saw "send waits and is never done" in the flow-control lesson)."""
    _no_periodic_report(monkeypatch)
    rec = Recorder()
    with Lab(connect_timeout=LIMIT) as lab:
        lab.subscribe(rec)
        _, conn, client = stream_pair(lab)
        _small_sends(client)
        assert client.tally.flood is not None
        if ending == "timeout":
            assert client.settimeout(0.3).ok
        ended: list[Event | None] = []
        sender = lab.spawn(lambda: ended.append(client.send(BIG)), "sender")
        _until_waiting(client)
        if ending == "close":
            client.close_by_lab("the test closes it")
        sender.join(LIMIT)
        assert not sender.is_alive()
        conn.close()
        client.close_by_lab("the test ends")
    events = rec.snapshot()
    failed = ended[0]
    assert failed is not None and not failed.ok, failed
    waits = [e for e in events if e.side == "client" and e.op == "send" and e.phase == WAIT]
    assert [w.call for w in waits] == [failed.call] and failed.call, (waits, failed)


def test_a_send_said_waiting_is_said_once_however_often_it_waits(lab: Lab,
                                                                 rec: Recorder) -> None:
    """One send, one by one (no flood), waits again and again as the reader takes a
    little at a time: one "wait", one "done" (the flow-control lesson showed a
    second wait, said again each time it blocked with more bytes out)."""
    _, conn, client = stream_pair(lab)
    sender = lab.spawn(lambda: client.send(BIG), "sender")
    got = _read_slowly(conn, len(BIG), 256 << 10, 0.002)
    sender.join(LIMIT)
    assert not sender.is_alive() and got == len(BIG)
    sends = [e for e in rec.snapshot() if e.side == "client" and e.op == "send"]
    assert [e.phase for e in sends] == [WAIT, DONE], [(e.seq, e.phase, e.call) for e in sends]
    assert sends[0].call == sends[1].call != 0


def test_two_sends_at_once_on_one_socket_each_pair_their_wait_and_end(lab: Lab,
                                                                      rec: Recorder) -> None:
    """Two threads send on one socket at once (two presses of send() while the first
    waits) and both block midway again and again as the reader takes a little at a
    time: each send's end carries the id of its own wait, each wait has one end."""
    _, conn, client = stream_pair(lab)
    senders = [lab.spawn(lambda: client.send(BIG), f"sender-{i}") for i in range(2)]
    got = _read_slowly(conn, 2 * len(BIG), 512 << 10, 0.001)
    for sender in senders:
        sender.join(LIMIT)
        assert not sender.is_alive()
    assert got == 2 * len(BIG)
    events = rec.snapshot()
    sends = [e for e in events if e.side == "client" and e.op == "send" and e.count == 1
             and (e.phase == WAIT or e.nbytes == len(BIG))]
    waits = sorted(e.call for e in sends if e.phase == WAIT)
    ends = sorted(e.call for e in sends if e.phase == DONE)
    shown = [(e.seq, e.phase, e.call) for e in sends]
    assert len(ends) == 2 and ends == waits and len(set(waits)) == 2, shown
    assert_causal(events, sender=("client", 1), receiver=("server", 1))
