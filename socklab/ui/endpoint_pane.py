"""What the server and client panes share: fields, checking them, asking for calls.

A pane makes no call itself and reads no socket.  A pressed button becomes a
`Request` (the call, the fields checked and converted, which socket) handed to
``ask`` — the app passes the session's ``request``, which makes the real call
on a lab thread.  What the pane shows (its sockets, what to press next) comes
from the view-state model, which the app feeds from the bridge's batches.

A field is parsed again right before a call; if it is bad, the call is not
made and the learner is told why.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any, TypeVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.validation import ValidationResult, Validator
from textual.widgets import Button, Checkbox, Input, Label, OptionList, Select, Static

from ..explain import EMPTY_HOST_PLACEHOLDER, host_note
from ..inputs import (
    LOOPBACK,
    InputError,
    decode_escapes,
    host_scope,
    parse_host,
    parse_port,
)
from ..labcalls import Request, Settings
from ..viewstate import ViewState
from .connection_list import ConnectionList, ConnectionRow
from .port_info import PortInfoLine
from .program_pane import KEYS, PROGRAM_CLASS, ProgramBox
from .shown_numbers import RealNumbers
from .textual_fixes import CallButton

Ask = Callable[[Request], None]
T = TypeVar("T")

FAMILY_OPTIONS = [("AF_INET", socket.AF_INET), ("AF_INET6", socket.AF_INET6)]
TYPE_OPTIONS = [("SOCK_STREAM", socket.SOCK_STREAM), ("SOCK_DGRAM", socket.SOCK_DGRAM)]
DEFAULT_PORT = 1024
MAX_CLIENTS_AT_ONCE = 64
#: The "wait" option: what is called after socket() (each a real, logged call).
#: Blocking is the default (no call); the rest name the call they make.
TIMEOUT_OPTIONS: list[tuple[str, str]] = [
    ("blocking", ""),
    ("setblocking(False)", "0"),
    ("settimeout(1.0)", "1.0"),
    ("settimeout(5.0)", "5.0"),
    ("settimeout(30.0)", "30.0"),
]


#: The fields chosen from a list: a lesson's value (the option's name) to the option.
_CHOICES: dict[str, dict[str, object]] = {
    "family": dict(FAMILY_OPTIONS), "type": dict(TYPE_OPTIONS), "timeout": dict(TIMEOUT_OPTIONS)}


def parse_count(text: str) -> int:
    """How many clients "connect ×N" opens: 1 to MAX_CLIENTS_AT_ONCE."""
    raw = text.strip()
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_CLIENTS_AT_ONCE:
        raise InputError(f"×N must be a whole number from 1 to {MAX_CLIENTS_AT_ONCE}")
    return int(raw)


class ParseValidator(Validator):
    """An Input validator from one of socklab.inputs' parsers: same rules, same words."""

    def __init__(self, parse: Callable[[str], object]) -> None:
        super().__init__()
        self.parse = parse

    def validate(self, value: str) -> ValidationResult:
        try:
            self.parse(value)
        except InputError as exc:
            return self.failure(str(exc))
        except Exception as exc:  # a parser bug must not crash the lab
            return self.failure(f"cannot read this value: {exc}")
        return self.success()


