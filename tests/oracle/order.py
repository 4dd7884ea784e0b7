"""The order of the log checked: causality (a wait before its done, nothing on a
socket after its close, accept after its connect, a call's packets after it
began) and time (never backwards in seq order)."""

from __future__ import annotations

from .checks import EPS, Judge
from .model import Incarnation, is_call

# -- causality and time -----------------------------------------------------------------

def _pairs(judge: Judge) -> dict[int, dict]:
    """done seq -> its wait event; a wait never done, or a done before its wait, is told."""
    waiting: dict[tuple, list[dict]] = {}
    paired: dict[int, dict] = {}
    for e in judge.events:
        if not is_call(e):
            continue
        key = (e["side"], None if e["op"] == "accept" else e.get("conn"), e["op"])
        if e.get("phase") == "wait":
            waiting.setdefault(key, []).append(e)
        elif waiting.get(key):
            wait = waiting[key].pop(0)
            paired[e["seq"]] = wait
            judge.checked["causality"] += 1
            if e["t"] < wait["t"]:
                judge.add("causality", e["seq"],
                          f"{key[0]}[{key[1]}] {key[2]} done at t={e['t']} before its wait "
                          f"(#{wait['seq']}, t={wait['t']})")
    for waits in waiting.values():
        for wait in waits:
            judge.add("causality", wait["seq"], f"{wait['side']}[{wait.get('conn')}] "
                      f"{wait['op']} waits and is never done")
    return paired


def check_causality(judge: Judge) -> None:
    paired = _pairs(judge)
    for inc in judge.model.incarnations:
        for e in inc.early:
            judge.add("causality", e["seq"], f"{inc.name}: {e['op']} line before the "
                      f"accept() that made this socket (#{inc.opened})")
        _after_close(judge, inc, paired)
        _connect_after_established(judge, inc)
    _accept_after_connect(judge)
    _packets_after_call(judge, paired)


def _after_close(judge: Judge, inc: Incarnation, paired: dict[int, dict]) -> None:
    """No call on a socket after its close: none waits, none succeeds (one that fails
    at once with EBADF is the learner's call on a closed socket, truly told), and
    the end of a wait is one the close ended."""
    if inc.closed is None:
        return
    for e in inc.events:
        if e["seq"] <= inc.closed or not is_call(e):
            continue
        judge.checked["causality"] += 1
        wait = paired.get(e["seq"])
        if wait is not None:
            continue  # the end of a wait: told at its wait, if that came after the close
        if e.get("phase") == "done" and not e.get("ok") and wait is None:
            continue
        judge.add("causality", e["seq"], f"{inc.name}: {e['op']}() {e.get('phase')} after "
                  f"its close (#{inc.closed})" + (f": {e.get('error')}" if e.get("error")
                                                  else ""))


def _connect_after_established(judge: Judge, inc: Incarnation) -> None:
    """A connect that fails after the kernel said the connection was established."""
    established = [e["seq"] for e in inc.states()
                   if (e.get("result") or {}).get("state") == "ESTABLISHED"]
    for e in inc.events:
        if e.get("op") == "connect" and e.get("phase") == "done" and not e.get("ok") \
                and established and established[0] < e["seq"]:
            judge.add("causality", e["seq"], f"{inc.name}: connect() fails with "
                      f"{e.get('error')} after the connection was ESTABLISHED "
                      f"(#{established[0]})")


def _accept_after_connect(judge: Judge) -> None:
    clients = {inc.local: inc for inc in judge.model.incarnations
               if inc.side == "client" and inc.local is not None}
    for inc in judge.model.incarnations:
        if inc.side != "server" or inc.conn is None or inc.peer is None:
            continue
        client = clients.get(inc.peer)
        if client is None:
            continue
        connects = [e["seq"] for e in client.events if e.get("op") == "connect"]
        judge.checked["causality"] += 1
        if not connects or connects[0] > inc.opened:
            judge.add("causality", inc.opened, f"{inc.name}: accept() returned "
                      f"{client.name}'s connection before its connect() began")


def _call_began(inc: Incarnation, seq: int, paired: dict[int, dict]) -> float | None:
    """When the call a packet row of ``inc`` at ``seq`` follows began, at the latest."""
    calls = [e for e in inc.events if is_call(e) and e["seq"] < seq]
    if not calls:
        return None
    last = calls[-1]
    if last.get("phase") == "wait":
        return last["t"]
    if last["seq"] in paired:
        return paired[last["seq"]]["t"]
    earlier = [e for e in calls[:-1] if e["seq"] not in (w["seq"] for w in paired.values())]
    return earlier[-1]["t"] if earlier else None


def _packets_after_call(judge: Judge, paired: dict[int, dict]) -> None:
    """A call's packets carry times after the call began."""
    for row in judge.rows:
        inc = judge.model.at(row["seq"])
        if inc is None or row.get("by") == "kernel":
            continue
        began = _call_began(inc, row["seq"], paired)
        judge.checked["causality"] += 1
        if began is not None and row["t"] < began - EPS:
            judge.add("causality", row["seq"], f"{inc.name}: packet row at t={row['t']} "
                      f"before the call it is shown under began (t={began})")


def check_time(judge: Judge) -> None:
    """Times never go backwards in seq order: calls and states among themselves, packet
    rows among themselves, and no packet row after a wait that came later.  (A state
    line's time is when it was read, not when it began: its place among the packet
    rows is the state check's.)"""
    last_other, last_packet = None, None
    latest_wait: dict | None = None
    for e in judge.events:
        judge.checked["time"] += 1
        if e.get("op") == "packet":
            if last_packet is not None and e["t"] < last_packet["t"] - EPS:
                judge.add("time", e["seq"], f"packet row at t={e['t']} after one at "
                          f"t={last_packet['t']} (#{last_packet['seq']})")
            if latest_wait is not None and e["t"] < latest_wait["t"] - EPS:
                w = latest_wait
                judge.add("time", e["seq"], f"packet row at t={e['t']} placed after "
                          f"#{w['seq']} {w['side']}[{w.get('conn')}] {w['op']} "
                          f"{w.get('phase')} at t={w['t']}, which happened later")
            last_packet = e
            continue
        if last_other is not None and e["t"] < last_other["t"]:
            judge.add("time", e["seq"], f"t={e['t']} after #{last_other['seq']} at "
                      f"t={last_other['t']}")
        last_other = e
        if e.get("phase") == "wait":
            if latest_wait is None or e["t"] > latest_wait["t"]:
                latest_wait = e
