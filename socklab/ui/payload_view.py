"""The selected event's whole payload: decoded text, Python repr and hex, copyable.

A log line shows a payload on one line, cut at the pane's width; this screen
shows all the bytes the event kept, three ways, each with a Copy button
(Textual's ``copy_to_clipboard``: the terminal's clipboard, by OSC 52).

Safety: the bytes come from the network.  Every view is built from escaped,
printable text (`decoded_lines` escapes controls, ``repr`` is ASCII, the hex
dump is ASCII) and drawn as plain ``Text``, never markup; what is copied is
that same escaped text, so no control character reaches a clipboard either.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from ..events import Event
from ..logformat import decoded_lines, format_bytes, format_line, hex_dump


def payload_views(event: Event) -> dict[str, str]:
    """The event's kept bytes as text, repr and hex (escaped, printable)."""
    raw = event.raw or b""
    return {"text": decoded_lines(raw), "repr": repr(raw), "hex": "\n".join(hex_dump(raw))}


class PayloadView(ModalScreen[None]):
    """The whole payload of one event: decoded text, Python repr, hex."""

    BINDINGS = [Binding("escape", "dismiss", "Close"), Binding("q", "dismiss", "Close")]

    DEFAULT_CSS = """
    PayloadView {
        align: center middle;
    }
    PayloadView > Vertical {
        width: 90%;
        height: 90%;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    PayloadView .payload-title {
        text-style: bold;
        margin-top: 1;
    }
    PayloadView #payload-box > VerticalScroll {
        height: 1fr;
    }
    PayloadView .payload-body {
        width: auto;
        background: $boost;
    }
    PayloadView Horizontal {
        height: auto;
    }
    PayloadView Button {
        margin-right: 1;
    }
    """

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event
        self.views = payload_views(event)

    def compose(self) -> ComposeResult:
        event = self.event
        kept = len(event.raw or b"")
        total = event.nbytes or kept
        with Vertical(id="payload-box"):
            yield Static(Text(format_line(event).split("\n")[0]), markup=False)
            more = f" (the first {format_bytes(kept)} of {format_bytes(total)})" \
                if total > kept else ""
            yield Label(Text(f"{format_bytes(total)}{more} · Esc closes"))
            with Horizontal():
                yield Button("Copy text", id="copy-text", compact=True)
                yield Button("Copy repr", id="copy-repr", compact=True)
                yield Button("Copy hex", id="copy-hex", compact=True)
                yield Button("Close", id="close", compact=True)
            with VerticalScroll():
                for key, title in (("text", "Decoded text (UTF-8; errors, controls escaped)"),
                                   ("repr", "Python repr(bytes)"), ("hex", "Hex")):
                    yield Static(Text(title), classes="payload-title", markup=False)
                    yield Static(Text(self.views[key]), classes="payload-body",
                                 id=f"payload-{key}", markup=False)

    @on(Button.Pressed)
    def _pressed(self, pressed: Button.Pressed) -> None:
        name = (pressed.button.id or "").removeprefix("copy-")
        if name in self.views:
            self.app.copy_to_clipboard(self.views[name])
            self.notify(f"Copied the {name} ({len(self.views[name])} characters)",
                        markup=False)
        else:
            self.dismiss(None)
