"""Figure 11: TCP bulk through the engine with packet capture on, against capture off.

The same engine transfer as figure 1 (client ``send`` → discard Service, 64 KiB
chunks), alternately without and with the lab's capture (socklab.capture:
an AF_PACKET socket on lo whose kernel filter keeps the lab's ports and the
first 128 bytes of each segment); medians compared in one run.  Needs
CAP_NET_RAW: without it the figure says so and is not counted as failed.
"""

from __future__ import annotations

from socklab.capture import Capture, NoCapture
from socklab.engine import Lab

from .net import TCP_BYTES, tcp_engine
from .report import Figure, median

CAPTURE_GOAL = "packet capture costs the data path little"

#: Captures started by the last run (stopped and counted after it).
_started: list[Capture] = []


def _capture(lab: Lab) -> Capture:
    capture = Capture(lab)
    _started.append(capture)
    return capture


def wire_figure(runs: int = 5) -> Figure:
    off, on = [], []
    segments = dropped = 0
    try:
        Capture(Lab()).stop()
    except NoCapture as exc:
        figure = Figure("11 TCP bulk, capture on / off", 1.0, 1.0, "MiB/s", 0.7, True,
                        goal=CAPTURE_GOAL)
        figure.notes.append(f"not measured: {exc}")
        return figure
    for _ in range(runs):
        off.append(tcp_engine()[0])
        on.append(tcp_engine(watch=_capture)[0])
        while _started:
            capture = _started.pop()
            capture.stop()
            segments, dropped = capture.segments, capture.dropped
    mib = TCP_BYTES / 2**20
    figure = Figure("11 TCP bulk, capture on / off", mib / median(on), mib / median(off),
                    "MiB/s", 0.7, True, goal=CAPTURE_GOAL)
    figure.notes.append(
        f"{mib:.0f} MiB through the engine, median of {runs}; the last run with capture "
        f"captured {segments:,} segments (bulk runs shown coalesced); the kernel dropped "
        f"{dropped:,} (capture buffer full: counted, never silent)")
    return figure
