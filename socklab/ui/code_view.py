"""The code view: the lab's settings as the lecture's two runnable programs.

``sockets_server.py`` and ``sockets_client.py`` from `socklab.codegen`, side
by side (stacked when the terminal is narrow), syntax-highlighted with Rich's
Syntax (Pygments: no extra dependency), updated live with `update_settings`,
and exportable to the current directory.  A bad setting never crashes the
view: the pane says what is wrong and Export waits until it is fixed.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.syntax import Syntax
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, VerticalScroll
from textual.css.query import NoMatches
from textual.events import Resize
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Static

from ..codegen import FILENAMES, ROLES, generate
from ..inputs import InputError

#: Below this width the two programs are stacked instead of side by side.
NARROW_WIDTH = 120
_KEYS = ("family", "kind", "host", "port", "backlog", "mode", "message", "reuseaddr",
         "timeout")


#: What Export sends to a browser under ``socklab web``.
WEB_EXPORT = "sockets_programs.zip"


def program_for(role: str, settings: Mapping[str, Any],
                fallback_mode: str = "welcome") -> str:
    """The program for one pane's settings (keys: family, kind, host, port,
    backlog, mode, message, reuseaddr, timeout; missing keys take the lab's
    defaults).  Raises InputError."""
    unknown = set(settings) - set(_KEYS)
    if unknown:
        raise InputError(f"unknown setting {sorted(unknown)[0]!r}")
    kwargs: dict[str, Any] = {k: v for k, v in settings.items() if v is not None}
    kwargs.setdefault("mode", fallback_mode)
    return generate(role, **kwargs)


class CodeView(Widget, can_focus=True):
    """The generated server and client programs, live, with Export."""

    DEFAULT_CSS = """
    CodeView {
        height: 1fr;
        layout: vertical;
    }
    CodeView #code-panes {
        layout: horizontal;
        height: 1fr;
    }
    CodeView.-narrow #code-panes {
        layout: vertical;
    }
    CodeView .code-pane {
        width: 1fr;
        height: 1fr;
        overflow-x: auto;
    }
    CodeView .code-pane > Static {
        width: auto;
    }
    """

    BINDINGS = [Binding("ctrl+e", "export", "Export code")]

    class Exported(Message):
        """The programs were written; ``paths`` are where."""

        def __init__(self, paths: list[Path]) -> None:
            super().__init__()
            self.paths = paths

    def __init__(self, server: Mapping[str, Any] | None = None,
                 client: Mapping[str, Any] | None = None, *,
                 export_dir: Path | None = None, name: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.export_dir = export_dir
        self._settings: dict[str, Mapping[str, Any]] = {
            "server": dict(server or {}), "client": dict(client or {}),
        }
        #: role → the program text, or None while its settings are bad
        self.programs: dict[str, str | None] = {role: None for role in ROLES}
        self.errors: dict[str, str | None] = {role: None for role in ROLES}
        #: Roles whose program changed while hidden: highlighted when shown.
        self._stale: set[str] = set()

    def compose(self) -> ComposeResult:
        with Horizontal(id="code-bar"):
            yield Button("Export", id="code-export", variant="primary",
                         tooltip="Write sockets_server.py and sockets_client.py here")
            yield Static("", id="code-status", classes="status", markup=False)
        with Container(id="code-panes"):
            for role in ROLES:
                with VerticalScroll(id=f"code-{role}", classes="code-pane") as pane:
                    pane.border_title = FILENAMES[role]
                    yield Static("", id=f"code-{role}-text", markup=False)

    def on_mount(self) -> None:
        self._render_all()

    def on_show(self) -> None:
        """Highlight what changed while the tab was hidden (see `_show`)."""
        for role in [r for r in ROLES if r in self._stale]:
            self._show(role)

    def on_resize(self, event: Resize) -> None:
        self.set_class(event.size.width < NARROW_WIDTH, "-narrow")

    # -- live settings ---------------------------------------------------------

    def update_settings(self, server: Mapping[str, Any], client: Mapping[str, Any]) -> None:
        """Show the programs for these settings (called as the lab's controls change)."""
        self._settings = {"server": dict(server), "client": dict(client)}
        self._render_all()

    def _render_all(self) -> None:
        server_mode = self._settings["server"].get("mode") or "welcome"
        for role in ROLES:
            try:
                # The client follows the server's mode, so the pair talks.
                program = program_for(role, self._settings[role], fallback_mode=server_mode)
                self.programs[role], self.errors[role] = program, None
            except InputError as exc:
                self.programs[role], self.errors[role] = None, str(exc)
            self._show(role)
        bad = [FILENAMES[r] for r in ROLES if self.errors[r]]
        self._status(f"fix the settings for {', '.join(bad)} to export" if bad else
                     "the lab's settings as the lecture's programs; Export writes both here")

    def _show(self, role: str) -> None:
        try:
            pane = self.query_one(f"#code-{role}", VerticalScroll)
            text = self.query_one(f"#code-{role}-text", Static)
        except NoMatches:
            return  # not composed yet: on_mount shows it
        if not self._displayed():
            # Highlighting (pygments) is the costly part, and a hidden tab need
            # not pay it on every keystroke in the lab, nor at start-up.
            self._stale.add(role)
            return
        self._stale.discard(role)
        error = self.errors[role]
        pane.set_class(error is not None, "-error")
        if error is not None:
            text.update(Text(f"Cannot write {FILENAMES[role]}: {error}", style="bold"))
        else:
            text.update(Syntax(self.programs[role] or "", "python", line_numbers=True,
                               word_wrap=False, background_color="default",
                               theme="ansi_dark"))

    def _displayed(self) -> bool:
        """Whether this view is shown (its tab is the active one)."""
        return all(node.display for node in self.ancestors_with_self
                   if isinstance(node, Widget))

    def _status(self, message: str) -> None:
        for status in self.query("#code-status").results(Static):
            if status.content != message:  # unchanged: no new layout of the screen
                status.update(message)

    # -- export ------------------------------------------------------------------

    @on(Button.Pressed, "#code-export")
    def _export_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_export()

    def action_export(self) -> None:
        """Write both programs to the current (or the given) directory."""
        bad = [r for r in ROLES if self.programs[r] is None]
        if bad:
            message = f"not exported: {FILENAMES[bad[0]]}: {self.errors[bad[0]]}"
            self._status(message)
            self.notify(message, title="Export", severity="error", markup=False)
            return
        if self.app.is_web:
            self._deliver()
            return
        folder = self.export_dir or Path.cwd()
        written: list[Path] = []
        try:
            for role in ROLES:
                path = folder / FILENAMES[role]
                path.write_text(self.programs[role] or "", encoding="utf-8")
                written.append(path)
        except OSError as exc:
            self.notify(f"Could not write {exc.filename}: {exc.strerror}", title="Export",
                        severity="error", markup=False)
            return
        shown = " and ".join(str(p) for p in written)
        self._status(f"exported {shown}")
        self.notify(f"Wrote {shown}. Run the server first, then the client.", title="Export",
                    markup=False)
        self.post_message(self.Exported(written))

    def _deliver(self) -> None:
        """Under ``socklab web``: both programs go to the browser as one download
        (a zip: a browser lets one file open per press, it blocks a second), not
        onto the server's disk."""
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as programs:
            for role in ROLES:
                programs.writestr(FILENAMES[role], self.programs[role] or "")
        self.app.deliver_binary(archive, save_filename=WEB_EXPORT,
                                mime_type="application/zip")
        shown = " and ".join(FILENAMES[role] for role in ROLES)
        self._status(f"sent {shown} to the browser in {WEB_EXPORT}")
        self.notify(f"Sent {shown} to your browser's downloads ({WEB_EXPORT}). Run the "
                    "server first, then the client.", title="Export", markup=False)
