"""Ports: what a port number means on this machine, and what listens here.

No textual, no rich: the commands, the lab's port-info line and the Ports
screen all read from here.  One module a job:

* `ranges`: ranges as typed (``80``, ``1-1024``, ``http``) and IANA's classes;
* `services`: the system's services database (``/etc/services``);
* `system`: privileges, the ephemeral range, what listens here (from the kernel);
* `info`: one port's facts put together (a table row, a short line);
* `common`: the lecture's table of common ports, corrected;
* `scan`: the loopback-only scan, one port's probe, and a free port.
"""

from __future__ import annotations

from ..inputs import MAX_PORT
from .common import COMMON_PORTS, CommonPort
from .info import PortInfo, describe_port, port_info, port_infos
from .ranges import (
    CLASS_BOUNDS,
    DYNAMIC,
    REGISTERED,
    WELL_KNOWN,
    PortRange,
    parse_range,
    range_class,
)
from .scan import (
    FREE,
    IN_USE,
    LISTENING,
    NO_PERMISSION,
    QUEUE_FULL,
    REFUSED,
    ScanResult,
    connected_to_itself,
    find_free_port,
    probe,
    resolve_scan_host,
    scan,
)
from .services import Services, read_services, service_names, service_port, services
from .system import (
    IANA_EPHEMERAL,
    LOCAL_PORT_RANGE,
    UNPRIVILEGED_PORT_START,
    EphemeralRange,
    bind_privilege,
    ephemeral_range,
    is_privileged,
    listening,
    unprivileged_port_start,
)

__all__ = [
    "CLASS_BOUNDS", "COMMON_PORTS", "DYNAMIC", "FREE", "IANA_EPHEMERAL", "IN_USE", "LISTENING",
    "LOCAL_PORT_RANGE", "MAX_PORT", "NO_PERMISSION", "QUEUE_FULL", "REFUSED", "REGISTERED",
    "UNPRIVILEGED_PORT_START", "WELL_KNOWN", "CommonPort", "EphemeralRange", "PortInfo",
    "PortRange", "ScanResult", "Services", "bind_privilege", "connected_to_itself",
    "describe_port", "ephemeral_range", "find_free_port", "is_privileged", "listening",
    "parse_range", "port_info", "port_infos", "probe", "range_class", "read_services",
    "resolve_scan_host", "scan", "service_names", "service_port", "services",
    "unprivileged_port_start",
]
