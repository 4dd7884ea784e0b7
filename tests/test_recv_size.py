"""The recv size control's input: recv(n) / recvfrom(n)'s n (issue 10: message boundaries).

What the lab does with it is in test_session.py (a small recvfrom loses the rest).
"""

from __future__ import annotations

import socket

import pytest

from socklab.inputs import InputError, parse_recv_size
from socklab.labcalls import Settings


def test_the_default_is_the_lectures_1024() -> None:
    assert Settings(socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1", 0, b"").recv_size == 1024
    assert parse_recv_size(" 8 ") == 8


@pytest.mark.parametrize("text", ["0", "-1", "x", "", "99999999"])
def test_a_bad_recv_size_is_one_clear_line(text: str) -> None:
    with pytest.raises(InputError, match="recv size"):
        parse_recv_size(text)
