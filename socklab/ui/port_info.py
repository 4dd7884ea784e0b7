"""What a port number means on this machine, shown beside each port field.

The facts (range class, service names, privileges, the OS ephemeral range)
come from `socklab.ports`.  Whether something listens is read from /proc/net
(`socklab.ports.listening`) rather than probed with a socket: a probe that
connects would show up as a real connection in the lab's own server.
Lookups read those files in a thread (an async worker awaits it and shows
the answer on the UI thread), so typing stays smooth.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from rich.text import Text
from textual import work
from textual.widgets import Static

from .. import ports
from ..hosts.netns import run_on
from ..inputs import InputError
from ..ports import listening


@dataclass(frozen=True)
class PortFacts:
    """Everything the port info line says about one port."""

    port: int
    info: ports.PortInfo
    privilege: str | None
    in_use: bool | None
    ephemeral: ports.EphemeralRange
    proto: str = "tcp"


def port_facts(port: int, proto: str = "tcp") -> PortFacts:
    """Gather the facts (reads a few small files; call off the UI thread)."""
    return PortFacts(
        port=port,
        info=ports.port_info(port),
        privilege=ports.bind_privilege(),
        in_use=listening(port, proto) if port else False,
        ephemeral=ports.ephemeral_range(),
        proto=proto,
    )


def facts_text(facts: PortFacts, *, for_server: bool) -> Text:
    """The facts as one short styled line (plain strings, no markup)."""
    text = Text(end="")
    if facts.port == 0:
        text.append("port 0: the kernel picks a free port", "bold")
        text.append(f" · ephemeral {facts.ephemeral}", "italic")
        return text
    info = facts.info
    text.append(info.range_class, "bold")
    text.append(f" · {info.service}")
    if for_server and info.privileged:
        text.append(" · needs privileges", "bold")
        if facts.privilege == "root":
            text.append(" (you are root)")
        elif facts.privilege:
            text.append(f" (you have {facts.privilege})")
    if facts.in_use is True:
        verb = "listening" if facts.proto == "tcp" else "bound"
        text.append(f" · {verb} here", "bold")
    elif facts.in_use is False:
        text.append(" · nothing listens", "italic")
    inside = " (inside)" if facts.port in facts.ephemeral else ""
    text.append(f" · ephemeral {facts.ephemeral}{inside}", "italic")
    return text


#: Seconds during which the same port asked again is not looked up again.
LOOKUP_REUSE = 0.5


class PortInfoLine(Static):
    """One line under a port field: range, service, privileges, in use."""

    def __init__(self, *, for_server: bool, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.for_server = for_server
        self.port: int | None = None
        self.proto = "tcp"
        self._asked: tuple[tuple[int | None, str], float] = ((None, ""), 0.0)
        #: Two-hosts mode: the network namespace whose ports are looked up (None: here).
        self.namespace: str | None = None

    def show_port(self, port: int | None, proto: str = "tcp") -> None:
        """Look the port up (in a worker) and show what it means."""
        self.port, self.proto = port, proto
        if port is None:
            self.update("")
            return
        # A form filling in (start-up: four calls for the same port) asks the
        # same thing at once; one lookup answers them all (each reads /proc/net
        # in a thread, which on a busy machine delayed the first paint).
        now = time.monotonic()
        if self._asked[0] == (port, proto) and now - self._asked[1] < LOOKUP_REUSE:
            return
        self._asked = ((port, proto), now)
        self._look_up(port, proto)

    def recheck(self) -> None:
        """Look again (something may have started or stopped listening)."""
        if self.port is not None:
            self._look_up(self.port, self.proto)

    @work(group="port-info", exit_on_error=False)
    async def _look_up(self, port: int, proto: str) -> None:
        # The files are read in a thread; the answer is shown here, on the UI
        # thread, by the worker that asked (no call from the thread to widgets).
        try:  # in two-hosts mode, inside the host's namespace: its own tables
            facts = await asyncio.to_thread(run_on, self.namespace,
                                            lambda: port_facts(port, proto))
        except (InputError, OSError):  # a failed lookup just shows nothing new
            return
        self._show(facts)

    def _show(self, facts: PortFacts) -> None:
        if facts.port == self.port and facts.proto == self.proto:
            text = facts_text(facts, for_server=self.for_server)
            if text != self.content:  # a recheck that finds nothing new costs no layout
                # Hidden (a lesson open, the fields folded): no layout of the screen
                # now; showing the line again lays it out with this text.
                self.update(text, layout=self.display)
