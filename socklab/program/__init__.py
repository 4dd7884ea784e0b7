"""A learner's own program in the lab (issue 25): traced, logged, checked.

- `tracer.py` runs *inside* a Python program (stdlib only): its socket module
  instrumented, each call reported to the lab over inherited pipes.
- `strace.py` reads strace's lines for any other program (nc, curl, C).
- `calls.py` turns both into the lab's events (``by: "program"``), in the one
  global order; `states.py` follows the program's TCP sockets in the kernel's
  tables; `runner.py` runs the program (`socklab run`, ``--server-program``).
- `checker.py`, `exercises.py`, `client_exercises.py`: `socklab check`.

UI-free: nothing here imports textual or rich.
"""
