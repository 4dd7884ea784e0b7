"""Property-based tests (hypothesis) for every parser of user or network input.

The contract of each parser: any input gives a value (in range, of the right
kind) or `InputError` with one line of explanation — never another exception.
Where a value can be written back, it round-trips.  The generators aim both at
random text and at text shaped like the grammar (digits with separators,
escapes, address spellings), where the edge cases live.

Covered: ``inputs.parse_port / parse_backlog / parse_host / parse_family /
parse_type / decode_escapes / host_scope`` (and their regexes), ``events.
escape_bytes`` (its cap and its inverse, ``decode_escapes``), ``ports.
parse_range`` (its two regexes), the command's ``_positive`` / ``_seconds``
and whole argument lines, the lab screen's ``parse_count`` and field
validators, and ``modes.http_response`` (bytes from the network).
``tests/test_events.py`` and ``tests/test_ports.py`` hold the plain "escape
output is safe" and "any text → range or error" properties; these add the
grammar-shaped and round-trip ones.
"""

from __future__ import annotations

import argparse
import functools
import ipaddress
import socket
import string

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from socklab.events import DATA_CAP, escape_bytes
from socklab.inputs import (
    InputError,
    decode_escapes,
    host_scope,
    is_loopback,
    parse_backlog,
    parse_family,
    parse_host,
    parse_port,
    parse_type,
)

FAST = settings(max_examples=200, deadline=None)
SOME = settings(max_examples=80, deadline=None)

#: Text that looks like a number: digits (ASCII and not), signs, dots, spaces.
numberish = st.text(alphabet=string.digits + " +-._e٣١x\t", max_size=12)
anything = st.text(max_size=80)


def one_line_error(exc: InputError) -> None:
    message = str(exc)
    assert message and "\n" not in message and len(message) < 400, message


# -- ports and backlogs --------------------------------------------------------------------


@FAST
@given(st.one_of(numberish, anything))
def test_parse_port_any_text(text: str) -> None:
    try:
        port = parse_port(text)
    except InputError as exc:
        one_line_error(exc)
    else:
        assert type(port) is int and 0 <= port <= 65535
        assert text.strip() == str(port) or text.strip().lstrip("0") == str(port).lstrip("0")


@FAST
@given(st.integers(0, 65535), st.text(" \t", max_size=3), st.text(" \t", max_size=3))
def test_parse_port_round_trips(port: int, before: str, after: str) -> None:
    assert parse_port(f"{before}{port}{after}") == port
    assert parse_port(port) == port


@FAST
@given(st.one_of(st.integers(max_value=-1), st.integers(min_value=65536)))
def test_parse_port_out_of_range_is_said_so(port: int) -> None:
    for value in (port, str(port)):
        with pytest.raises(InputError) as caught:
            parse_port(value)
        one_line_error(caught.value)
        assert "out of range" in str(caught.value) or "too large" in str(caught.value)


@FAST
@given(st.one_of(numberish, anything))
def test_parse_port_without_zero(text: str) -> None:
    try:
        port = parse_port(text, allow_zero=False)
    except InputError as exc:
        one_line_error(exc)
    else:
        assert 1 <= port <= 65535


@FAST
@given(st.one_of(numberish, anything, st.integers()))
def test_parse_backlog_any_input(text: str | int) -> None:
    try:
        backlog = parse_backlog(text)
    except InputError as exc:
        one_line_error(exc)
    else:
        assert type(backlog) is int and 0 <= backlog < 10**10


@FAST
@given(st.integers(0, 9_999_999_999))
def test_parse_backlog_round_trips(backlog: int) -> None:
    assert parse_backlog(str(backlog)) == backlog


# -- hosts and where they point ------------------------------------------------------------

hostish = st.text(alphabet=string.ascii_letters + string.digits + ".:-_%[] \x00\t", max_size=40)


