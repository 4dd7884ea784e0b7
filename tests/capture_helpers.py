"""Test helpers for the wire: an independent capture (tcpdump) and what it saw.

tcpdump is the reference: libpcap opens its own AF_PACKET socket, and its text
output is parsed here without any of socklab's code, so a test that compares
the two compares two captures, not socklab with itself.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from helpers import LIMIT, REPO, cli_command, cli_env

from socklab.capture import Capture, NoCapture
from socklab.capture.sniffer import open_capture
from socklab.demos import DEMOS
from socklab.engine import Lab
from socklab.events import Event

_TCPDUMP_FLAGS = {"S": "SYN", "F": "FIN", "R": "RST", "P": "PSH", ".": "ACK", "U": "URG",
                  "E": "ECE", "W": "CWR"}
_LINE = re.compile(
    r"IP6? (?P<src>\S+)\.(?P<sport>\d+) > (?P<dst>\S+)\.(?P<dport>\d+): "
    r"Flags \[(?P<flags>[^\]]*)\]"
    r"(?:, seq (?P<seq>\d+)(?::(?P<end>\d+))?)?(?:, ack (?P<ack>\d+))?.*length (?P<len>\d+)")


def welcome_capture(lab: Lab) -> tuple[list[Event], int]:
    """The welcome demo on ``lab`` with capture on: every event it logged, and how
    many segments the kernel dropped."""
    events: list[Event] = []
    lab.subscribe(events.append)
    capture = Capture(lab)
    try:
        assert DEMOS["welcome"](lab)
        lab.close_all()
    finally:
        capture.stop()
    return events, capture.dropped


def capture_or_skip() -> None:
    """Skip (saying why) where this process may not capture packets."""
    try:
        open_capture().close()
    except NoCapture as exc:
        pytest.skip(f"cannot capture here: {exc}")


def tcpdump_or_skip() -> str:
    path = shutil.which("tcpdump") or next(
        (p for p in ("/usr/sbin/tcpdump", "/usr/bin/tcpdump") if Path(p).exists()), None)
    if path is None:
        pytest.skip("tcpdump is not installed (.ci/run installs it with apt-get when root)")
    return path


@contextmanager
def quiet_lo() -> Iterator[list[str]]:
    """A network namespace of the test's own, only its ``lo`` up: tcpdump and socklab
    meet there and nothing else on the machine adds segments (another program's bulk
    transfer on the shared ``lo`` can swamp tcpdump).  Yields the command prefix
    that runs a program inside; ``[]`` (the shared lo) where none can be made."""
    tools = [shutil.which(name) for name in ("unshare", "nsenter", "ip")]
    if os.geteuid() != 0 or None in tools:
        print("quiet_lo: no namespace (needs root, unshare, nsenter, ip): the shared lo")
        yield []
        return
    unshare, nsenter, ip = tools
    holder = subprocess.Popen([str(unshare), "--net", "sleep", "600"])
    try:
        ours = os.readlink("/proc/self/ns/net")
        deadline = time.monotonic() + LIMIT
        while os.readlink(f"/proc/{holder.pid}/ns/net") == ours:
            assert time.monotonic() < deadline, "unshare did not make a namespace"
            time.sleep(0.01)
        prefix = [str(nsenter), f"--net=/proc/{holder.pid}/ns/net"]
        subprocess.run([*prefix, str(ip), "link", "set", "lo", "up"], check=True,
                       timeout=LIMIT)
        yield prefix
    finally:
        holder.kill()
        holder.wait(LIMIT)


def run_in(prefix: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    """``socklab ARGS`` run to completion inside ``prefix`` (a namespace, or none)."""
    return subprocess.run([*prefix, *cli_command(*args)], capture_output=True, text=True,
                          timeout=120, env=cli_env(), cwd=REPO, check=False)


@contextmanager
def tcpdump(tmp_path: Path, prefix: list[str],
            interface: str = "lo") -> Iterator[list[dict[str, Any]]]:
    """tcpdump on ``interface`` (inside ``prefix``) while the block runs; afterwards
    the list holds every TCP segment it saw, in order, as dicts like socklab's
    packet results (absolute numbers).  On ``any`` only incoming copies are kept
    (``-Q in``): a segment crossing a cable shows once, where it arrives."""
    binary = tcpdump_or_skip()
    fd, name = tempfile.mkstemp(prefix=f"{interface}-", suffix=".pcap", dir=tmp_path)
    os.close(fd)  # tcpdump writes it (a name of its own: two may run at once)
    pcap = Path(name)
    direction = ["-Q", "in"] if interface == "any" else []
    proc = subprocess.Popen([*prefix, binary, "-i", interface, *direction, "-n", "-U", "-w",
                             str(pcap), "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen: list[dict[str, Any]] = []
    try:
        assert proc.stderr is not None
        line = ""
        for _ in range(4):  # "data link type …" may come first
            line = proc.stderr.readline()  # "listening on lo, ...": the capture is open
            if "listening" in line or not line:
                break
        if "listening" not in line:
            proc.kill()
            pytest.skip(f"tcpdump cannot capture here: {line.strip()}")
        yield seen
        _caught_up(binary, pcap, prefix)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        proc.wait(LIMIT)
        if proc.stderr is not None:
            proc.stderr.close()
    out = subprocess.run([binary, "-r", str(pcap), "-n", "-S", "-tt"], capture_output=True,
                         text=True, timeout=LIMIT, check=True).stdout
    seen.extend(parse_tcpdump(out))


def _caught_up(binary: str, pcap: Path, prefix: list[str]) -> None:
    """Wait until tcpdump has written everything sent so far (it may lag on a busy
    machine): a marker connect to a closed port (SYN, RST) sent last must show."""
    port = int(subprocess.run([*prefix, sys.executable, "-c", _MARKER], capture_output=True,
                              text=True, timeout=LIMIT, check=True).stdout)
    deadline = time.monotonic() + LIMIT
    while time.monotonic() < deadline:
        out = subprocess.run([binary, "-r", str(pcap), "-n", f"tcp port {port}"],
                             capture_output=True, text=True, timeout=LIMIT).stdout
        if "Flags [R" in out:
            return
        time.sleep(0.1)
    raise AssertionError(f"tcpdump did not write the marker segments within {LIMIT}s")


_MARKER = """
import socket
probe = socket.socket(); probe.bind(("127.0.0.1", 0)); port = probe.getsockname()[1]
probe.close()
with socket.socket() as marker:
    marker.connect_ex(("127.0.0.1", port))
