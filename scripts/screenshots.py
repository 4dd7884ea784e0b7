"""Write the README's screenshots: the real app, driven headless, real sockets.

    .venv/bin/python scripts/screenshots.py [OUTPUT_DIR]   (default: screenshots/)

Each picture is a fresh app, driven the way a learner would (Run server,
Run client, a call out of order), saved as SVG.  The numbers in them are the
kernel's real ones (ports, descriptors), so they differ from run to run.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Checkbox, Input, Select, TabbedContent

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from pilot import is_, listen_with_backlog, settle, watch  # noqa: E402

from socklab.hosts import HOST_A, why_unavailable  # noqa: E402
from socklab.ui.app import SocklabApp  # noqa: E402

SIZE = (120, 36)
Scene = Callable[[SocklabApp, Pilot], Awaitable[None]]


async def until(app: SocklabApp, pilot: Pilot, op: str, side: str, phase: str = "done") -> None:
    """Wait until a lab thread has reported ``side op`` (and it reached the screen)."""
    await watch(app).until(is_(side, op, phase))
    await settle(app, pilot)


async def fresh(app: SocklabApp, pilot: Pilot) -> None:
    await settle(app, pilot)


async def welcome(app: SocklabApp, pilot: Pilot) -> None:
    app.server_pane.input("port").value = "0"
    await settle(app, pilot)
    app.server_pane.press("run")
    await until(app, pilot, "accept", "server", "wait")
    for runs in (1, 2):  # two runs of the lecture's client: two connections
        app.client_pane.press("run")
        await watch(app).until(is_("client", "close"), count=runs)
        await settle(app, pilot)
    app.event_log.focus()
    await settle(app, pilot)


async def error(app: SocklabApp, pilot: Pilot) -> None:
    with socket.socket() as owner:  # something else already owns the port
        owner.bind(("127.0.0.1", 0))
        owner.listen(1)
        app.server_pane.input("port").value = str(owner.getsockname()[1])
        await settle(app, pilot)
        app.server_pane.press("run")
        await settle(app, pilot)
        app.server_pane.input("port").value = "0"
        await settle(app, pilot)
        for op in ("socket", "accept"):  # accept before listen: EINVAL
            app.server_pane.press(op)
            await settle(app, pilot)


async def udp(app: SocklabApp, pilot: Pilot) -> None:
    for side in ("server", "client"):
        app.query_one(f"#{side}-type", Select).value = socket.SOCK_DGRAM
    app.server_pane.input("port").value = "0"
    app.client_pane.input("message").value = "hello over UDP"
    await settle(app, pilot)
    app.server_pane.press("run")
    await until(app, pilot, "recvfrom", "server", "wait")
    app.client_pane.press("run")
    await until(app, pilot, "close", "client")
    app.server_pane.press("listen")  # EOPNOTSUPP: no listen() for datagrams
    await settle(app, pilot)


async def echo(app: SocklabApp, pilot: Pilot, message: str) -> None:
    """Run an echo server, then the client sending ``message`` (escapes work)."""
    app.query_one("#server-mode", Select).value = "echo"
    app.server_pane.input("port").value = "0"
    app.client_pane.input("message").value = message
    await settle(app, pilot)
    app.server_pane.press("run")
    await until(app, pilot, "accept", "server", "wait")
    app.client_pane.press("run")
    await until(app, pilot, "close", "client")
    app.event_log.focus()
    await settle(app, pilot)


async def projector(app: SocklabApp, pilot: Pilot) -> None:
    app.theme = "projector"
    await echo(app, pilot, r"hello, echo\r\n")


async def options(app: SocklabApp, pilot: Pilot) -> None:
    """SO_REUSEADDR and a timeout on the server, settimeout on the client."""
    app.query_one("#server-reuseaddr", Checkbox).value = True
    app.query_one("#server-timeout", Select).value = "30.0"
    app.query_one("#client-timeout", Select).value = "5.0"
    await welcome(app, pilot)
    app.event_log.scroll_to(y=0, animate=False, immediate=True)  # the option calls
    await settle(app, pilot)


async def payload(app: SocklabApp, pilot: Pilot) -> None:
    """A non-ASCII message echoed: repr(bytes) in the log, the detail view open."""
    await echo(app, pilot, r"héllo ✓ \x1b[31m")
    log = app.event_log
    rows = log.buffer.rows
    log.move_cursor(next(i for i, r in enumerate(rows) if r.event.side == "client"
                         and r.event.op == "recv" and r.event.nbytes))
    app.action_detail()
    await settle(app, pilot)


async def welcome_once(app: SocklabApp, pilot: Pilot) -> None:
    """Run server (port 0), then Run client once: the welcome exchange."""
    app.server_pane.input("port").value = "0"
    await settle(app, pilot)
    app.server_pane.press("run")
    await until(app, pilot, "accept", "server", "wait")
    app.client_pane.press("run")
    await watch(app).until(is_("client", "close"))


async def packets(app: SocklabApp, pilot: Pilot) -> None:
    """The welcome exchange with the segments each call caused under it."""
    await app.wire.started()
    await welcome_once(app, pilot)
    await settle(app, pilot)
    app.event_log.focus()
    await settle(app, pilot)


async def packet_rows(app: SocklabApp, pilot: Pilot) -> None:
    """The exchange's log from the client's connect(): the handshake under it."""
    await packets(app, pilot)
    rows = app.event_log.buffer.rows
    connect = next(i for i, row in enumerate(rows) if row.event.op == "connect")
    app.event_log.scroll_to(y=max(0, connect - 1), animate=False, immediate=True)
    await pilot.pause()


async def wire(app: SocklabApp, pilot: Pilot) -> None:
    """The same exchange as the Wire tab draws it."""
    await packets(app, pilot)
    app.query_one(TabbedContent).active = "wire"
    await settle(app, pilot)


async def backlog(app: SocklabApp, pilot: Pilot) -> None:
    """listen(2), five clients, no accept(): the kernel's accept queue, full."""
    await listen_with_backlog(app, pilot, 2, 5)
    app.client_pane.press("connect-n")
    full = is_("server", "state", result={"state": "LISTEN", "queue": 3, "backlog": 2})
    await watch(app).until(full)
    await watch(app).until(is_("client", "state", conn=5))  # the last one waits: SYN_SENT
    for _ in range(3):  # not settle(): the waiting connects would end first
        await pilot.pause()


