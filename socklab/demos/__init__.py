"""The lecture's demos, as sequences of real calls on loopback.

Each demo drives a server and a client in one process, step by step, in the
order the lecture tells it, so its log is the same every run (only ports and
times change).  Their servers and clients open through the scenarios' building
blocks (`open_server`, `open_client`, `run_steps`), as Run server and Run
client do.  Ports are chosen by the kernel (port 0), so a demo never collides
with anything else on the machine.  Demos that show an error succeed (exit 0)
when the error they teach really happens.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..capture import watching
from ..engine import GREETING, Lab, Server
from ..events import Sink
from ..explain import CTRL_C, STOPPED
from ..inputs import LOOPBACK
from ..kernel.poller import KernelView
from ..scenarios import (
    ClientPlan,
    ServerPlan,
    first_failure,
    open_client,
    open_server,
    run_client,
    run_server,
    run_steps,
)
from . import kernel as inside

if TYPE_CHECKING:
    from ..hosts.cable import Conditions

Demo = Callable[[Lab], bool]
STREAM, DGRAM = socket.SOCK_STREAM, socket.SOCK_DGRAM


def _served(lab: Lab, plan: ServerPlan) -> Server | None:
    """A server opened on loopback, port 0 (the kernel's choice), or None."""
    server = lab.server(plan.family, plan.kind)
    return server if open_server(server, plan) else None


def welcome(lab: Lab, family: int = socket.AF_INET) -> bool:
    """sockets_server.py + sockets_client.py: the greeting, over TCP."""
    host = LOOPBACK[family]
    server = _served(lab, ServerPlan(family, host=host, port=0))
    client = lab.client(family)
    if server is None or not open_client(client, ClientPlan(family, host=host,
                                                            port=server.local[1])):
        return False
    conn, _ = server.accept()
    if conn is None:
        return False
    sent = conn.send(GREETING)
    received = client.recv(1024)
    conn.close()
    client.close()
    server.close()
    return bool(sent and sent.ok and received.data == GREETING)


def ipv6(lab: Lab) -> bool:
    return welcome(lab, socket.AF_INET6)


def echo(lab: Lab) -> bool:
    """An echo server: what the client sends comes back; close → EOF."""
    server = _served(lab, ServerPlan(port=0))
    client = lab.client()
    if server is None or not open_client(client, ClientPlan(port=server.local[1])):
        return False
    conn, _ = server.accept()
    if conn is None:
        return False
    client.send(b"Hello, echo!\r\n")
    conn.send(conn.recv(1024).data)
    reply = client.recv(1024)
    client.close()
    eof = conn.recv(1024)  # b'': the client closed
    conn.close()
    server.close()
    return reply.data == b"Hello, echo!\r\n" and eof.eof


def udp(lab: Lab) -> bool:
    """Datagrams: bind and recvfrom, sendto an address; no listen, no accept."""
    server = _served(lab, ServerPlan(kind=DGRAM, port=0))
    client = lab.client(kind=DGRAM)
    if server is None or not open_client(client, ClientPlan(kind=DGRAM)):
        return False
    client.sendto(b"Hello, UDP!", "127.0.0.1", server.local[1])
    got = server.recvfrom(65535)
    if got.addr is None:
        return False
    server.sendto(GREETING, *got.addr)
    reply = client.recvfrom(65535)
    client.close()
    server.close()
    return reply.data == GREETING


def http(lab: Lab) -> bool:
    """py4e's socket1.py: a raw GET for /romeo.txt, read until the server closes."""
    server = lab.server()
    service = run_server(lab, server, ServerPlan(port=0, mode="http", count=1))
    if service is None:
        return False
    port = server.local[1]
    request = f"GET /romeo.txt HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    page = bytearray()
    run_client(lab, lab.client(), ClientPlan(port=port, payloads=(request,),
                                             half_close=False, idle=10.0, recv_size=512),
               page)
    service.wait(10.0)
    server.close()
    return page.startswith(b"HTTP/1.0 200 OK") and b"But soft what light" in page


def _bind_error(lab: Lab, port: int, reuseaddr: bool = False) -> str | None:
    """A new server: socket, [SO_REUSEADDR], bind to 127.0.0.1:port, close.

    Returns the error bind met (None: it bound); a failed bind stops there and
    the lab closes the socket, saying why.
    """
    server = lab.server()
    steps = [server.socket]
    if reuseaddr:
        steps.append(lambda: server.setsockopt_reuseaddr(True))
    steps.append(lambda: server.bind("127.0.0.1", port))
    failed = first_failure(server, steps)
    if failed is None:
        server.close()
        return None
    return failed.error


def refused(lab: Lab) -> bool:
    """Connect to a port nobody listens on: ECONNREFUSED."""
    probe = lab.server()
    if not run_steps(probe, [probe.socket, lambda: probe.bind("127.0.0.1", 0)]):
        return False
    port = probe.local[1]
    probe.close()  # now nothing owns the port: the kernel will answer RST
    client = lab.client()
    failed = first_failure(client, [client.socket, lambda: client.connect("127.0.0.1", port)])
    return failed is not None and failed.error == "ECONNREFUSED"


def inuse(lab: Lab) -> bool:
    """EADDRINUSE twice: a port someone listens on, and a port in TIME_WAIT."""
    # The first server sets SO_REUSEADDR, as real servers do: its connections'
    # TIME_WAIT leftovers inherit it, which is what lets a restart rebind.
    first = _served(lab, ServerPlan(port=0, reuseaddr=True))
    if first is None:
        return False
    port = first.local[1]
    busy = _bind_error(lab, port)
    # TIME_WAIT: the side that closes first keeps the port for a while.
    client = lab.client()
    if not open_client(client, ClientPlan(port=port)):
        return False
    conn, _ = first.accept()
    if conn is None:
        return False
    conn.close()  # the server closes first: its side goes to TIME_WAIT
    client.recv(1024)  # b''
    client.close()
    first.close()
    waiting = _bind_error(lab, port)
    rebound = _bind_error(lab, port, reuseaddr=True)
    return busy == "EADDRINUSE" and waiting == "EADDRINUSE" and rebound is None


DEMOS: dict[str, Demo] = {
    "welcome": welcome,
    "echo": echo,
    "udp": udp,
    "ipv6": ipv6,
    "http": http,
    "refused": refused,
    "inuse": inuse,
    "two-hosts": lambda lab: _two_hosts(lab),
    "reliability": lambda lab: _on_cable("reliability", lab),
    "flow-control": lambda lab: _on_cable("flow-control", lab),
    "latency": lambda lab: _on_cable("latency", lab),
    "backlog": inside.backlog,
    "close": inside.close,
    "reset": inside.reset,
    "boundaries": inside.boundaries,
}


def _two_hosts(lab: Lab) -> bool:
    """Two hosts, two network namespaces (socklab.demos.hosts): imported when run."""
    from .hosts import two_hosts
    return two_hosts(lab)


#: The demos that make two hosts (root): ``--cable`` applies to them.
HOSTS_DEMOS = frozenset({"two-hosts", "reliability", "flow-control", "latency"})


def _on_cable(name: str, lab: Lab, cable: Conditions | None = None) -> bool:
    """A cable demo (socklab.hosts.cable_demos) on its own cable, or ``cable``."""
    from ..hosts.cable_demos import CABLE_DEMOS
    return CABLE_DEMOS[name](lab, cable)


def _with_cable(name: str, cable: Conditions | None) -> Demo:
    """The demo to run: given the learner's cable (the two-hosts demo: set first)."""
    if cable is None:
        return DEMOS[name]
    if name != "two-hosts":
        return lambda lab: _on_cable(name, lab, cable)

    def two_hosts_on_cable(lab: Lab) -> bool:
        from ..hosts.cable_lab import set_cable
        from ..hosts.mode import enable
        enable(lab)
        set_cable(lab, cable)
        return _two_hosts(lab)
    return two_hosts_on_cable


def ipv6_available() -> bool:
    """Can this machine bind ::1?  (Containers often have no IPv6 at all.)"""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def _say(text: str) -> None:
    print(f"socklab: {text}", file=sys.stderr)


def run_demo(name: str, sink: Sink, packets: bool = False,
             cable: Conditions | None = None) -> int:
    """Run one demo, printing its events; 0 when it showed what it teaches.

    ``packets``: also the TCP segments under each call (socklab.capture);
    ``cable``: the two-hosts cable's conditions (a demo of `HOSTS_DEMOS`)."""
    if name == "ipv6" and not ipv6_available():
        print("socklab: demo ipv6 skipped: this machine cannot bind ::1 (no IPv6 loopback)",
              file=sys.stderr)
        return 0
    if name in HOSTS_DEMOS:
        from ..hosts.cleanup import remove_on_signals
        from ..hosts.tools import why_unavailable
        why = why_unavailable()
        if why is not None:
            print(f"socklab: demo {name} cannot run: {why}", file=sys.stderr)
            return 1
        remove_on_signals()
    lab = Lab()
    lab.subscribe(sink)
    kernel = KernelView(lab).start()  # state events: after the sink saw each call
    reason = STOPPED
    with watching(lab, packets, _say):
        try:
            ok = _with_cable(name, cable)(lab)
        except OSError as exc:  # the hosts could not be made (HostsError): one line
            print(f"socklab: demo {name} stopped: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            ok, reason = True, CTRL_C
        finally:
            lab.close_all(reason)
            kernel.stop()
    if not ok:
        print(f"socklab: demo {name} did not go as the lecture says (see the log above)",
              file=sys.stderr)
    return 0 if ok else 1
