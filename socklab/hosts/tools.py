"""The ``ip`` command, and whether this process may make namespaces at all.

Namespaces and the cable are made with iproute2's ``ip`` (what a learner would
type, and what they can type to look inside): one short subprocess per step.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess

#: Bound every ``ip`` run (each takes milliseconds).
IP_TIMEOUT = 10.0
#: The one line said where two-hosts mode cannot run, and how to run it.
HOW_TO_RUN = "run it as root, e.g. sudo socklab --two-hosts (or sudo socklab demo two-hosts)"


class HostsError(OSError):
    """The hosts could not be made or removed (the message says which step and why)."""


def ip_command() -> str | None:
    return shutil.which("ip") or next(
        (p for p in ("/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip") if os.access(p, os.X_OK)), None)


def ip(*args: str) -> str:
    """Run ``ip ARGS``; its output, or HostsError saying what failed."""
    command = ip_command()
    if command is None:
        raise HostsError(errno.ENOENT, "the 'ip' command (iproute2) is not installed")
    try:
        done = subprocess.run([command, *args], capture_output=True, text=True,
                              timeout=IP_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise HostsError(errno.EIO, f"ip {' '.join(args)}: {exc}") from None
    if done.returncode != 0:
        message = (done.stderr.strip().splitlines() or ["failed"])[-1]
        number = errno.EPERM if "ermission" in message or "not permitted" in message \
            else errno.EIO
        raise HostsError(number, f"ip {' '.join(args)}: {message}")
    return done.stdout


def has_admin() -> bool:
    """CAP_SYS_ADMIN in this process's effective set (root has it; `nobody` has not)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) & (1 << 21))
    except (OSError, ValueError, IndexError):
        pass
    return os.geteuid() == 0


def why_unavailable() -> str | None:
    """Why two-hosts mode cannot run here (one line, with how to run it), or None."""
    if not has_admin():
        return ("two-hosts mode needs root: it creates two network namespaces and a "
                f"virtual cable between them; {HOW_TO_RUN}")
    if ip_command() is None:
        return ("two-hosts mode needs the 'ip' command (Debian/Ubuntu: apt-get install "
                "iproute2)")
    return None