async def lesson(app: SocklabApp, pilot: Pilot) -> None:
    """The welcome lesson in progress: two steps done, then accept() before listen()
    (a wrong call: its real error and the step's hint in the panel)."""
    await app.lessons.start("welcome")
    panel = app.lesson_panel
    for _ in range(2):
        await panel.do_step()
        await panel.next()
    app.server_pane.press("accept")
    await until(app, pilot, "accept", "server")
    for _ in range(3):
        await pilot.pause()


async def lesson_small(app: SocklabApp, pilot: Pilot) -> None:
    """The backlog lesson at 80×24: the panel as a drawer under the panes, its first
    step opened ready (the backlog field filled with 2, marked)."""
    await app.lessons.start("backlog")
    await settle(app, pilot)
    for _ in range(3):
        await pilot.pause()


async def lesson_small_connected(app: SocklabApp, pilot: Pilot) -> None:
    """The welcome lesson at 80×24, seven steps on (the server listening, a client
    connected and greeted): the panes scrolled to their buttons, the log in view."""
    await app.lessons.start("welcome")
    panel = app.lesson_panel
    for _ in range(7):
        await panel.do_step()
        await panel.next()
    await settle(app, pilot)
    for _ in range(3):
        await pilot.pause()


async def lesson_predict(app: SocklabApp, pilot: Pilot) -> None:
    """The boundaries lesson: three sends done, the question before the one recv
    answered with key 2 (15 bytes), then the recv that shows it held."""
    await app.lessons.start("boundaries")
    panel = app.lesson_panel
    for _ in range(3):
        await panel.do_step()
        await panel.next()
    await pilot.press("2")
    await panel.do_step()
    await settle(app, pilot)
    for _ in range(3):
        await pilot.pause()