@FAST
@given(st.one_of(hostish, anything))
def test_parse_host_returns_the_host_unchanged_or_refuses(text: str) -> None:
    try:
        host = parse_host(text)
    except InputError as exc:
        one_line_error(exc)
    else:
        assert host == text
        assert "\x00" not in host and host == host.strip() and len(host) <= 253
        assert not host.startswith("[") and not host.endswith("]")
        assert host_scope(host) in ("loopback", "all", "other")


@FAST
@given(st.one_of(hostish, anything, st.text(alphabet=st.characters(), max_size=300)),
       st.sampled_from([None, socket.AF_INET, socket.AF_INET6]))
def test_host_scope_never_raises(text: str, family: int | None) -> None:
    assert host_scope(text, family) in ("loopback", "all", "other")
    assert is_loopback(text, family) == (host_scope(text, family) == "loopback")


@FAST
@given(st.integers(0x7F000000, 0x7FFFFFFF))
def test_every_spelling_of_127_slash_8_is_loopback(number: int) -> None:
    address = ipaddress.IPv4Address(number)
    spellings = [str(address), str(number), f"0x{number:08x}", f"::ffff:{address}"]
    a, b, c, d = address.packed
    if b == c == 0:
        spellings.append(f"{a}.{d}")  # 127.1
    for spelling in spellings:
        assert host_scope(spelling) == "loopback", spelling


@FAST
@given(st.integers(1, 0xFFFFFFFF))
def test_ipv4_outside_127_is_never_loopback(number: int) -> None:
    assume(not 0x7F000000 <= number <= 0x7FFFFFFF)
    address = ipaddress.IPv4Address(number)
    assert host_scope(str(address)) == "other"
    assert host_scope(str(number)) == "other"
    assert host_scope(f"::ffff:{address}") == "other"


@FAST
@given(st.integers(2, 2**128 - 1))
def test_ipv6_other_than_loopback_and_mapped_is_other(number: int) -> None:
    address = ipaddress.IPv6Address(number)
    assume(address.ipv4_mapped is None)
    assert host_scope(str(address)) == "other"


# -- family and type -------------------------------------------------------------------------

FAMILY_SPELLINGS = {"inet": socket.AF_INET, "af_inet": socket.AF_INET, "ipv4": socket.AF_INET,
                    "4": socket.AF_INET, "inet6": socket.AF_INET6, "AF_INET6": socket.AF_INET6,
                    "ipv6": socket.AF_INET6, "6": socket.AF_INET6}
TYPE_SPELLINGS = {"stream": socket.SOCK_STREAM, "SOCK_STREAM": socket.SOCK_STREAM,
                  "tcp": socket.SOCK_STREAM, "dgram": socket.SOCK_DGRAM,
                  "sock_dgram": socket.SOCK_DGRAM, "udp": socket.SOCK_DGRAM}


#: Each parser of a socket constant, and what it may return.
CONSTANT_PARSERS = ((parse_family, {socket.AF_INET, socket.AF_INET6}),
                    (parse_type, {socket.SOCK_STREAM, socket.SOCK_DGRAM}))


def _recase(text: str, flips: list[bool]) -> str:
    flips = flips + [False] * len(text)
    return "".join(c.swapcase() if f else c for c, f in zip(text, flips[: len(text)], strict=True))


@FAST
@given(st.sampled_from(sorted(FAMILY_SPELLINGS)), st.lists(st.booleans(), max_size=10),
       st.text(" \t", max_size=2))
def test_parse_family_spellings(name: str, flips: list[bool], pad: str) -> None:
    assert parse_family(pad + _recase(name, flips) + pad) == FAMILY_SPELLINGS[name]


@FAST
@given(st.sampled_from(sorted(TYPE_SPELLINGS)), st.lists(st.booleans(), max_size=12),
       st.text(" \t", max_size=2))
def test_parse_type_spellings(name: str, flips: list[bool], pad: str) -> None:
    assert parse_type(pad + _recase(name, flips) + pad) == TYPE_SPELLINGS[name]


@FAST
@given(anything)
def test_parse_family_and_type_any_text(text: str) -> None:
    for parse, allowed in CONSTANT_PARSERS:
        try:
            value = parse(text)
        except InputError as exc:
            one_line_error(exc)
        else:
            assert value in allowed


