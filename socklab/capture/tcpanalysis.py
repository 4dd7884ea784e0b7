"""What TCP is doing, read from the segments as they arrive: the marks on packet rows.

Each captured segment is given, in its packet event's result (additive keys,
SPEC §3):

* ``window``: the window its sender advertises, in bytes (the header's value
  shifted by the window scale both SYNs agreed on); 0 is a *zero window*: the
  sender's receive buffer is full and the peer must stop sending.
* ``retransmission: true``: data (or a SYN/FIN) below what this direction had
  already delivered, sent *again*: Linux numbers the IPv4 packets each socket
  sends (the IP identification), so a segment re-sent carries a newer number
  than the ones that overtook it.
* ``out_of_order: true``: data below what had arrived, sent *before* it (an
  older IP identification): the cable reordered it.
* ``duplicate: true``: the same packet again (same IP identification): the
  cable duplicated it.
* ``dup_ack: true``: a pure ACK repeating the last one (same ack, same window)
  while the peer has data in flight: the receiver saw a gap and says so.
* ``window_probe: true``: a bare segment one byte below the next sequence number
  while the peer's window is 0: the sender asks whether the window has opened.
* ``window_update: true``: a pure ACK that reopens a zero window.

The captures keep the copy of each segment a host *receives*, so these are the
receiver's view, as a capture inside that host (tcpdump in its namespace) sees
it.  Bounded: one small record per direction of at most `MAX_DIRECTIONS`.
UI-free, fed under the bus lock.
"""

from __future__ import annotations

from typing import Any

from .segments import Segment

#: Directions remembered (oldest forgotten first): far above a lesson's.
MAX_DIRECTIONS = 8192
_HALF = 1 << 31


#: The keys that mark a segment as worth a row of its own.
MARKS = frozenset({"retransmission", "out_of_order", "duplicate", "dup_ack", "window_probe",
                   "window_update"})


def ordinary(result: dict[str, Any]) -> bool:
    """Nothing marked and the window open: such a segment may join a run of its kind."""
    return result.get("window") != 0 and MARKS.isdisjoint(result)


def _before(a: int, b: int) -> bool:
    """Sequence number ``a`` comes before ``b`` (32-bit wrap-around)."""
    return a != b and ((b - a) & 0xFFFFFFFF) < _HALF


def _id_after(a: int, b: int) -> bool:
    """IP identification ``a`` is newer than ``b`` (16-bit wrap-around)."""
    return a != b and ((a - b) & 0xFFFF) < 0x8000


class _Way:
    """One direction of one connection, as its receiver saw it so far."""

    __slots__ = ("ack", "end", "ip_id", "scale", "window")

    def __init__(self) -> None:
        #: The highest sequence number delivered so far (seq + length), None: none yet.
        self.end: int | None = None
        #: The newest IP identification seen from this sender.
        self.ip_id: int | None = None
        #: Its SYN's window scale (None: none seen, or none offered).
        self.scale: int | None = None
        #: The last ack it sent, and the window (bytes) it advertised.
        self.ack: int | None = None
        self.window: int | None = None


