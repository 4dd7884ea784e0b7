"""Two-hosts mode for a lab: on (the server on host A, the client on host B) or off.

Turning it on gives the lab a `TwoHosts` (its sockets are then made inside the
hosts' namespaces) and has the event bus stamp each event with its side's host.
The namespaces come up at once, so a learner can look inside them while the
lab is open; Reset and exit remove them (`Lab.close_all`), the next socket
brings them back.  Turning it off closes every socket first: a socket made on
host A cannot move back to this machine.
"""

from __future__ import annotations

from ..engine import Lab
from . import teach
from .cable_info import TcpInfoWatch
from .pair import HOST_OF_SIDE, TwoHosts


def enable(lab: Lab) -> TwoHosts:
    """Put ``lab`` in two-hosts mode and bring the hosts up (HostsError if they
    cannot be made: see `tools.why_unavailable`)."""
    if lab.hosts is None:
        lab.hosts = TwoHosts(announce=lab.announce_hosts)
        lab.bus.hosts = {side: host.letter for side, host in HOST_OF_SIDE.items()}
        lab.hosts.info = TcpInfoWatch(lab)  # TCP_INFO's numbers while the cable has conditions
    try:
        lab.hosts.up()
    except OSError:
        disable(lab)
        raise
    return lab.hosts


def disable(lab: Lab) -> None:
    """Back to one machine: every socket of the lab closed, the hosts removed."""
    if lab.hosts is None:
        return
    if lab.open_sockets:
        lab.reset(teach.HOSTS_CHANGED)
    lab.hosts.down()
    if lab.hosts.info is not None:
        lab.hosts.info.close()
    lab.hosts = None
    lab.bus.hosts = None


def enabled(lab: Lab) -> bool:
    return lab.hosts is not None
