"""What one port means on this machine: its class, its service names, whether
binding it needs privileges, whether it is in the ephemeral range — each fact
from the module that knows it, put together for a table row or a short line."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..inputs import InputError, parse_port
from .ranges import range_class
from .scan import probe
from .services import service_names, services
from .system import bind_privilege, ephemeral_range, unprivileged_port_start


@dataclass(frozen=True, slots=True)
class PortInfo:
    """What this machine says about one port."""

    port: int
    range_class: str
    tcp: str | None
    udp: str | None
    privileged: bool
    ephemeral: bool

    @property
    def service(self) -> str:
        """The names in one phrase: "http", "tcp ftp / udp fsp" or "no service"."""
        if self.tcp and self.udp:
            return self.tcp if self.tcp == self.udp else f"tcp {self.tcp} / udp {self.udp}"
        if self.tcp:
            return f"{self.tcp} (tcp)"
        if self.udp:
            return f"{self.udp} (udp)"
        return "no service"


def port_info(port: int) -> PortInfo:
    """The facts about one port."""
    return port_infos((port,))[0]


def port_infos(ports: Iterable[int]) -> list[PortInfo]:
    """`port_info` for many ports; fast enough for all 65,536."""
    table = services()
    ephemeral = ephemeral_range()
    start = unprivileged_port_start()
    lookup = service_names if table.source == "getservbyport" else (
        lambda p: (table.tcp.get(p), table.udp.get(p))
    )
    infos = []
    for port in ports:
        tcp, udp = lookup(port)
        infos.append(PortInfo(port, range_class(port), tcp, udp, 0 < port < start,
                              ephemeral.first <= port <= ephemeral.last))
    return infos


def describe_port(port: int, *, host: str = "127.0.0.1", check: bool = True) -> str:
    """One port's facts in one short line (the Ports screen's status), e.g.
    ``registered · no service · free · ephemeral 32768–60999``.

    With ``check`` it also says whether something on this machine listens
    there (a loopback probe: one bind, and a connect only if the bind fails).
    """
    port = parse_port(port)
    ephemeral = ephemeral_range()
    if port == 0:
        return f"port 0 · the kernel picks a free port · ephemeral {ephemeral}"
    info = port_info(port)
    parts = [info.range_class, info.service]
    if info.privileged:
        who = bind_privilege()
        parts.append(f"privileged (you may: {who})" if who else
                     "privileged: needs root or CAP_NET_BIND_SERVICE")
    if check:
        try:
            parts.append(probe(port, host))
        except (InputError, OSError):
            pass
    if info.ephemeral:
        parts.append(f"ephemeral {ephemeral}")
    return " · ".join(parts)
