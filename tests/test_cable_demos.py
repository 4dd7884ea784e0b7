"""The cable's demos (issue 26): reliability, flow control and latency, each on its
own two hosts, checked against what they claim and against an independent
capture (tcpdump inside host A's namespace, read with its own parser).

Each demo runs in its own namespaces and leaves nothing behind.  Transfers are
small (256 KiB, 1 MiB) and the cables' delays short, so each takes seconds;
the assertions on time are lower bounds only.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import LIMIT, json_events, no_traceback, run_cli
from hosts_helpers import machine_network, needs_hosts

from socklab.capture import watching
from socklab.engine import Lab
from socklab.events import Event
from socklab.hosts import HOST_A, HOST_B
from socklab.hosts.cable_demos import DATAGRAMS, reliability
from socklab.hosts.mode import enable

pytestmark = [pytest.mark.system, needs_hosts]


def _demo(name: str, *more: str) -> list[dict[str, Any]]:
    """``socklab demo NAME --json --packets``: its events (exit 0, nothing left behind)."""
    before = machine_network()
    done = run_cli("demo", name, "--json", "--packets", *more, timeout=120)
    no_traceback(done.stderr)
    assert done.returncode == 0, done.stderr
    after = machine_network()  # no namespace, link or address left (others' runs may end)
    assert after["links"] == before["links"] and after["addresses"] == before["addresses"]
    assert set(after["namespaces"]) <= set(before["namespaces"])
    return json_events(done.stdout)


def _packets(events: list[dict[str, Any]], mark: str) -> list[dict[str, Any]]:
    return [e for e in events if e["op"] == "packet" and e["result"].get(mark)]


def _cases(events: list[dict[str, Any]], title: str) -> list[dict[str, Any]]:
    return [e for e in events if e["op"] == "case" and e["args"] == [title]]


def test_reliability_every_byte_after_retransmissions_and_udp_counts_its_losses() -> None:
    events = _demo("reliability")
    cable = [e for e in events if e["op"] == "cable"]
    assert cable[0]["result"]["loss"] == 20 and cable[0]["args"] == ["loss 20%"]
    # the hosts' back-off is capped, and the log says so (test_hosts checks the kernels)
    assert _cases(events, "the retransmission timer")[0]["result"] == "200 ms to 1 s"
    assert cable[-1]["result"]["counts"]["B→A"]["lost"] > 0
    arrived = _cases(events, "what arrived")
    assert arrived[0]["result"] == "every byte"
    assert "262144 of 262144 bytes arrived, in order" in arrived[0]["lesson"]
    assert sum(e["nbytes"] for e in events if e["op"] == "recv" and e["side"] == "server"
               and e["ok"] and e["phase"] == "done") == 256 * 1024
    assert len(_packets(events, "retransmission")) >= 1
    lost = int(arrived[1]["result"].split()[0])
    received = re.match(r"(\d+) of (\d+) datagrams", arrived[1]["lesson"])
    assert received is not None and lost > 0
    assert int(received[1]) + lost == int(received[2]) == DATAGRAMS


def test_flow_control_a_zero_window_and_a_send_that_waits_for_the_reader() -> None:
    events = _demo("flow-control")
    zero = [e for e in events if e["op"] == "packet" and e["result"].get("window") == 0
            and e["side"] == "server"]
    assert zero, "no zero window advertised by the receiver"
    assert _packets(events, "window_probe") and _packets(events, "window_update")
    sends = [e for e in events if e["op"] == "send" and e["side"] == "client"]
    wait, done = sends[0], sends[-1]
    assert wait["phase"] == "wait" and done["phase"] == "done" and done["ok"]
    reads = _cases(events, "the receiver reads again")[0]
    first_recv = next(e for e in events if e["op"] == "recv" and e["seq"] > reads["seq"])
    assert wait["seq"] < zero[0]["seq"] < reads["seq"] < first_recv["seq"] < done["seq"]
    assert done["result"] == 1024 * 1024


def test_latency_connect_takes_a_round_trip_and_requests_one_each() -> None:
    events = _demo("latency", "--cable", "delay 50ms")
    took = _cases(events, "what took how long")
    handshake, greeting = (int(ms) for ms in re.findall(r"(\d+) ms", took[0]["result"]))
    assert handshake >= 100 and greeting >= 50  # a round trip, then one trip
    assert int(took[1]["result"].split()[0]) >= 3 * 100


def test_a_cable_on_a_demo_without_hosts_is_bad_usage() -> None:
    done = run_cli("demo", "welcome", "--cable", "loss 5%")
    assert done.returncode == 2 and "--cable joins two hosts" in done.stderr
    done = run_cli("demo", "reliability", "--cable", "loss lots")
    assert done.returncode == 2 and "loss 'lots'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


# -- the marks against tcpdump, inside host A ---------------------------------------------

_HEAD = re.compile(r"\bid (?P<id>\d+),")
_TCP = re.compile(r"(?P<src>[\d.]+)\.(?P<sport>\d+) > (?P<dst>[\d.]+)\.(?P<dport>\d+): "
                  r"Flags \[(?P<flags>[^\]]*)\]")
_SEQ = re.compile(r", seq (?P<seq>\d+):(?P<end>\d+),")


def _tcpdump_retransmissions(text: str, sender: str) -> int:
    """Data segments from ``sender`` that arrived below what had already arrived and
    were sent after it (a newer IP id): tcpdump's own output, read here."""
    highest_end = highest_id = None
    count = 0
    ip_id = None
    for line in text.splitlines():
        head = _HEAD.search(line)
        if head:
            ip_id = int(head["id"])
            continue
        seg, data = _TCP.search(line), _SEQ.search(line)
        if seg is None or seg["src"] != sender or data is None or ip_id is None:
            continue
        start, end = int(data["seq"]), int(data["end"])
        if highest_end is not None and 0 < (highest_end - start) % 2**32 < 2**31 and \
                0 < (ip_id - highest_id) % 65536 < 32768:
            count += 1
        if highest_end is None or 0 < (end - highest_end) % 2**32 < 2**31:
            highest_end = end
        highest_id = ip_id if highest_id is None or \
            0 < (ip_id - highest_id) % 65536 < 32768 else highest_id
    return count


def test_the_retransmissions_marked_are_the_ones_tcpdump_sees_in_host_a() -> None:
    binary = shutil.which("tcpdump")
    if binary is None:
        pytest.skip("tcpdump is not installed")
    lab = Lab()
    events: list[Event] = []
    lab.subscribe(events.append)
    with tempfile.TemporaryDirectory() as folder, watching(lab, True, lambda _line: None):
        pcap = Path(folder) / "a.pcap"
        try:
            hosts = enable(lab)
            dump = subprocess.Popen(
                ["ip", "netns", "exec", hosts.names["A"], binary, "-i", HOST_A.interface,
                 "-Q", "in", "-n", "-U", "-w", str(pcap), "tcp"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            assert dump.stderr is not None
            assert "listening" in dump.stderr.readline()
            assert reliability(lab)
            time.sleep(0.5)  # the last segments written
            dump.send_signal(signal.SIGINT)
            dump.wait(LIMIT)
            dump.stderr.close()
        finally:
            lab.close_all()
        text = subprocess.run([binary, "-r", str(pcap), "-n", "-v", "-S"], capture_output=True,
                              text=True, timeout=LIMIT, check=True).stdout
    marked = [e for e in events if e.op == "packet" and e.host == HOST_B.letter
              and e.result.get("retransmission") and e.result.get("len")]
    expected = _tcpdump_retransmissions(text, HOST_B.address)
    assert expected >= 1
    assert len(marked) == expected