async def http_regex(app: SocklabApp, pilot: Pilot) -> None:
    """The HTTP tab outside a lesson: romeo.txt split, the regex box on its words."""
    app.query_one("#server-mode", Select).value = "http"
    app.server_pane.input("port").value = "0"
    app.client_pane.input("message").value = r"GET /romeo.txt HTTP/1.0\r\n\r\n"
    await settle(app, pilot)
    app.server_pane.press("run")
    await until(app, pilot, "accept", "server", "wait")
    app.client_pane.press("run")
    await until(app, pilot, "close", "client")
    app.show_tab("http")
    await pilot.pause()
    app.http_view.set_regex("pattern", "[A-Za-z]+")
    await settle(app, pilot)
    await pilot.pause(0.2)


async def two_hosts_scene(app: SocklabApp, pilot: Pilot) -> None:
    """Two hosts: the welcome exchange across the cable, then 127.0.0.1 from host B."""
    app.hosts.ready(app.session.set_two_hosts)  # as run_app does
    assert await app.hosts.set(True)
    await welcome_once(app, pilot)
    app.client_pane.input("host").value = "127.0.0.1"
    await settle(app, pilot)
    app.client_pane.press("run")
    await until(app, pilot, "connect", "client")
    await watch(app).until(is_("client", "close"), count=2)
    app.event_log.focus()
    await settle(app, pilot)


async def two_hosts_wire(app: SocklabApp, pilot: Pilot) -> None:
    """The same two-hosts scene on the Wire tab: the exchange across the cable, then
    the SYN B sent to its own 127.0.0.1 and B's own reset."""
    await two_hosts_scene(app, pilot)
    app.query_one(TabbedContent).active = "wire"
    await settle(app, pilot)


async def two_hosts_ports(app: SocklabApp, pilot: Pilot) -> None:
    """The Ports tab on two hosts: the lab's server on host A, scanned from host B
    across the cable (listening at A's address; the rest refused)."""
    app.hosts.ready(app.session.set_two_hosts)  # as run_app does
    assert await app.hosts.set(True)
    app.server_pane.press("run")
    await until(app, pilot, "accept", "server", "wait")
    await pilot.click("#--content-tab-ports")
    await settle(app, pilot)
    app.query_one("#ports-from", Select).value = "B"
    await pilot.pause()
    app.query_one("#ports-host", Select).value = HOST_A.address
    app.query_one("#ports-range", Input).value = "1020-1050"
    await pilot.click("#ports-scan")
    await settle(app, pilot)
    await pilot.pause(0.2)


async def on_cable(app: SocklabApp, pilot: Pilot, name: str, mark: str,
                   value: object = True) -> None:
    """A cable demo (socklab.hosts.cable_demos) run on the lab's own two hosts, its
    cable in the Cable bar, the log scrolled to the first packet whose ``mark`` is
    ``value``."""
    from socklab.hosts.cable_demos import CABLE_DEMOS, CABLES
    from socklab.ui.cable_bar import CableBar
    app.hosts.ready(app.session.set_two_hosts)  # as run_app does
    assert await app.hosts.set(True)
    await app.wire.started()
    bar = app.query_one(CableBar)
    bar.field.value = CABLES[name].spec()
    assert await bar.apply_words(CABLES[name].spec())  # as Apply does
    await settle(app, pilot)
    assert await asyncio.to_thread(CABLE_DEMOS[name], app.lab, None)
    await settle(app, pilot)
    app.event_log.focus()
    rows = app.event_log.buffer.rows
    marked = next((i for i, row in enumerate(rows)
                   if row.event.op == "packet" and row.event.result.get(mark) == value),
                  len(rows))
    app.event_log.scroll_to(y=max(0, marked - 4), animate=False, immediate=True)
    await pilot.pause()