@FAST
@given(st.one_of(st.integers(-(2**40), 2**40), st.sampled_from(
    [socket.AF_INET, socket.AF_INET6, socket.SOCK_STREAM, socket.SOCK_DGRAM, True])))
def test_parse_family_and_type_take_the_constants_themselves(value: int) -> None:
    """The socket module's constants are one more spelling (codegen and the
    panes pass them); any other number is a one-line error."""
    for parse, allowed in CONSTANT_PARSERS:
        try:
            parsed = parse(value)
        except InputError as exc:
            one_line_error(exc)
            assert value not in allowed or isinstance(value, bool)
        else:
            assert parsed == value and parsed in allowed


# -- --send escapes, and the log's escapes ---------------------------------------------------

escapish = st.text(alphabet=st.sampled_from(list("\\xnrt0abfve'\"q1Fz9 é✓")), max_size=30)


@FAST
@given(st.one_of(escapish, anything))
def test_decode_escapes_gives_bytes_or_a_clear_error(text: str) -> None:
    try:
        data = decode_escapes(text)
    except InputError as exc:
        one_line_error(exc)
    else:
        assert isinstance(data, bytes)
        if "\\" not in text:
            assert data == text.encode("utf-8", "surrogatepass")


@FAST
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60))
def test_decode_escapes_round_trips_escaped_text(text: str) -> None:
    assert decode_escapes(text.replace("\\", "\\\\")) == text.encode("utf-8")


@FAST
@given(st.binary(max_size=64))
def test_every_byte_can_be_sent_as_hex_escapes(data: bytes) -> None:
    assert decode_escapes("".join(f"\\x{b:02x}" for b in data)) == data
    assert decode_escapes("".join(f"\\x{b:02X}" for b in data)) == data


@FAST
@given(st.binary(max_size=300).map(lambda b: bytes(x & 0x7F for x in b)))
def test_what_the_log_shows_of_ascii_can_be_sent_back(data: bytes) -> None:
    """escape_bytes and decode_escapes are inverses on ASCII: a learner can
    paste a payload from the log into --send and send the same bytes."""
    assert decode_escapes(escape_bytes(data, cap=len(data) + 1)) == data


@FAST
@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Zl", "Zp", "Cs",
                                                            "Co", "Cn")), max_size=100))
def test_printable_unicode_is_shown_as_itself_and_sends_back(text: str) -> None:
    data = text.encode("utf-8")
    shown = escape_bytes(data, cap=len(data) + 1)
    assert shown == text.replace("\\", "\\\\")
    assert decode_escapes(shown) == data


@FAST
@given(st.text(alphabet=string.printable.strip("\r\n\t\x0b\x0c") or "a", max_size=1500),
       st.integers(1, 1024))
def test_escape_bytes_cap_keeps_a_round_tripping_prefix(text: str, cap: int) -> None:
    data = text.encode("ascii")
    shown = escape_bytes(data, cap)
    if len(data) > cap:
        prefix, _, rest = shown.rpartition("… +")
        assert rest == f"{len(data) - cap} bytes"
        assert decode_escapes(prefix) == data[:cap]
    else:
        assert "… +" not in shown and decode_escapes(shown) == data


@SOME
@given(st.binary(min_size=DATA_CAP + 1, max_size=DATA_CAP * 3))
def test_escape_bytes_default_cap_counts_the_rest(data: bytes) -> None:
    assert escape_bytes(data).endswith(f"… +{len(data) - DATA_CAP} bytes")


# -- port ranges (socklab.ports) -----------------------------------------------------------------

range_shaped = st.from_regex(r"\A\s?[0-9]{1,7}\s?([-–:]\s?[0-9]{1,7}\s?)?\Z", fullmatch=True)
service_shaped = st.from_regex(r"\A[A-Za-z][A-Za-z0-9._+/-]{0,70}\Z", fullmatch=True)


