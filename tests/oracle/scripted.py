"""Fixed lab sessions, made through the panes' requests, their log on stdout.

``python -m tests.oracle.scripted NAME`` (inside the oracle's namespace, see
`runner.run_script`): each script is a list of requests, each one's calls
waited for before the next, so a lie the random sessions met can be shown on
every run.
"""

from __future__ import annotations

import socket
import sys
import time

from socklab.capture import watch_packets
from socklab.labcalls import Request, Settings
from socklab.session import LabSession


def _client(port: int, timeout: float | None) -> Settings:
    return Settings(socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1", port, b"hello",
                    timeout=timeout)


SCRIPTS = {
    # Run client, non-blocking, three times towards a closed port (1).
    "refused-non-blocking": [Request("client", "run", _client(1, 0.0)) for _ in range(3)],
    # connect() on a client with no socket (EBADF, no SYN), then Run client twice: each
    # SYN must be credited to the client that sent it.
    "connect-without-socket-then-refused": [
        Request("client", "connect", _client(1, None)),
        *(Request("client", "run", _client(1, 0.0)) for _ in range(2))],
}


def main(argv: list[str]) -> int:
    lines: list[str] = []
    session = LabSession()
    session.subscribe(lambda event: lines.append(event.to_json()))
    capture = watch_packets(session.lab)
    try:
        for request in SCRIPTS[argv[0]]:
            session.request(request).wait(5.0)
            session.wait_idle(5.0)
            time.sleep(0.05)
    finally:
        session.close()
        capture.stop()
    sys.stdout.write("".join(line + "\n" for line in lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
