"""Record the sessions socklab ships for learners who cannot capture (issue 13).

Each is the real command's JSON Lines output on this machine's loopback:

- ``welcome``: ``socklab demo welcome --json --packets`` — the welcome exchange
  with the TCP segments each call caused (captured on lo: needs root or
  CAP_NET_RAW; without it the script stops rather than ship inferred packets);
- ``backlog``: ``socklab demo backlog --json --packets`` — listen(2), clients
  that fill the accept queue, and accept() draining it (state events).

Run from the checkout: ``python scripts/record_sessions.py``; it rewrites
socklab/recordings/*.jsonl and checks that each plays (``socklab.replay.load``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "socklab" / "recordings"
SESSIONS = {
    "welcome": ["demo", "welcome", "--json", "--packets"],
    "backlog": ["demo", "backlog", "--json", "--packets"],
}


def record(name: str, args: list[str]) -> Path:
    done = subprocess.run([sys.executable, "-m", "socklab", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        sys.exit(f"{name}: socklab {' '.join(args)} exited {done.returncode}: {done.stderr}")
    events = [json.loads(line) for line in done.stdout.splitlines()]
    packets = [e for e in events if e["op"] == "packet"]
    if not packets or any(e["result"].get("inferred") for e in packets):
        sys.exit(f"{name}: no captured packets (run as root, or with CAP_NET_RAW): "
                 f"{done.stderr.strip()}")
    path = OUT / f"{name}.jsonl"
    path.write_text(done.stdout, encoding="utf-8")
    return path


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from socklab.replay import load

    OUT.mkdir(exist_ok=True)
    for name, args in SESSIONS.items():
        path = record(name, args)
        recording = load(path)
        ops = {event.op for event in recording.events}
        print(f"{path.relative_to(ROOT)}: {len(recording.events)} events "
              f"({', '.join(sorted(ops))})")


if __name__ == "__main__":
    main()
