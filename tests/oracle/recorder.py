"""The evidence, recorded inside the scenario's own network namespace.

`Recorder` brings ``lo`` up, starts tcpdump on it (``-U``: every packet written
as it comes) and a thread that lists the kernel's sockets (inet_diag, what ``ss``
reads) every few milliseconds, in the two-hosts namespaces too once they exist.  It must run
in a process that is alone in its network namespace (``unshare -n``), as root.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

from .diag import Table
from .evidence import MARK_PORT

#: How often the sockets are listed (seconds).
SAMPLE_EVERY = 0.005


class Recorder:
    """tcpdump and ss, writing into ``folder`` (``lo.pcap``, ``ss.jsonl``)."""

    def __init__(self, folder: Path, host_prefix: str | None = None,
                 every: float = SAMPLE_EVERY) -> None:
        self.folder = folder
        self.pcap = folder / "lo.pcap"
        #: Two-hosts: namespaces whose name starts with this are sampled too.
        self.host_prefix = host_prefix
        self.namespaces: dict[str, str] = {}
        self._samples: list[dict] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._tcpdump: subprocess.Popen | None = None
        self._marks = 0
        self._searched = 0
        self.every = every
        self._tables: dict[str | None, Table] = {}

    def start(self) -> Recorder:
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=5)
        self._tcpdump = subprocess.Popen(
            ["tcpdump", "-i", "lo", "-w", str(self.pcap), "-U", "-n", "-s", "256",
             "--immediate-mode"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while not self.pcap.exists() or self.pcap.stat().st_size < 24:
            if time.monotonic() > deadline or self._tcpdump.poll() is not None:
                raise RuntimeError("tcpdump did not start")
            time.sleep(0.01)
        self.mark()  # tcpdump is listening once it writes a datagram it saw
        self._thread = threading.Thread(target=self._sample_loop, daemon=True)
        self._thread.start()
        return self

    def mark(self) -> int:
        """Send a marker datagram and wait until the pcap holds it: every packet sent
        before is in the file.  Returns the pcap's size then."""
        self._marks += 1
        payload = f"oracle-mark-{os.getpid()}-{self._marks}".encode()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(payload, ("127.0.0.1", MARK_PORT))
        deadline = time.monotonic() + 10
        with self.pcap.open("rb") as pcap:
            start = max(0, self._searched - len(payload))
            while time.monotonic() < deadline:
                pcap.seek(start)
                data = pcap.read()
                if payload in data:
                    self._searched = start + len(data)
                    return self._searched
                time.sleep(0.005)
        raise RuntimeError("tcpdump fell behind by 10 s")

    def read(self, start: int, end: int) -> bytes:
        """The pcap's header and the records between two marks' sizes."""
        with self.pcap.open("rb") as pcap:
            header = pcap.read(24)
            pcap.seek(start)
            return header + pcap.read(end - start)

    def forget(self) -> None:
        """Drop the samples taken so far (a long run keeps only the current stretch)."""
        with self._lock:
            self._samples.clear()

    def sample(self) -> None:
        """One listing of every socket, in this namespace and the lab's hosts'
        (inet_diag, as ss reads it: fast enough to catch a short FIN_WAIT2)."""
        places: list[str | None] = [None]
        if self.host_prefix:
            try:
                names = os.listdir("/run/netns")  # what `ip netns list` reads
            except OSError:
                names = []
            places += sorted(n for n in names if n.startswith(self.host_prefix))
        for ns in places:
            t0 = time.time()
            try:
                table = self._tables.get(ns) or self._tables.setdefault(ns, Table(ns))
                text = table.listing()
            except OSError:  # a host's namespace went away meanwhile
                continue
            with self._lock:
                self._samples.append({"t0": t0, "t1": time.time(), "ns": ns, "text": text})

    def _sample_loop(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def samples_since(self, index: int) -> list[dict]:
        with self._lock:
            return list(self._samples[index:])

    @property
    def sample_count(self) -> int:
        with self._lock:
            return len(self._samples)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.sample()
        for table in self._tables.values():
            table.close()
        self.mark()
        if self._tcpdump is not None:
            self._tcpdump.terminate()
            try:
                self._tcpdump.wait(5)
            except subprocess.TimeoutExpired:
                self._tcpdump.kill()
                self._tcpdump.wait(5)
        with (self.folder / "ss.jsonl").open("w") as out:
            for sample in self._samples:
                out.write(json.dumps(sample) + "\n")
