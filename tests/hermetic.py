"""The test run's own loopback: each pytest process in a network namespace of its own.

Tests open real sockets on loopback, and some of them (a full port scan, the
port-info probe, a lesson on the lecture's port 1024) reach every port there.
Two pytest processes sharing one loopback — xdist's workers, or a developer's
second run — would then meet each other's listeners: a scan answered by another
test's welcome server ends that server's one accept(), a lesson's bind(1024)
finds the port taken.  As root, each process moves into a new network namespace
before it opens anything (``unshare(CLONE_NEWNET)``, then ``lo`` up), so every
test's loopback holds only what that process made.  Subprocesses the tests start
(socklab commands, tcpdump, tmux, chromium) inherit it.

Named network namespaces (two-hosts mode's hosts, ``ip netns``) and socklab's
run notes live in files (``/run/netns``, ``/run/socklab-hosts``) that every
process sees, whatever its network: one worker's ``socklab cleanup`` or
two-hosts start removed another worker's leftovers (or its live hosts) under
its nose.  So the process also gets a mount namespace of its own with an empty
tmpfs on each of those two folders: its hosts and notes are its own.

The kernel's socket tables are shared by every namespace unless asked otherwise,
and a listing of the sockets (inet_diag: socklab's kernel view, the oracle's
recorder every few milliseconds, ``ss``) walks every bucket of the machine's whole
table (262,144 here): ~1.5 ms of system CPU a TCP listing even in an empty
namespace.  So the process's namespace, and the ones made from it (the oracle's
``unshare -n``, two-hosts' hosts), get tables of their own (`TABLES`), 16 times
smaller: the same sockets, the same states, quicker to list.  The limits the kernel
derives from the table's size (TIME_WAIT buckets, the SYN backlog) are set back to
the machine's in the process's own namespace.  ``SOCKLAB_TESTS_SHARED_TABLES=1``
keeps the machine's tables (to compare).

Where this is not possible (not root, no namespaces), or where
``SOCKLAB_TESTS_SHARED_NET=1`` asks for the machine's own network, the run stays
where it is and says why in the report header.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import subprocess
import threading

CLONE_NEWNET = 0x40000000
CLONE_NEWNS = 0x00020000
MS_REC, MS_PRIVATE = 0x4000, 1 << 18
#: The folders of named namespaces and of socklab's run notes: each process's own.
PRIVATE_DIRS = ("/run/netns", "/run/socklab-hosts")

#: The size of the socket tables each namespace made from the test process's own gets
#: (per-namespace tables, Linux 6.1/6.2): sysctl name → buckets.
TABLES = {"tcp_child_ehash_entries": 16384, "udp_child_hash_entries": 1024}
#: What the kernel derives from a table's size: kept at the machine's values.
DERIVED = ("tcp_max_tw_buckets", "tcp_max_syn_backlog")
_IPV4 = "/proc/sys/net/ipv4/"

#: Why the run shares the machine's network, or None once it has its own.
reason: str | None = "not set up yet"


def enter_own_network() -> str | None:
    """Move this process into a fresh network namespace with ``lo`` up.

    Must run before the process starts threads of its own: a thread keeps the
    namespace it had, so only threads started afterwards share the new one.
    Returns None on success, else why the machine's network is kept.
    """
    global reason
    if os.environ.get("SOCKLAB_TESTS_SHARED_NET") == "1":
        reason = "SOCKLAB_TESTS_SHARED_NET=1"
    elif os.geteuid() != 0:
        reason = "not root: a network namespace needs CAP_SYS_ADMIN"
    elif threading.current_thread() is not threading.main_thread():
        reason = "not on the main thread"
    else:
        reason = _unshare_and_raise_lo()
    return reason


def _unshare_and_raise_lo() -> str | None:
    ip = shutil.which("ip") or next(
        (p for p in ("/usr/sbin/ip", "/sbin/ip") if os.access(p, os.X_OK)), None)
    if ip is None:
        return "iproute2's ip is not installed"
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.unshare(CLONE_NEWNET | CLONE_NEWNS) != 0:
        return f"unshare(CLONE_NEWNET|CLONE_NEWNS): {os.strerror(ctypes.get_errno())}"
    # Mounts made here stay here (not propagated back to the machine's namespace).
    if libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        return f"mount --make-rprivate /: {os.strerror(ctypes.get_errno())}"
    for folder in PRIVATE_DIRS:
        os.makedirs(folder, exist_ok=True)
        if libc.mount(b"tmpfs", folder.encode(), b"tmpfs", 0, b"mode=0755") != 0:
            return f"mount tmpfs on {folder}: {os.strerror(ctypes.get_errno())}"
    if os.environ.get("SOCKLAB_TESTS_SHARED_TABLES") != "1":
        _own_tables(libc)
    done = subprocess.run([ip, "link", "set", "lo", "up"], capture_output=True, text=True,
                          timeout=30, check=False)
    if done.returncode != 0:
        return f"ip link set lo up: {done.stderr.strip()}"
    return None


def _sysctl(name: str, value: str | None = None) -> str:
    with open(_IPV4 + name, "w" if value is not None else "r") as knob:
        if value is None:
            return knob.read().strip()
        knob.write(value)
        return value


def _own_tables(libc: ctypes.CDLL) -> None:
    """Move into a namespace with socket tables of its own (`TABLES`), the machine's
    derived limits kept; where the kernel cannot, stay (only slower to list)."""
    try:
        derived = {name: _sysctl(name) for name in DERIVED}
        for name, size in TABLES.items():
            _sysctl(name, str(size))
    except OSError:
        return  # a kernel before 6.1/6.2: the machine's tables
    if libc.unshare(CLONE_NEWNET) != 0:
        return
    try:
        for name, size in TABLES.items():  # and the namespaces made from this one
            _sysctl(name, str(size))
        for name, value in derived.items():
            _sysctl(name, value)
    except OSError:
        pass  # the limits the smaller tables give (still thousands of TIME_WAITs)
