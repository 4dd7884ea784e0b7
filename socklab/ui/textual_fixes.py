"""Four workarounds for Textual 8.2 faults that crashed or hung the lab, and one
for a cost every callback pays (5, `fast_callbacks`).

Both faults are in Textual, not in socklab; each workaround is the smallest
change on socklab's side, and each is provoked for real by the tests
(tests/test_terminal.py drives a real terminal in tmux).

1. **Resizing.**  A `Button` pads its label with ``line-pad: 1``.  When a grid
   cell leaves the label exactly 2 cells, Textual asks Rich to fold each word
   at width 0, and Rich's ``chop_cells`` raises ``ValueError: range() arg 3
   must not be zero``.  Textual guards a content width of 0 but not a width
   that is 0 *after* the line-pad; its CSS refuses ``line-pad: 0``.  A
   `CallButton` sets the line-pad to 0 in code and gets the same look from
   padding (socklab.tcss), which leaves a width of 0 where Textual skips.

2. **Bytes that are not UTF-8.**  The Linux driver's input thread decodes the
   terminal's bytes as strict UTF-8: one byte such as 0x9b (8-bit CSI, an
   8-bit-Meta key, a Latin-1 terminal, pasted binary) raises
   ``UnicodeDecodeError`` and the app panics.  `install()` makes that decoder
   lenient: a byte that is not UTF-8 is read as Latin-1 (what such a terminal
   meant), and a C1 control byte (0x80-0x9f) is dropped, as a key it would be
   ignored anyway.  Valid UTF-8, split across reads or not, is decoded as
   before.

3. **A terminal that hangs up.**  Once the terminal is gone (its window closed,
   ``tmux kill-session``), every write to it fails with EIO.  The driver's
   output thread dies of the first one; its queue (30 writes) then fills, and
   the next write, or the driver's own stop (which queues one more), waits for
   ever: the lab hung until socklab's watchdog ended it 10 s later, and the
   dead thread left a crash report behind.  `TerminalWriter` drops what it
   cannot write and goes on emptying its queue, so the lab closes its sockets
   and exits at once.

4. **Key sequences no keyboard sends.**  Textual's key parser turns the kitty
   keyboard protocol's ``ESC [ code u`` into ``chr(code)`` and a function
   key's ``ESC [ n ~`` into a C int, unchecked: ``ESC[1114112u`` raised
   ``ValueError``, ``ESC[99999999999~`` ``OverflowError``, and the lab exited
   70 (typed, pasted, or sent by a browser to ``socklab web``).  `KeyParser`
   drops such a sequence, as a terminal ignores a key it does not know.

5. **What a callback costs.**  ``call_later`` and ``call_after_refresh`` wrap
   each callback in a new ``functools.partial``; Textual counts a callback's
   parameters with ``inspect.signature`` and caches the count on the object it
   was given, here that new partial, so every callback paid a signature
   (~30 µs; a Pilot's pause sends one to each of the screen's ~260 widgets: a
   quarter of its CPU, a tenth of a lesson's play).  `fast_callbacks` counts a
   partial that adds no argument as the function it wraps, cached on that
   function as Textual caches it: the same count, once.
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import types
from collections.abc import Callable, Iterator
from typing import Any

from textual import _callback
from textual._xterm_parser import XTermParser
from textual.drivers._writer_thread import WriterThread
from textual.events import Key
from textual.widgets import Button

#: The codec error handler's name (codecs.register_error).
TYPED_BYTES = "socklab-typed-bytes"


def _typed_bytes(error: UnicodeError) -> tuple[str, int]:
    """Read bytes that are not UTF-8 as Latin-1, dropping C1 controls."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    raw = error.object[error.start:error.end]
    text = "".join(chr(b) for b in raw if not 0x80 <= b <= 0x9F)
    return text, error.end


codecs.register_error(TYPED_BYTES, _typed_bytes)


def lenient_decoder_factory(encoding: str) -> Callable[[], codecs.IncrementalDecoder]:
    """What the driver calls as ``getincrementaldecoder(encoding)``: the same
    decoder class, made with the lenient error handler."""
    return functools.partial(codecs.getincrementaldecoder(encoding), errors=TYPED_BYTES)


class TerminalWriter(WriterThread):
    """The driver's output thread, outliving its terminal (see item 3 above)."""

    def run(self) -> None:
        write, flush, get, qsize = self._file.write, self._file.flush, self._queue.get, \
            self._queue.qsize
        gone = False
        while (text := get()) is not None:
            if gone:
                continue  # nobody reads: the queue is still emptied, so no write waits
            try:
                write(text)
                if qsize() == 0:
                    flush()
            except OSError:  # EIO: the terminal hung up (EPIPE: its reader went away)
                gone = True
        if not gone:
            with contextlib.suppress(OSError):
                flush()


class KeyParser(XTermParser):
    """Textual's parser, dropping a key sequence it cannot turn into a key (item 4)."""

    def _sequence_to_key_events(self, sequence: str, alt: bool = False) -> Iterator[Key]:
        try:
            keys = list(super()._sequence_to_key_events(sequence, alt))
        except (ValueError, OverflowError):  # a code point or number out of range
            return
        yield from keys


def _callback_count(func: Callable[..., object]) -> int:
    """Textual's ``count_parameters``, with a partial that adds no argument counted
    (and cached) as the plain function or method it wraps (item 5)."""
    if type(func) is functools.partial and not func.args and not func.keywords:
        inner = func.func
        if type(inner) is types.FunctionType or (
                type(inner) is types.MethodType
                and type(inner.__func__) is types.FunctionType
                and inner.__func__.__code__.co_argcount >= 1):  # self is a positional
            return _textual_count(inner)
    return _textual_count(func)


_textual_count = _callback.count_parameters


def fast_callbacks() -> None:
    """Count a callback's parameters once per function, not once per call (item 5;
    idempotent)."""
    setattr(_callback, "count_parameters", _callback_count)  # noqa: B010


def install() -> None:
    """Make the Linux driver's input decoder lenient, its output thread one that
    outlives a hung-up terminal, and its key parser (and the web driver's) one
    that drops impossible keys, and callbacks that count their parameters once
    (idempotent)."""
    fast_callbacks()
    with contextlib.suppress(ImportError):
        from textual.drivers import web_driver
        setattr(web_driver, "XTermParser", KeyParser)  # noqa: B010
    try:
        from textual.drivers import linux_driver
    except ImportError:  # not a POSIX terminal: the Windows driver decodes its own way
        return
    # The driver looks the names up each time it starts its threads.
    setattr(linux_driver, "getincrementaldecoder", lenient_decoder_factory)  # noqa: B010
    setattr(linux_driver, "WriterThread", TerminalWriter)  # noqa: B010
    setattr(linux_driver, "XTermParser", KeyParser)  # noqa: B010


class CallButton(Button):
    """A compact call button that any terminal size can lay out (see item 1 above)."""

    def __init__(self, label: str, **kwargs: Any) -> None:
        super().__init__(label, compact=True, **kwargs)
        # ``line-pad: 0`` cannot be written in TCSS (Textual rejects 0); the
        # same space comes from ``padding: 0 1`` in socklab.tcss.
        self.styles.line_pad = 0
