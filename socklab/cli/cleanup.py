"""``socklab cleanup``: remove what killed two-hosts runs left behind.

A run stopped by SIGKILL cannot remove its network namespaces; their names
carry its pid (``socklab-<pid>-<n>-a``), so those whose process is gone are
removed here (and by the next two-hosts start).  A running lab's namespaces
are left alone.  Deleting a namespace deletes the cable's end inside it.
"""

from __future__ import annotations

import argparse

from ..hosts import cleanup
from ..hosts.tools import has_admin
from .output import note
from .usage import EXIT_FAILED, EXIT_OK


def run(args: argparse.Namespace) -> int:
    left = cleanup.socklab_namespaces()
    if left and not has_admin():
        note("cleanup needs root to delete network namespaces: sudo socklab cleanup")
        return EXIT_FAILED
    removed = cleanup.remove_stale()
    for name in removed:
        print(f"removed network namespace {name} (its socklab run is gone)")
    for name in cleanup.in_use():
        print(f"kept network namespace {name} (its socklab run is still going)")
    if not left:
        print("nothing to clean up: no socklab network namespaces")
    stale = [n for n in cleanup.socklab_namespaces() if n not in cleanup.in_use()]
    return EXIT_FAILED if stale else EXIT_OK