class EndpointPane(VerticalScroll):
    """One side of the lab: its fields, its call buttons, its sockets."""

    SIDE = "server"
    TITLE = "Server"
    #: (button id suffix, label) for each call, in the order they are shown.
    CALLS: tuple[tuple[str, str], ...] = ()

    def __init__(self, ask: Ask, view: ViewState, *, id: str | None = None) -> None:
        super().__init__(id=id, classes=f"pane {self.SIDE}-pane")
        self.ask = ask
        self.view = view
        self.numbers = RealNumbers()
        #: The model's version last shown, and a key to select once shown.
        self._shown_version = -1
        self._known: set[str] = set()
        self.border_title = self.TITLE

    # -- layout --------------------------------------------------------------

    def wid(self, name: str) -> str:
        return f"{self.SIDE}-{name}"

    def compose_fields(self) -> ComposeResult:
        """The rows of fields; subclasses add their own after these."""
        side = self.SIDE
        with Horizontal(classes="row"):
            yield Label("family", classes="field-label optional")
            yield Select(FAMILY_OPTIONS, value=socket.AF_INET, allow_blank=False,
                         compact=True, id=self.wid("family"), classes="field-select",
                         type_to_search=False)
            yield Label("type", classes="field-label optional")
            yield Select(TYPE_OPTIONS, value=socket.SOCK_STREAM, allow_blank=False,
                         compact=True, id=self.wid("type"), classes="field-select",
                         type_to_search=False)
        with Horizontal(classes="row"):
            yield Label("host", classes="field-label")
            yield Input(LOOPBACK[socket.AF_INET], placeholder=EMPTY_HOST_PLACEHOLDER,
                        compact=True,
                        id=self.wid("host"), classes="field-host",
                        validators=[ParseValidator(parse_host)], valid_empty=False,
                        tooltip=f"{side}: an address or name; 127.0.0.1 / ::1 = this machine")
            yield Label("port", classes="field-label")
            yield Input(str(DEFAULT_PORT), placeholder="0-65535", compact=True,
                        id=self.wid("port"), classes="field-port", max_length=8,
                        validators=[ParseValidator(parse_port)],
                        tooltip="0 asks the kernel to choose a free port")

    def compose_extra_fields(self) -> ComposeResult:
        yield from ()

    def compose_options(self) -> ComposeResult:
        """Socket options, each a real call made right after socket()."""
        with Horizontal(classes="row options"):
            yield Label("options", classes="field-label")
            if self.SIDE == "server":
                yield Checkbox("SO_REUSEADDR", compact=True, id=self.wid("reuseaddr"),
                               classes="field-check",
                               tooltip="setsockopt(SOL_SOCKET, SO_REUSEADDR, 1) before "
                                       "bind(): Run again at once, even while the old "
                                       "port sits in TIME_WAIT")
            yield Select(TIMEOUT_OPTIONS, value="", allow_blank=False, compact=True,
                         id=self.wid("timeout"), classes="field-select field-timeout",
                         type_to_search=False,
                         tooltip="blocking waits for ever; setblocking(False) never "
                                 "waits (BlockingIOError); settimeout(t) waits t s "
                                 "(TimeoutError). It also replaces the lab's own 10 s "
                                 "limit on connect()")

    def compose(self) -> ComposeResult:
        # Shown instead of the fields and buttons while the pane runs the learner's
        # program (socklab/ui/program_pane.py); the socket list stays, below.
        yield ProgramBox(self.SIDE, id=self.wid("program"))
        yield from self.compose_fields()
        yield from self.compose_extra_fields()
        yield from self.compose_options()
        yield Static("", id=self.wid("host-note"), classes="host-note", markup=False)
        yield PortInfoLine(for_server=self.SIDE == "server", id=self.wid("port-info"))
        yield Static("", id=self.wid("field-error"), classes="field-error", markup=False)
        with Grid(classes="calls"):
            for suffix, label in self.CALLS:
                yield CallButton(label, id=self.wid(suffix),
                                 classes="call run" if suffix == "run" else "call")
        yield ConnectionList(id=self.wid("connections"))

    def on_mount(self) -> None:
        self._show_host_note()
        self._show_port_info()
        self.refresh_state()

    def watch_virtual_size(self) -> None:
        """Rows came or went (a socket's row, the accept queue): buttons kept in view."""
        self.call_after_refresh(self.keep_buttons_in_view)

    def keep_buttons_in_view(self) -> None:
        """A pane shorter than its rows (`LabTab` caps it) scrolls to its buttons,
        unless the learner is in one of its fields (the view stays with them)."""
        if not self.is_attached or self.max_scroll_y <= 0:
            return
        calls = self.query_one(".calls")
        focused = self.screen.focused
        if focused is not None and self in focused.ancestors and calls not in focused.ancestors:
            return
        self.scroll_to_widget(calls, animate=False, immediate=True)

    # -- fields --------------------------------------------------------------

    def input(self, name: str) -> Input:
        return self.query_one(f"#{self.wid(name)}", Input)

    def select_value(self, name: str) -> int:
        value = self.query_one(f"#{self.wid(name)}", Select).value
        return value if isinstance(value, int) else 0

    @property
    def family(self) -> int:
        return self.select_value("family") or socket.AF_INET

    @property
    def kind(self) -> int:
        return self.select_value("type") or socket.SOCK_STREAM

    @property
    def stream(self) -> bool:
        return self.kind == socket.SOCK_STREAM

    def parse_field(self, name: str, parse: Callable[[str], T]) -> T:
        """Parse one field, or raise InputError naming the field."""
        try:
            return parse(self.input(name).value)
        except InputError as exc:
            raise InputError(f"{self.TITLE} {name}: {exc}") from None

    def settings(self) -> Settings | None:
        """All fields checked, or None (after telling the learner what is wrong)."""
        try:
            host = self.parse_field("host", parse_host)
            port = self.numbers.real_port(self.parse_field("port", parse_port))
            message = self.parse_field("message", decode_escapes)
            extra = self.extra_settings()
        except InputError as exc:
            self.app.notify(str(exc), title="Not sent to the kernel", severity="error",
                            markup=False)
            return None
        return Settings(self.family, self.kind, host, port, message,
                        **self.option_settings(), **extra)

    def option_settings(self) -> dict[str, Any]:
        """The options row: SO_REUSEADDR (server) and the timeout (None: blocking)."""
        value = self.query_one(f"#{self.wid('timeout')}", Select).value
        options: dict[str, Any] = {
            "timeout": float(value) if isinstance(value, str) and value else None}
        if self.SIDE == "server":
            options["reuseaddr"] = self.query_one(f"#{self.wid('reuseaddr')}",
                                                  Checkbox).value
        return options

    def extra_settings(self) -> dict[str, Any]:
        """A subclass's own fields, checked (raise InputError for a bad one)."""
        return {}

    def code_settings(self) -> dict[str, object]:
        """What the Code tab's program for this pane follows: the fields as typed
        (the generator checks them), the message as text, the options."""
        try:
            message: str | None = decode_escapes(self.input("message").value).decode()
        except (InputError, UnicodeDecodeError):
            message = None  # not text: the program keeps its own message
        return {"family": self.family, "kind": self.kind,
                "host": self.input("host").value, "port": self.input("port").value,
                "message": message, **self.option_settings()}

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        self._show_errors()
        if event.input.id == self.wid("port"):
            self._show_port_info()
        if event.input.id == self.wid("host"):
            self._show_host_note()

    def _show_host_note(self) -> None:
        """Before the call: an empty host (or 0.0.0.0, ::) is every interface."""
        host = self.input("host").value
        try:
            note = self.query_one(f"#{self.wid('host-note')}", Static)
        except Exception:
            return  # not composed yet
        text = host_note(self.SIDE, host, self.family) if host_scope(host) == "all" else ""
        note.update(Text(text))
        note.set_class(bool(text), "-shown")

    def fill(self, name: str, value: str) -> None:
        """Set one field as the learner would type or choose it (a lesson's ``set:``).
        A family's loopback host follows at once, as it does after the learner's choice."""
        if name == "reuseaddr":
            self.query_one(f"#{self.wid(name)}", Checkbox).value = value == "on"
        elif name in _CHOICES or name == "mode":
            choices = _CHOICES.get(name)
            self.query_one(f"#{self.wid(name)}", Select).value = (
                choices[value] if choices else value)
            if name == "family":
                self.follow_family()
        else:
            self.input(name).value = value

    def follow_family(self) -> None:
        """The host field still holds another family's loopback: this family's instead."""
        host = self.input("host")
        for family, default in LOOPBACK.items():
            if host.value == default and family != self.family:
                host.value = LOOPBACK[self.family]
                break

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        if event.select.id == self.wid("family"):
            self.follow_family()
        if event.select.id in (self.wid("family"), self.wid("type")):
            self._show_host_note()
            self._show_port_info()
            self.refresh_state()

    def _show_errors(self) -> None:
        """Under the fields: the first bad field and what is wrong with it."""
        messages = []
        for field in self.query(Input):
            if field.validators and field.value is not None:
                result = field.validate(field.value)
                if result is not None and not result.is_valid:
                    label = (field.id or "").removeprefix(f"{self.SIDE}-")
                    messages.append(f"{label}: {result.failure_descriptions[0]}")
        error = self.query_one(f"#{self.wid('field-error')}", Static)
        text = "⚠ " + messages[0] if messages else ""
        if str(error.content) != text:  # unchanged: no new layout (the port follows a storm)
            error.update(Text(text) if text else "")
        error.set_class(bool(messages), "-shown")

    def _show_port_info(self) -> None:
        try:
            port = parse_port(self.input("port").value)
        except InputError:
            port = None
        proto = "tcp" if self.stream else "udp"
        self.query_one(PortInfoLine).show_port(port, proto)

    def look_in(self, namespace: str | None) -> None:
        """Two-hosts mode: port info reads ``namespace``'s tables (None: this machine's)."""
        info = self.query_one(PortInfoLine)
        info.namespace = namespace
        info.recheck()

    def set_port(self, port: int) -> None:
        """Put a (real) port in the port field, as the display shows it."""
        self.input("port").value = str(self.numbers.port(port))

    # -- asking for calls -------------------------------------------------------

    @property
    def socket_list(self) -> ConnectionList:
        return self.query_one(f"#{self.wid('connections')}", ConnectionList)

    def selected_number(self) -> int | None:
        """The number of the connection or client chosen in the list, if any."""
        key = self.socket_list.selected_key
        return int(key) if key and key.isdigit() else None

    def choose(self, key: str | None) -> None:
        """Highlight the socket ``key`` in the list (as a click on its row), if shown."""
        if key is not None:
            self.socket_list.choose(key)

    def ask_for(self, call: str, *, reply_to: tuple[str, int] | None = None) -> bool:
        """Check the fields and ask for ``call``; False (the learner told why) if not asked."""
        settings = self.settings()
        if settings is None:
            return False
        self.ask(Request(self.SIDE, call, settings, self.selected_number(), reply_to))
        return True

    @on(Button.Pressed, ".call")
    def _call_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        op = (event.button.id or "").removeprefix(f"{self.SIDE}-")
        self.press(op)

    def press(self, call: str) -> bool:
        """Ask for the call a button stands for (also a key's, the palette's and
        `LabControls.press`); False when nothing was asked (the learner was told
        why).  A subclass handles the calls that need more than the fields first."""
        if call not in dict(self.CALLS):
            raise ValueError(f"no {self.SIDE} button {call!r}")
        return self.in_lab_mode() and self.ask_for(call)

    @property
    def runs_program(self) -> bool:
        """The pane runs the learner's program ("Program"), not the lab's calls."""
        return self.has_class(PROGRAM_CLASS)

    def in_lab_mode(self) -> bool:
        """True when the pane makes the lab's calls; else the learner is told why not."""
        if not self.runs_program:
            return True
        self.app.notify(f"The {self.SIDE} pane runs your program: {KEYS[self.SIDE]} "
                        "switches it back to the lab's calls", severity="warning",
                        markup=False)
        return False

    def home(self) -> Button:
        """The button Esc goes back to: Run, or the program's Start."""
        suffix = "program-start" if self.runs_program else "run"
        return self.query_one(f"#{self.wid(suffix)}", Button)

    @on(OptionList.OptionHighlighted)
    def _chosen(self, event: OptionList.OptionHighlighted) -> None:
        """Another socket chosen in the list: what to press next follows it."""
        self._highlight_next()

    # -- state ---------------------------------------------------------------

    def next_steps(self) -> set[str]:
        """The buttons that are the natural next step (highlighted)."""
        return set()

    def rows(self) -> list[ConnectionRow]:
        """The connection list's rows, from the view-state model."""
        return []

    def peer_label(self, key: str) -> str:
        """`` ⇄ client[3]``: the lab's socket at the other end of ``key``, if known."""
        other = self.view.sides[self.SIDE].pairs.get(key)
        if other is None:
            return ""
        return f" ⇄ {'client' if self.SIDE == 'server' else 'server'}[{other}]"

    def refresh_state(self) -> None:
        """Show the model: the connection list (a new socket is chosen) and highlights."""
        side = self.view.sides[self.SIDE]
        if side.version != self._shown_version:
            try:
                connections = self.socket_list
            except Exception:
                return  # not composed yet: shown once it is
            self._shown_version = side.version
            keys = set(side.sockets)
            fresh = keys - self._known
            self._known = keys
            select = side.newest if side.newest in fresh else None
            rows = self.rows()
            connections.show(rows, select=select)
            connections.display = bool(rows)
        self._highlight_next()

    def _highlight_next(self) -> None:
        nexts = self.next_steps()
        for suffix, label in self.CALLS:
            try:
                button = self.query_one(f"#{self.wid(suffix)}", Button)
            except Exception:
                continue
            button.set_class(suffix in nexts, "-next")
            shown = self.label_for(suffix, label)
            if str(button.label) != shown:
                button.label = shown

    #: Below this width the call buttons drop their parentheses to fit.
    NARROW = 56

    def label_for(self, suffix: str, label: str) -> str:
        if not self.stream:
            label = {"send": "sendto()", "recv": "recvfrom()"}.get(suffix, label)
        if self.size.width and self.size.width < self.NARROW:
            label = label.removesuffix("()").replace("connect ×N", "×N").replace("shutdown", "shut")
        return label

    def on_resize(self) -> None:
        self._highlight_next()
        self.fit_fields()

    def fit_fields(self) -> None:
        """Fields that only fit a wide pane are hidden in a narrow one (a subclass's)."""