print(port)
"""


def parse_tcpdump(text: str) -> list[dict[str, Any]]:
    """tcpdump's lines as segments: addresses, flags, absolute seq/ack (None when
    tcpdump prints none), payload length."""
    segments = []
    for line in text.splitlines():
        match = _LINE.search(line)
        if match is None:
            continue
        flags = [_TCPDUMP_FLAGS[c] for c in match["flags"] if c in _TCPDUMP_FLAGS]
        segments.append({
            "src": [match["src"], int(match["sport"])],
            "dst": [match["dst"], int(match["dport"])],
            "flags": sorted(flags),
            "seq": int(match["seq"]) if match["seq"] else None,
            "ack": int(match["ack"]) if match["ack"] else None,
            "len": int(match["len"]),
        })
    return segments


def relative(segments: list[dict[str, Any]]) -> list[tuple]:
    """tcpdump's absolute numbers made relative to each direction's SYN, as
    comparable tuples: (src, dst, flags, seq or None, ack or None, len)."""
    base: dict[tuple, int] = {}
    for s in segments:
        if "SYN" in s["flags"] and s["seq"] is not None:
            base.setdefault(tuple(s["src"]), s["seq"])
    out = []
    for s in segments:
        src, dst = tuple(s["src"]), tuple(s["dst"])
        if s["seq"] is not None:
            base.setdefault(src, s["seq"])  # no SYN seen from it: its first segment
        if s["ack"] is not None:
            base.setdefault(dst, s["ack"] - 1)
        seq = None if s["seq"] is None else (s["seq"] - base[src]) % 2**32
        ack = None if s["ack"] is None else (s["ack"] - base[dst]) % 2**32
        out.append((src, dst, tuple(s["flags"]), seq, ack, s["len"]))
    return out


def ours(results: list[dict[str, Any]], like: list[tuple]) -> list[tuple]:
    """socklab's packet results as the same tuples, showing seq/ack only where
    tcpdump printed them (it omits seq on a pure ACK)."""
    out = []
    for r, ref in zip(results, like, strict=False):
        out.append((tuple(r["src"]), tuple(r["dst"]), tuple(sorted(r["flags"])),
                    None if ref[3] is None else r["seq"],
                    None if ref[4] is None else r["ack"], r["len"]))
    return out


@contextmanager
def readable_dir() -> Iterator[Path]:
    """A folder anyone can read (pytest's own tmp_path sits under a 0700 folder)."""
    path = Path(tempfile.mkdtemp(prefix="socklab-nobody-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def as_nobody(tmp_path: Path, lab_screen: bool = False) -> tuple[list[str], dict[str, str]]:
    """A command prefix and environment running Python as ``nobody`` (no CAP_NET_RAW)
    on a readable copy of the package (the checkout may sit in a 0700 folder).

    ``lab_screen``: the copy includes the screen and this virtual environment's
    interpreter runs it (it has textual); else the base interpreter, stdlib only.
    Skips, saying why, where nobody cannot run it."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("needs root and setpriv to run a command as nobody")
    copy = tmp_path / "src"
    skipped = ("__pycache__",) if lab_screen else ("__pycache__", "ui")
    shutil.copytree(REPO / "socklab", copy / "socklab",
                    ignore=shutil.ignore_patterns(*skipped))
    for path in [tmp_path, *copy.rglob("*"), copy]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    python = sys.executable if lab_screen else os.path.realpath(sys._base_executable)
    prefix = [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", python]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(copy),
           "PYTHONIOENCODING": "utf-8", "PYTHONDONTWRITEBYTECODE": "1"}
    needs = "import socklab.ui.app" if lab_screen else "import socklab.capture"
    probe = subprocess.run([*prefix, "-c", needs], capture_output=True,
                           text=True, env=env, cwd=tmp_path, timeout=LIMIT, check=False)
    if probe.returncode != 0:
        pytest.skip(f"nobody cannot run this Python here ({python}): "
                    f"{probe.stderr.strip()[-200:]}")
    return prefix, env
