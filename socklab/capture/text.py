"""How a segment reads in the log: ``→ SYN seq=0``, ``← SYN/ACK seq=0 ack=1``.

The arrow is the direction on the wire as the Wire view draws it (client on
the left, server on the right): ``→`` client to server, ``←`` server to client.
Numbers are shown when they say something: ``seq`` on a segment that uses
sequence space (SYN, FIN, data) or is a RST, ``ack`` when the ACK flag is set,
``len`` when there are data.  UI-free; the log view and the commands share it.
"""

from __future__ import annotations

from typing import Any

from ..events import CLIENT, Event

#: The ops of the wire: a captured segment, and what TCP_INFO counters infer.
WIRE_OPS = frozenset({"packet", "segments"})

#: Where a packet row starts: under the call, a little further in.
PACKET_INDENT = "  "


def arrow(side: str) -> str:
    """``→`` for a segment the client sent, ``←`` for one the server sent."""
    return "→" if side == CLIENT else "←"


def segment_text(result: Any) -> str:
    """``SYN/ACK seq=0 ack=1``: a packet event's result as the log shows it."""
    if not isinstance(result, dict):
        return str(result)
    if result.get("proto") == "UDP":
        return f"UDP len={result.get('len', 0)}"
    flags = result.get("flags") or []
    name = "/".join(flags) or "(no flags)"
    length = result.get("len") or 0
    words = [name]
    if length or set(flags) & {"SYN", "FIN", "RST"}:
        words.append(f"seq={result.get('seq')}")
    if "ACK" in flags:
        words.append(f"ack={result.get('ack')}")
    if length:
        words.append(f"len={length}")
    return " ".join(words + marks_words(result))


#: How each of TCP's marks (socklab.capture.tcpanalysis) reads on a packet row.
MARK_WORDS = (("retransmission", "[retransmission]"), ("out_of_order", "[out of order]"),
              ("duplicate", "[duplicate]"), ("dup_ack", "[dup ACK]"),
              ("window_probe", "[window probe]"), ("window_update", "[window update]"))


def marks_words(result: dict[str, Any]) -> list[str]:
    """``win=0 [zero window]``, ``[retransmission]``…: what TCP is doing, in words."""
    words = ["win=0 [zero window]"] if result.get("window") == 0 and \
        "RST" not in (result.get("flags") or ()) else []
    return words + [word for key, word in MARK_WORDS if result.get(key)]


def inferred_text(result: dict[str, Any]) -> str:
    """What TCP_INFO counters prove about one socket across a call (never a capture)."""
    out, into = result.get("segs_out", 0), result.get("segs_in", 0)
    data = ""
    if result.get("data_segs_out") or result.get("data_segs_in"):
        data = (f" (data: {result.get('data_segs_out', 0)} out,"
                f" {result.get('data_segs_in', 0)} in)")
    return f"≈ {out} segment(s) out, {into} in{data} — inferred from TCP_INFO, not captured"


def packet_line(event: Event) -> str:
    """The part of a packet's log line after the ``who`` column."""
    if event.op == "segments":
        result = event.result if isinstance(event.result, dict) else {}
        return f"{PACKET_INDENT}{inferred_text(result)}"
    times = f" ×{event.count} segments" if event.count > 1 else ""
    kernel = f" {BY_KERNEL}" if event.by == "kernel" else ""
    return f"{PACKET_INDENT}{arrow(event.side)} {segment_text(event.result)}{times}{kernel}"


#: Said on a segment no socket sent (a RST for a port where nothing is).
BY_KERNEL = "(sent by the kernel: no socket there)"