@FAST
@given(st.one_of(range_shaped, service_shaped, numberish))
def test_parse_range_grammar_shaped_text(text: str) -> None:
    ports = pytest.importorskip("socklab.ports")
    try:
        parsed = ports.parse_range(text)
    except InputError as exc:
        one_line_error(exc)
        return
    assert 0 <= parsed.first <= parsed.last <= 65535
    assert len(parsed) == parsed.last - parsed.first + 1
    numbers = [int(n.strip()) for n in text.replace("–", "-").replace(":", "-").split("-")
               if n.strip().isascii() and n.strip().isdigit()]
    if numbers:
        assert (parsed.first, parsed.last) == (numbers[0], numbers[-1])


# -- the command line and the lab screen's fields ------------------------------------------------


@FAST
@given(anything)
def test_cli_positive_and_seconds(text: str) -> None:
    from socklab.cli import _positive, _seconds

    try:
        assert _positive(text) >= 1
    except InputError as exc:
        one_line_error(exc)
    try:
        assert 0 < _seconds(text) <= 3600
    except InputError as exc:
        one_line_error(exc)


ARGUMENT = st.one_of(numberish, hostish, st.sampled_from(["inet", "inet6", "stream", "dgram",
                                                         "-1", "--", "", "0", "80"]))


@functools.cache
def _parser() -> argparse.ArgumentParser:
    """The command line's parser, built once (parsing leaves it as it was)."""
    from socklab.cli import build_parser
    return build_parser()


@FAST
@given(ARGUMENT, ARGUMENT, ARGUMENT, ARGUMENT)
def test_cli_argument_lines_parse_or_fail_as_usage(port: str, backlog: str, host: str,
                                                   family: str) -> None:
    """Parsing only (nothing is run): a Namespace or a UsageError, nothing else."""
    from socklab.cli import UsageError

    assume("\x00" not in host)
    lines = [
        ["serve", f"--port={port}", f"--backlog={backlog}", f"--host={host}",
         f"--family={family}"],
        ["connect", host, port, f"--family={family}", f"--send={backlog}"],
        ["ports", port, f"--host={host}"],
    ]
    for argv in lines:
        try:
            _parser().parse_args(argv)
        except UsageError as exc:
            assert str(exc) and "\n" not in str(exc)


@FAST
@given(st.one_of(numberish, anything))
def test_lab_screen_fields_validate_without_raising(text: str) -> None:
    from socklab.ui.endpoint_pane import MAX_CLIENTS_AT_ONCE, ParseValidator, parse_count

    try:
        assert 1 <= parse_count(text) <= MAX_CLIENTS_AT_ONCE
    except InputError as exc:
        one_line_error(exc)
    for parse in (parse_port, parse_backlog, parse_host, decode_escapes, parse_count):
        result = ParseValidator(parse).validate(text)
        if not result.is_valid:
            assert result.failure_descriptions and all(result.failure_descriptions)


# -- bytes from the network: the HTTP server's request parser ------------------------------------

request_shaped = st.builds(
    lambda method, path, version, junk: method + b" " + path + b" " + version + b"\r\n" + junk,
    st.sampled_from([b"GET", b"HEAD", b"POST", b"get", b""]),
    st.binary(max_size=30) | st.sampled_from([b"/", b"/romeo.txt", b"/index.html?x=1"]),
    st.sampled_from([b"HTTP/1.0", b"HTTP/1.1", b"HTTP/", b"FTP/1.0", b""]),
    st.binary(max_size=40),
)


@FAST
@given(st.one_of(st.binary(max_size=200), request_shaped))
def test_http_response_to_any_request(request: bytes) -> None:
    from socklab.modes import http_response

    answer = http_response(request)
    head, _, body = answer.partition(b"\r\n\r\n")
    status = head.split(b" ", 2)
    assert status[0] == b"HTTP/1.0" and status[1] in (b"200", b"400", b"404", b"405")
    assert b"Content-Length: " in head and b"\x1b" not in answer
    if not request.startswith(b"HEAD "):
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        assert length == len(body)
