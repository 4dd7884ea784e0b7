"""Figure 10: what the kernel view costs an idle lab, in CPU of one core.

The same idle lab twice, each in its own process: a listener, a few open
connections doing nothing and one closed connection in TIME_WAIT (followed
in the kernel's tables) — once without the kernel view, once with it reading
on its 20 Hz timer.  The figure is the difference of the two processes' CPU
time over the same idle wall time, as a percentage of one core.

    python -m tests.benchmarks.kernel on|off SECONDS   (one measurement, JSON)
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from .report import Figure, median

PAIRS = 4


def _idle_lab(view_on: bool, seconds: float) -> dict[str, float]:
    from socklab.engine import Lab
    from socklab.kernel.poller import KernelView

    lab = Lab()
    kernel = KernelView(lab).start() if view_on else None
    server = lab.server()
    server.socket()
    server.bind("127.0.0.1", 0)
    server.listen(5)
    port = server.local[1]
    for _ in range(PAIRS + 1):
        client = lab.client()
        client.socket()
        client.connect("127.0.0.1", port)
        server.accept()
    client.close()  # the last pair: the client closed first, then its peer
    conn = server.connections[max(server.connections)]
    conn.recv(1024)
    conn.close()
    time.sleep(0.5)  # let the closes settle: TIME_WAIT is what is left
    cpu, wall = time.process_time(), time.perf_counter()
    time.sleep(seconds)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    following = kernel.following() if kernel is not None else 0
    if kernel is not None:
        kernel.stop()
    lab.close_all()
    return {"cpu": cpu, "wall": wall, "following": following}


def _measure(view_on: bool, seconds: float) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-m", "tests.benchmarks.kernel",
                          "on" if view_on else "off", str(seconds)],
                         capture_output=True, text=True, timeout=seconds + 60, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def kernel_figure(repeats: int, seconds: float = 10.0) -> Figure:
    """Extra CPU (% of one core) of the kernel view on an idle lab; target ≤ 2."""
    on: list[float] = []
    off: list[float] = []
    following = 0.0
    for _ in range(repeats):  # alternate, so a busy moment of the machine hits both
        base = _measure(False, seconds)
        off.append(100 * base["cpu"] / base["wall"])
        viewed = _measure(True, seconds)
        on.append(100 * viewed["cpu"] / viewed["wall"])
        following = viewed["following"]
    extra = max(0.0, median(on) - median(off))
    figure = Figure("10 kernel view, idle lab: extra CPU", extra, None, "% of a core", 2.0,
                    False, goal="the kernel view costs an idle lab almost nothing")
    figure.notes.append(
        f"idle lab (a listener, {PAIRS} open connections, {int(following)} closed one "
        f"followed in TIME_WAIT) for {seconds:.0f} s: {median(off):.2f}% of a core "
        f"without the kernel view, {median(on):.2f}% with it (median of {repeats})")
    return figure


if __name__ == "__main__":
    result = _idle_lab(sys.argv[1] == "on", float(sys.argv[2]))
    print(json.dumps(result))
