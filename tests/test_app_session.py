"""The lab screen over a whole session: saving all of it, order under load, Reset.

Pilot drives the real app over real loopback sockets (port 0); waits end on
events published by the app's bridge (`pilot.watch`), never on sleeps.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import fields
from pathlib import Path

from pilot import SIZE, click, is_, run_server, settle
from textual.message import Message
from textual.notifications import Notify

from socklab.events import Event
from socklab.ui.app import SocklabApp
from socklab.ui.bridge import VIEW_MAX
from socklab.ui.port_info import PortInfoLine

#: Far more events than the screen keeps (`VIEW_MAX` waiting, the log's rows).
SESSION_EVENTS = 150_000
RUNS = 200


async def test_saving_writes_every_event_of_a_session_bigger_than_the_view(
        tmp_path: Path) -> None:
    app = SocklabApp(save_dir=tmp_path)
    told: list[str] = []

    def hook(message: Message) -> None:
        if isinstance(message, Notify):
            told.append(message.notification.message)

    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        seen = await run_server(app, pilot)
        await click(pilot, "#client-run")
        await seen.until(is_("client", "close"))
        await settle(app, pilot)
        # Then a storm of events through the lab's own bus, from a thread: the
        # real exchange's events again and again, each numbered by the bus.
        real = [{f.name: getattr(e, f.name) for f in fields(Event)
                 if f.name not in ("seq", "t")} for e in seen.events]
        bus = app.session.lab.bus
        storm = threading.Thread(target=lambda: [
            bus.emit(**real[i % len(real)]) for i in range(SESSION_EVENTS)])
        storm.start()
        total = len(seen.events) + SESSION_EVENTS
        await seen.until(lambda e: e.seq == total)
        storm.join()
        assert app.skipped > VIEW_MAX  # the screen could not show them all
        await pilot.press("s")
        await pilot.press("j")
        await app.workers.wait_for_complete()
        await settle(app, pilot)
        records = [json.loads(line) for line in
                   next(tmp_path.glob("socklab-log-*.jsonl")).read_text().splitlines()]
        # Every event up to the save, in order.  The kernel's own lines may come
        # after the storm: on a busy machine the storm outlasts the exchange's
        # TIME_WAIT (60 s), whose end is a real "state → CLOSE" line.
        kept = len(records)
        assert [r["seq"] for r in records] == list(range(1, kept + 1)) and kept >= total
        assert all(r["op"] == "state" for r in records[total:]), records[total:]
        assert records[0]["op"] == "socket" and records[0]["side"] == "server"
        text = next(tmp_path.glob("socklab-log-*.txt")).read_text()
        seqs = [int(m) for m in re.findall(r"^#(\d+)", text, flags=re.MULTILINE)]
        # Each save holds every event up to its own moment: such a late kernel line
        # may come between the two key presses, so the two files may differ by it.
        written = len(seqs)
        assert seqs == list(range(1, written + 1)) and total <= written
        late = [line for line in text.splitlines()
                if (m := re.match(r"#(\d+)\b", line)) and int(m[1]) > total]
        assert all(" state → " in line for line in late), late  # the kernel's, only
        saved = {m.rsplit(".", 1)[-1]: m for m in told if "events saved to" in m}
        assert len(saved) == 2 and saved["txt"].startswith(f"{written:,} events saved") \
            and saved["jsonl"].startswith(f"{kept:,} events saved"), told
    assert app.bridge.spool.closed  # the session's spool is gone with the app


def pair_accepts(events: list[Event]) -> dict[int, int]:
    """Each accepted connection's client: the client whose local port is the
    accept's peer port (a port the kernel hands out again later pairs in turn)."""
    clients_by_port: dict[int, list[int]] = {}
    for e in events:
        if e.side == "client" and e.op == "connect" and e.phase == "done" and e.ok:
            clients_by_port.setdefault(e.result[1], []).append(e.conn)  # type: ignore[arg-type]
    pairs: dict[int, int] = {}
    for e in events:
        if e.op == "accept" and e.phase == "done" and e.ok:
            waiting = clients_by_port.get(e.result[1]) or [-1]
            pairs[e.conn] = waiting.pop(0)  # type: ignore[index]
    return pairs


