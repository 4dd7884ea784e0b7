"""The wire in two-hosts mode: the capture follows the lab into both hosts.

A segment between the hosts crosses the cable (host A's TUN to host B's, through the relay);
a connect to 127.0.0.1 on a host stays on that host's own loopback.  socklab
keeps a capture socket in each host, on all of its interfaces, keeping only
incoming copies, so each segment is seen once.  tcpdump, run inside each host
(``-i any -Q in``), is the independent reference, as in test_capture.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from capture_helpers import capture_or_skip, relative, tcpdump
from helpers import Recorder
from hosts_helpers import machine_network, needs_hosts

from socklab.capture import Capture
from socklab.capture.diagram import WireDiagram
from socklab.demos.hosts import every_address, loopback_only, one_address
from socklab.engine import Lab
from socklab.hosts import HOST_A, HOST_B, mode

pytestmark = needs_hosts


def _key(src: Any, dst: Any, flags: Any, seq: int | None, ack: int | None,
         length: int) -> tuple:
    """A segment as both captures can say it: tcpdump prints no seq on a pure ACK,
    and no ack without the ACK flag."""
    pure_ack = not length and not set(flags) & {"SYN", "FIN", "RST"}
    return (tuple(src), tuple(dst), tuple(sorted(flags)), None if pure_ack else seq,
            ack if "ACK" in flags else None, length)


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_each_segment_between_and_inside_the_hosts_is_seen_once(
        lab: Lab, rec: Recorder, tmp_path: Path) -> None:
    capture_or_skip()
    before, fds = machine_network(), _open_fds()
    hosts = mode.enable(lab)
    capture = Capture(lab)
    try:
        inside = {letter: ["ip", "netns", "exec", name] for letter, name in hosts.names.items()}
        with tcpdump(tmp_path, inside["A"], "any") as on_a, \
                tcpdump(tmp_path, inside["B"], "any") as on_b:
            # Refused at A's address and at B's own 127.0.0.1; reached at A's
            # address; bound to '': reached from B across the cable and from A.
            assert loopback_only(lab) and one_address(lab) and every_address(lab)
    finally:
        capture.stop()
    sent = rec.views("packet")
    packets = [e.result for e in sent]
    ports = {p["src"][1] for p in packets} | {p["dst"][1] for p in packets}
    theirs = [segment for seen in (on_a, on_b)
              for segment in relative([s for s in seen
                                       if s["src"][1] in ports and s["dst"][1] in ports])]
    assert sorted(_key(*t) for t in theirs) == sorted(
        _key(p["src"], p["dst"], p["flags"], p["seq"], p["ack"], p["len"]) for p in packets)
    addresses = {(p["src"][0], p["dst"][0]) for p in packets}
    assert (HOST_B.address, HOST_A.address) in addresses  # across the cable
    assert ("127.0.0.1", "127.0.0.1") in addresses  # on a host's own loopback
    # Each names the host that sent it: across the cable, the host of its address;
    # the reset refusing B's connect to 127.0.0.1 came from B itself, not A.
    by_address = {HOST_A.address: "A", HOST_B.address: "B"}
    assert all(e.host == by_address[e.result["src"][0]] for e in sent
               if e.result["src"][0] in by_address)
    loopback_resets = [e.host for e in sent
                       if e.result["src"][0] == "127.0.0.1" and "RST" in e.result["flags"]]
    assert loopback_resets == ["B"]
    assert {e.host for e in sent if e.result["src"][0] == "127.0.0.1"} == {"A", "B"}
    # The Wire tab's titles say the same: B's own reset is server@B.
    diagram = WireDiagram()
    diagram.add(rec.snapshot())
    titles = [connection.title() for connection in diagram.connections.values()]
    assert any(f"@B {HOST_B.address}:" in left and f"@A {HOST_A.address}:" in right
               for left, right in titles)
    assert any("@B 127.0.0.1:" in left and right.startswith("server@B 127.0.0.1:")
               for left, right in titles)
    syns = [p for p in packets if p["flags"] == ["SYN"]]
    assert len(syns) == len({tuple(p["src"]) for p in syns})  # no segment twice
    lab.close_all()  # the hosts go: the capture's sockets in them were closed first
    assert machine_network() == before and _open_fds() == fds


def test_the_capture_follows_the_hosts_through_reset_and_off(lab: Lab, rec: Recorder) -> None:
    """Hosts brought up after the capture started are captured too; Reset and
    turning the mode off close the capture's sockets in them (an open one would
    keep a removed namespace alive)."""
    capture_or_skip()
    before, fds = machine_network(), _open_fds()
    capture = Capture(lab)
    try:
        for _ in range(2):  # the hosts made by enable, then again by the next socket
            if lab.hosts is None:
                mode.enable(lab)
            assert one_address(lab)
            lab.reset()
            assert machine_network() == before
        mode.disable(lab)
    finally:
        capture.stop()
    cable = [e for e in rec.views("packet")
              if e.result["src"][0] == HOST_B.address and e.result["flags"] == ["SYN"]]
    assert len(cable) == 2 and {e.host for e in cable} == {"B"}
    assert machine_network() == before and _open_fds() == fds