class TcpAnalysis:
    """Marks for each segment of the lab's connections (`marks`)."""

    def __init__(self) -> None:
        self._ways: dict[tuple, _Way] = {}

    def _way(self, src: Any, dst: Any) -> _Way:
        way = self._ways.get((src, dst))
        if way is None:
            if len(self._ways) >= MAX_DIRECTIONS:
                del self._ways[next(iter(self._ways))]
            way = self._ways[(src, dst)] = _Way()
        return way

    def marks(self, segment: Segment) -> dict[str, Any]:
        """The keys this segment adds to its packet event's result."""
        way, peer = self._way(segment.src, segment.dst), self._way(segment.dst, segment.src)
        flags = segment.flags
        if "SYN" in flags:
            way.scale = segment.wscale
        shift = way.scale if way.scale is not None and peer.scale is not None else 0
        window = segment.window if "SYN" in flags else segment.window << shift
        out: dict[str, Any] = {"window": window}
        span = segment.length + ("SYN" in flags) + ("FIN" in flags)
        if span:
            self._data(way, segment, span, out)
        elif "RST" not in flags:
            self._bare(way, peer, segment, window, out)
        if segment.ip_id is not None and (way.ip_id is None
                                          or _id_after(segment.ip_id, way.ip_id)):
            way.ip_id = segment.ip_id
        if "ACK" in flags:
            way.ack, way.window = segment.ack, window
        return out

    def joins(self, segment: Segment) -> bool:
        """`joins_run` for a parsed segment (data or a pure ACK)."""
        return self.joins_run(segment.src, segment.dst, segment.seq, segment.ack,
                              segment.length, segment.window, segment.ip_id,
                              "ACK" in segment.flags)

    def joins_run(self, src: Any, dst: Any, seq: int, ack: int, length: int, window: int,
                  ip_id: int | None, acks: int | bool) -> bool:
        """`marks` for a data segment or a pure ACK (no SYN, FIN or RST) of a bulk
        run, in one step: True when `marks` would mark nothing and the window is
        open (`ordinary`), this direction's record then updated as `marks` does.
        False (nothing updated) when it would mark something: call `marks`.

        A bulk transfer passes most of its segments here (some 30,000 a second),
        from the frame's fields: no `Segment`, no result dict, no helper calls."""
        ways = self._ways
        way, peer = ways.get((src, dst)), ways.get((dst, src))
        if way is None or peer is None:
            return False  # a direction not seen yet: `marks` makes its record
        if way.scale is not None and peer.scale is not None:
            window <<= way.scale
        if window == 0:
            return False
        end = way.end
        if length:
            # Below what this direction delivered: sent again, overtaken or doubled.
            if end is not None and seq != end and ((end - seq) & 0xFFFFFFFF) < _HALF:
                return False
            new_end = (seq + length) & 0xFFFFFFFF
            if end is None or (end != new_end and ((new_end - end) & 0xFFFFFFFF) < _HALF):
                way.end = new_end
        elif not self._plain_ack(way, peer, seq, ack, window, acks):
            return False
        if ip_id is not None and (way.ip_id is None or _id_after(ip_id, way.ip_id)):
            way.ip_id = ip_id
        if acks:
            way.ack, way.window = ack, window
        return True

    @staticmethod
    def _plain_ack(way: _Way, peer: _Way, seq: int, ack: int, window: int,
                   acks: int | bool) -> bool:
        """A segment without data that `_bare` would not mark."""
        if way.end is not None and seq == (way.end - 1) & 0xFFFFFFFF and peer.window == 0:
            return False  # a window probe
        if not acks or way.ack is None:
            return True
        if ack == way.ack and window == way.window:
            return peer.end is None or not _before(ack, peer.end)  # a dup ACK
        return not (way.window == 0 and window > 0)  # a window update

    @staticmethod
    def _data(way: _Way, segment: Segment, span: int, out: dict[str, Any]) -> None:
        """Data (or SYN/FIN): new, sent again, overtaken, or the same packet twice."""
        end = (segment.seq + span) & 0xFFFFFFFF
        if way.end is not None and _before(segment.seq, way.end):
            if segment.ip_id is None or way.ip_id is None or \
                    _id_after(segment.ip_id, way.ip_id):
                out["retransmission"] = True
            elif segment.ip_id == way.ip_id:
                out["duplicate"] = True
            else:
                out["out_of_order"] = True
        if way.end is None or _before(way.end, end):
            way.end = end

    @staticmethod
    def _bare(way: _Way, peer: _Way, segment: Segment, window: int,
              out: dict[str, Any]) -> None:
        """No data: a duplicate ACK, a window probe or a window update?"""
        if way.end is not None and segment.seq == (way.end - 1) & 0xFFFFFFFF \
                and peer.window == 0:
            out["window_probe"] = True
            return
        if "ACK" not in segment.flags or way.ack is None:
            return
        if segment.ack == way.ack and window == way.window:
            if peer.end is not None and _before(segment.ack, peer.end):
                out["dup_ack"] = True
        elif way.window == 0 and window > 0:
            out["window_update"] = True
