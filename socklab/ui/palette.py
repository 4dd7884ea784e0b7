"""The command palette's lab commands (Ctrl+P): every action of the lab, by name.

Each command calls the app's own action, a pane's press or a part's command.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from textual.app import SystemCommand

if TYPE_CHECKING:
    from .app import SocklabApp


def lab_commands(app: SocklabApp) -> Iterable[SystemCommand]:
    """Run, each pane's calls, Reset, Save, the views, the lessons."""
    server, client = app.server_pane, app.client_pane
    yield SystemCommand("Run server", "socket, bind, listen, then serve (mode)",
                        app.action_run_server)
    yield SystemCommand("Run client", "socket, connect, send, recv until EOF, close",
                        app.action_run_client)
    for pane in (server, client):
        for suffix, label in pane.CALLS:
            if suffix == "run":
                continue
            yield SystemCommand(
                f"{pane.TITLE}: {pane.label_for(suffix, label)}",
                f"make the {pane.SIDE}'s {suffix.replace('-', ' ')} call",
                lambda p=pane, s=suffix: p.press(s),
                discover=False,
            )
    for suffix, label, key in client.KEY_CALLS:
        yield SystemCommand(f"{client.TITLE}: {label} ({key})",
                            f"make the client's {suffix.replace('-', ' ')} call: one send() "
                            "of numbered lines, more than the socket buffers hold",
                            lambda s=suffix: client.press(s), discover=False)
    yield SystemCommand("Reset the lab", "close every socket (the log is kept)",
                        app.action_reset)
    yield SystemCommand("Save log as text", "socklab-log-<time>.txt here",
                        lambda: app.action_save_log(False))
    yield SystemCommand("Save log as JSON Lines", "socklab-log-<time>.jsonl here",
                        lambda: app.action_save_log(True))
    yield SystemCommand("Toggle hex view", "show the selected event's bytes in hex",
                        app.action_hex)
    yield SystemCommand("Payload detail", "the selected event's bytes: text, repr, hex, "
                        "copyable (d)", app.action_detail)
    yield SystemCommand("Clear the log", "empty the log view (saving keeps every event)",
                        app.action_clear_log)
    yield SystemCommand("Fold the fields", "more room for the log (F2)",
                        app.action_toggle_fields)
    yield SystemCommand("Projector theme", "high-contrast theme for a classroom",
                        app.action_toggle_projector)
    yield from app.programs.commands()
    yield from app.wire.commands()
    yield from app.hosts.commands()
    yield from app.lessons.commands()