def order_violations(events: list[Event]) -> dict[str, list[str]]:
    """Every way the log could lie about order, with the events that would show it."""
    pairs = pair_accepts(events)
    waits = {e.call: e for e in events if e.phase == "wait"}
    return {"accept before its connect": accepts_before_connects(events, pairs),
            "recv before its send": recvs_before_sends(events, pairs),
            "done before its wait": [f"#{e.seq} {e.side} {e.op}" for e in events
                                     if e.phase == "done" and e.call in waits
                                     and waits[e.call].seq > e.seq]}


def accepts_before_connects(events: list[Event], pairs: dict[int, int]) -> list[str]:
    found: list[str] = []
    first_connect: dict[int, int] = {}
    for e in events:
        if e.side == "client" and e.op == "connect":
            first_connect.setdefault(e.conn, e.seq)  # type: ignore[arg-type]
    for e in events:
        if e.op == "accept" and e.phase == "done" and e.ok:
            client = pairs[e.conn]  # type: ignore[index]
            if client == -1 and e.peer_conn is None:
                continue  # a stranger's connection, not one of the lab's clients
            if first_connect.get(client, e.seq + 1) > e.seq:
                found.append(f"#{e.seq} accept of client {client}")
    return found


def recvs_before_sends(events: list[Event], pairs: dict[int, int]) -> list[str]:
    found: list[str] = []
    peer_of = {("server", conn): ("client", client) for conn, client in pairs.items()}
    peer_of |= {client: server for server, client in peer_of.items()}
    sent: dict[tuple, int] = {}
    received: dict[tuple, int] = {}
    for e in events:
        if e.phase != "done" or not e.ok or e.op not in ("send", "recv"):
            continue
        me = (e.side, e.conn)
        if e.op == "send":
            sent[me] = sent.get(me, 0) + (e.nbytes or 0)
            continue
        received[me] = received.get(me, 0) + (e.nbytes or 0)
        if received[me] > sent.get(peer_of.get(me, ("?", None)), 0):
            found.append(f"#{e.seq} {e.side}[{e.conn}] recv")
    return found


async def test_two_hundred_runs_under_load_keep_the_order(busy_cores: int) -> None:
    """Run server once, then Run client 200 times with both cores busy: the log is causal."""
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        seen = await run_server(app, pilot)
        for run in range(1, RUNS + 1):
            app.client_pane.press("run")
            await seen.until(is_("client", "close"), count=run)
        await settle(app, pilot)
        assert app.skipped == 0  # every event of the session was published
        events = seen.events
        # Counted by peer_conn: a stranger on loopback (another suite's port scan
        # on a shared machine) may connect to the listener too; it is no Run, and
        # is never paired, even from a port a lab client used before (one accept
        # takes one connect's note).
        clients = {tuple(e.result) for e in events if is_("client", "connect")(e) and e.ok}
        accepted = [e for e in events if is_("server", "accept")(e) and e.ok]
        ours = [e for e in accepted if tuple(e.result) in clients]
        print(f"accepts: {len(accepted)}, of the lab's clients {len(ours)}, paired "
              f"{sum(1 for e in ours if e.peer_conn is not None)} (Runs: {RUNS})")
        assert sum(1 for e in accepted if e.peer_conn is not None) == RUNS
        assert sorted(e.peer_conn for e in accepted if e.peer_conn is not None) == \
            list(range(1, RUNS + 1))
        assert sum(1 for e in events if is_("client", "close")(e) and e.ok) == RUNS
        violations = order_violations(events)
        assert violations == {k: [] for k in violations}, violations


async def test_reset_logs_its_closes_and_port_info_follows(tmp_path: Path) -> None:
    app = SocklabApp()
    async with app.run_test(size=SIZE) as pilot:
        seen = await run_server(app, pilot)
        await settle(app, pilot)
        client_info = app.client_pane.query_one(PortInfoLine)
        assert "listening here" in str(client_info.render())  # the client followed the port
        assert app.query_one("#server-connections").display
        await pilot.press("ctrl+r")
        await seen.until(is_("server", "close", conn=None))
        await settle(app, pilot)
        assert app.session.open_sockets == 0
        assert any(n.message == "Reset: closed 1 socket(s); the log is kept"
                   for n in app._notifications)
        assert "listening here" not in str(client_info.render())
        assert "nothing listens" in str(client_info.render())
        # The pane shows the closed server and offers Run again.
        assert app.query_one("#server-run").has_class("-next")
        await click(pilot, "#server-run")
        await seen.until(is_("server", "accept", "wait"), count=2)
        await settle(app, pilot)
        assert app.session.open_sockets == 1
