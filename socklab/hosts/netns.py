"""Entering a network namespace from one thread: setns(2) through ctypes.

Python 3.11 has no ``os.setns``, so libc's is called directly.  For network
namespaces the kernel lets one thread of a many-threaded process switch alone
(CLONE_NEWNET is per-thread; user and mount namespaces are not): the thread
that calls setns moves, the others stay where they were.  A socket belongs to
the namespace of the thread that *made* it, for its whole life, and can then
be used from any thread.  So each call that must happen "on a host" runs in a
short-lived thread that enters the host's namespace, does that one thing and
ends (`run_in`): no thread of the lab ever has to find its way back.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

#: From <sched.h>: the namespace type setns is asked to enter.
CLONE_NEWNET = 0x40000000
#: Where ``ip netns add`` keeps its named namespaces (bind mounts of nsfs).
NETNS_DIR = Path("/run/netns")
#: Bound every wait for a namespace thread (creating a socket takes microseconds).
THREAD_TIMEOUT = 10.0
#: The process's own network namespace (its main thread's, read at import): a
#: thread whose namespace differs has entered one of the hosts.
MACHINE_NAMESPACE = os.stat("/proc/self/ns/net").st_ino

T = TypeVar("T")

_libc: ctypes.CDLL | None = None


def libc() -> ctypes.CDLL:
    """The C library, loaded once, errno kept (for calls Python does not wrap)."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return _libc


def setns(fd: int, nstype: int = CLONE_NEWNET) -> None:
    """Move the calling thread into the namespace ``fd`` refers to (OSError on failure)."""
    if libc().setns(fd, nstype) != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"setns: {os.strerror(number)}")


def thread_namespace() -> int:
    """The inode of the calling thread's network namespace (two equal: the same one)."""
    return os.stat("/proc/thread-self/ns/net").st_ino


def inside_a_host() -> bool:
    """True when the calling thread is in a network namespace other than the
    process's own (it, or the thread that started it, entered one with `run_in`)."""
    return thread_namespace() != MACHINE_NAMESPACE


#: ioctl: a file descriptor for the network namespace a socket lives in (<linux/sockios.h>).
SIOCGSKNS = 0x894C


def socket_namespace(sock: socket.socket) -> int | None:
    """The inode of the network namespace ``sock`` lives in (None: unknown).

    Asked of the socket itself (SIOCGSKNS), not of the thread or the side that
    made it: a socket stays in the namespace it was made in, whoever uses it."""
    import fcntl
    try:
        fd = fcntl.ioctl(sock.fileno(), SIOCGSKNS)
    except OSError:
        return None
    try:
        return os.fstat(fd).st_ino
    finally:
        os.close(fd)


def namespace_inode(name: str) -> int | None:
    """The inode of a named namespace (None: it is gone)."""
    try:
        return namespace_path(name).stat().st_ino
    except OSError:
        return None


def namespace_path(name: str) -> Path:
    return NETNS_DIR / name


def run_in(name: str, job: Callable[[], T], timeout: float = THREAD_TIMEOUT) -> T:
    """Run ``job`` in a new thread that has entered the named namespace; its result.

    The job's exception is raised here, in the caller's thread.  The caller's
    own namespace never changes.  Threads the job starts are born in the
    namespace too (a new thread shares its creator's), so a parallel job works
    inside the host as a whole; ``timeout`` bounds the wait (a long job, such as
    a full-range scan, gives a longer one).
    """
    box: list[T] = []
    failed: list[BaseException] = []

    def enter_and_run() -> None:
        try:
            try:
                fd = os.open(namespace_path(name), os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                raise FileNotFoundError(errno.ENOENT, f"the host's namespace {name} is gone "
                                        "(Reset removes the hosts; the next socket brings "
                                        "them back)") from None
            try:
                setns(fd)
            finally:
                os.close(fd)
            box.append(job())
        except BaseException as exc:  # handed to the caller, never lost in the thread
            failed.append(exc)

    thread = threading.Thread(target=enter_and_run, name=f"socklab-netns-{name}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"the thread entering namespace {name} did not finish")
    if failed:
        raise failed[0]
    return box[0]


def run_on(name: str | None, job: Callable[[], T], timeout: float = THREAD_TIMEOUT) -> T:
    """``job`` inside the named namespace (`run_in`), or right here when ``name``
    is None (one machine): the callers' one way to say "on this host"."""
    return job() if name is None else run_in(name, job, timeout)
