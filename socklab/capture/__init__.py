"""The wire: the lab's TCP segments on loopback, under the calls that caused them.

`watch_packets` starts a `Capture` (an AF_PACKET socket on ``lo``; needs
CAP_NET_RAW) or, without the privilege, says so once and falls back to what
the kernel's TCP_INFO counters prove (`Inferred`).  UI-free.
"""

from .capture import Capture
from .sniffer import NoCapture, how_to_capture

__all__ = ["Capture", "NoCapture", "how_to_capture"]