async def reliability(app: SocklabApp, pilot: Pilot) -> None:
    """loss 20%: a 256 KiB send across, the segments TCP sent again marked."""
    await on_cable(app, pilot, "reliability", "retransmission")


async def flow_control(app: SocklabApp, pilot: Pilot) -> None:
    """A receiver that stopped reading: its zero window, the sender's probes."""
    await on_cable(app, pilot, "flow-control", "window", 0)


async def program(app: SocklabApp, pilot: Pilot) -> None:
    """A learner's own server in the server pane (F3, "Program"): its calls (prog:) and
    the lab's client's in one log, the pane showing its output and its sockets."""
    server = Path(__file__).resolve().parent.parent / "tests/programs/welcome_server.py"
    seen = watch(app)
    await app.programs.switch("server", True)
    box = app.programs.box("server")
    box.input("path").value = os.path.relpath(server)  # as a learner types it
    box.input("args").value = "0"  # port 0: the kernel chooses, the client follows
    await app.programs.start("server")
    await seen.until(lambda e: e.by == "program" and e.op == "accept" and e.phase == "wait")
    await settle(app, pilot)
    app.client_pane.press("run")  # the lab's client: its port followed the program's
    await seen.until(lambda e: e.by is None and e.op == "close" and e.side == "client")
    await seen.until(lambda e: e.by == "program" and e.op == "accept" and e.phase == "wait",
                     count=2)
    app.event_log.focus()
    await settle(app, pilot)


SCENES: dict[str, tuple[Scene, tuple[int, int]]] = {
    "lab-fresh": (fresh, SIZE),
    "lab-welcome": (welcome, SIZE),
    "lab-error": (error, SIZE),
    "lab-udp": (udp, SIZE),
    "lab-projector": (projector, SIZE),
    "lab-options": (options, SIZE),
    "lab-payload": (payload, SIZE),
    "lab-wide": (welcome, (200, 50)),
    "lab-packets": (packet_rows, SIZE),
    "lab-wire": (wire, SIZE),
    "lab-backlog": (backlog, SIZE),
    "lab-two-hosts": (two_hosts_scene, SIZE),
    "lab-two-hosts-wire": (two_hosts_wire, SIZE),
    "ports-two-hosts": (two_hosts_ports, SIZE),
    "lab-two-hosts-reliability": (reliability, SIZE),
    "lab-two-hosts-flow-control": (flow_control, SIZE),
    "lesson-welcome": (lesson, SIZE),
    "lesson-80x24": (lesson_small, (80, 24)),
    "lesson-80x24-connected": (lesson_small_connected, (80, 24)),
    "lesson-predict": (lesson_predict, SIZE),
    "http-regex": (http_regex, SIZE),
    "lab-program": (program, SIZE),
}
#: Scenes that capture the lab's segments (root, or CAP_NET_RAW).
CAPTURING = {"lab-packets", "lab-wire", "lab-two-hosts-wire", "lab-two-hosts-reliability",
             "lab-two-hosts-flow-control"}


async def shoot(name: str, scene: Scene, out: Path, size: tuple[int, int] = SIZE) -> Path:
    app = SocklabApp(packets=name in CAPTURING)
    async with app.run_test(size=size) as pilot:
        await scene(app, pilot)
        path = out / f"{name}.svg"
        app.save_screenshot(filename=path.name, path=str(out))
    return path


async def main(out: Path, names: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, (scene, size) in SCENES.items():
        if names and name not in names:
            continue
        if "two-hosts" in name and why_unavailable() is not None:
            print(f"{name} skipped: {why_unavailable()}", file=sys.stderr)
            continue
        print(await shoot(name, scene, out, size))


if __name__ == "__main__":
    default = Path(__file__).resolve().parent.parent / "screenshots"
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    asyncio.run(main(target, sys.argv[2:]))  # scene names after the folder: only those
