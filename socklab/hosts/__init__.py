"""Two hosts on one machine (issue 14): network namespaces, a cable (TUN + relay), setns.

- `netns`    setns(2) through ctypes; `run_in` a namespace from a thread of its own
- `tools`    the ``ip`` command; whether this process may make namespaces
- `pair`     `TwoHosts`: host A (server) and host B (client), made and removed
- `cable`    the cable's conditions in words (`delay 100ms loss 10%`), parsed
- `cable_relay` a TUN in each host and the relay that carries packets under them
- `cleanup`  nothing left behind: exit, stop signals, leftovers of killed runs
- `mode`     turning two-hosts mode on and off for a lab
- `demo`     ``socklab demo two-hosts``: loopback, one address, every address

UI-free: no textual, no rich.
"""

from __future__ import annotations

from .pair import HOST_A, HOST_B, HOST_OF_SIDE, HOSTS, Host, TwoHosts
from .tools import HostsError, why_unavailable

__all__ = ["HOSTS", "HOST_A", "HOST_B", "HOST_OF_SIDE", "Host", "HostsError", "TwoHosts",
           "why_unavailable"]
