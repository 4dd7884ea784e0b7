"""Run one command inside this process's own network namespace, recording evidence.

Usage (as root, in a namespace of its own)::

    unshare -n python -m tests.oracle.inside FOLDER [--hosts] -- COMMAND [ARGS...]

Writes FOLDER/log.jsonl (the command's stdout), stderr.txt, rc, lo.pcap, ss.jsonl
and hosts.json (two-hosts: the lab's namespaces seen, by host letter).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from .recorder import Recorder

#: A scenario that takes longer than this is stopped (and reported).
RUN_LIMIT = 300.0


def main(argv: list[str]) -> int:
    split = argv.index("--")
    folder, options, command = Path(argv[0]), argv[1:split], argv[split + 1:]
    recorder = Recorder(folder)
    recorder.start()
    with (folder / "log.jsonl").open("w") as out, (folder / "stderr.txt").open("w") as err:
        child = subprocess.Popen(command, stdout=out, stderr=err)
        if "--hosts" in options:
            recorder.host_prefix = f"socklab-{child.pid}-"
        try:
            rc = child.wait(RUN_LIMIT)
        except subprocess.TimeoutExpired:
            child.kill()
            rc = child.wait()
            err.write(f"oracle: stopped after {RUN_LIMIT} s\n")
    time.sleep(0.05)  # a last ACK or RST on its way
    recorder.stop()
    names = {}
    for sample in recorder.samples_since(0):
        if sample["ns"]:
            names[sample["ns"]] = sample["ns"].rsplit("-", 1)[-1].upper()
    (folder / "hosts.json").write_text(json.dumps(names))
    (folder / "rc").write_text(str(rc))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
