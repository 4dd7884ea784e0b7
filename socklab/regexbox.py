"""The regex box's matching, in a process of its own that a time limit can kill.

A learner's pattern is untrusted input: ``(\\w+\\s?)*:`` over romeo.txt
backtracks for minutes, and Python's ``re`` holds the GIL while it does, so in
the lab's process (even on another thread) it would starve the screen.  Here
it runs in a worker process (plain ``python -m socklab.regexbox``, nothing of
the lab imported but the matching itself): the lab waits for the answer at
most `LIMIT` seconds, off its UI thread, and on time-out kills the worker and
says so (`TooSlow`); the next pattern starts a fresh one.  A process, not the
``regex`` package's ``timeout=``: the box stays exactly Python's ``re`` (its
syntax, its error messages, what the lesson teaches), a kill stops anything
(memory-hungry patterns too), and the lab needs no new dependency.

The worker ends with the lab however the lab ends: its input pipe closes (it
reads end-of-file and exits), and a match still running when the lab is gone
is ended by the kernel after `CPU_SECONDS` of CPU (RLIMIT_CPU, set for each
request).  (No ``PR_SET_PDEATHSIG`` here: it fires when the *thread* that
started the worker ends, and the box starts it from short-lived threads.)
UI-free.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
from typing import IO

#: Seconds a pattern may take before the worker is killed.
LIMIT = 1.0
#: Seconds a new worker may take to start (a busy machine), not counted in LIMIT.
STARTUP = 30.0
#: What a worker says once it can take patterns.
READY = b"ready\n"
#: CPU seconds one request may use even if the lab is gone (the lab kills it at LIMIT).
CPU_SECONDS = 5
#: Bytes of memory the worker may use (a pattern that builds a huge list fails).
MEMORY = 512 * 1024 * 1024


class TooSlow(Exception):
    """The pattern took longer than the limit (its worker was killed)."""


class Cancelled(Exception):
    """A newer pattern replaced this one before it finished."""


class RegexBox:
    """One worker at a time; `find_all` blocks (call it off the UI thread)."""

    def __init__(self, limit: float = LIMIT) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._worker: subprocess.Popen[bytes] | None = None
        self._generation = 0
        self._turn = threading.Lock()  # held while a pattern is in the worker

    def find_all(self, pattern: str, text: str) -> list[str]:
        """``find_all`` of socklab.guided.http, in the worker: re.error for a
        pattern Python does not accept, `TooSlow` past the limit, `Cancelled`
        if a newer call came while this one waited for its turn.

        One pattern at a time, the newest next: a burst of keys typed while a
        slow pattern runs costs one match after it, not one worker each."""
        with self._lock:
            self._generation += 1
            generation = self._generation
        with self._turn:
            with self._lock:
                if generation != self._generation:
                    raise Cancelled(pattern)
                if self._worker is None or self._worker.poll() is not None:
                    self._kill()
                    self._worker = self._start()
                worker = self._worker
            answer = _ask(worker, json.dumps({"pattern": pattern, "text": text}) + "\n",
                          self.limit)
            if answer is None:
                with self._lock:
                    self._kill()
                raise TooSlow(pattern)
        reply = json.loads(answer)
        if "error" in reply:
            raise re.error(reply["error"])
        return list(reply["matches"])

    def close(self) -> None:
        with self._lock:
            self._generation += 1
            self._kill()

    def start(self) -> None:
        """Start the worker now (the first pattern then waits for no start-up)."""
        with self._turn, self._lock:
            if self._worker is None or self._worker.poll() is not None:
                self._kill()
                self._worker = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        """A new worker, once it says it is ready: its start-up (an interpreter
        on a busy machine) is not the pattern's time."""
        worker = subprocess.Popen([sys.executable, "-m", "socklab.regexbox"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, close_fds=True)
        ready: list[bytes] = []
        reader = threading.Thread(target=lambda: ready.append(worker.stdout.readline()),
                                  daemon=True, name="regex worker start")  # type: ignore[union-attr]
        reader.start()
        reader.join(STARTUP)
        if ready != [READY]:
            self._worker = worker
            self._kill()
            raise TooSlow("the regex worker did not start")
        return worker

    def _kill(self) -> None:
        worker, self._worker = self._worker, None
        if worker is None:
            return
        with contextlib.suppress(OSError):
            worker.kill()
        for pipe in (worker.stdin, worker.stdout):
            with contextlib.suppress(OSError):
                if pipe is not None:
                    pipe.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(timeout=5)


def _ask(worker: subprocess.Popen[bytes], request: str, limit: float) -> bytes | None:
    """Send one request and wait at most ``limit`` seconds for its one-line answer."""
    answer: list[bytes] = []
    reader = threading.Thread(target=_exchange, args=(worker, request, answer),
                              daemon=True, name="regex answer")
    reader.start()
    reader.join(limit)
    return answer[0] if answer else None


def _exchange(worker: subprocess.Popen[bytes], request: str, answer: list[bytes]) -> None:
    """Send one request, read its one-line answer (nothing if the worker died)."""
    stdin, stdout = worker.stdin, worker.stdout
    assert stdin is not None and stdout is not None
    try:
        stdin.write(request.encode("utf-8", "surrogatepass"))
        stdin.flush()
        line = stdout.readline()
    except (OSError, ValueError):  # killed, its pipes closed
        return
    if line.endswith(b"\n"):
        answer.append(line)


def _serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """The worker: one JSON request a line, one JSON answer a line, until EOF."""
    from .guided.http import find_all

    with contextlib.suppress(OSError):
        os.nice(10)  # a pattern backtracking never takes the CPU from the lab's screen
    stdout.write(READY)
    stdout.flush()
    for line in stdin:
        request = json.loads(line)
        _cpu_limit(CPU_SECONDS)
        try:
            reply: dict[str, object] = {"matches": find_all(request["pattern"],
                                                            request["text"])}
        except re.error as exc:
            reply = {"error": str(exc)}
        except (RecursionError, OverflowError, MemoryError) as exc:
            reply = {"error": f"{type(exc).__name__}: too complex"}
        stdout.write((json.dumps(reply) + "\n").encode())
        stdout.flush()


def _cpu_limit(seconds: int) -> None:
    """This request may use ``seconds`` more of CPU: past that the kernel ends the
    worker (SIGXCPU), even if the lab that would have killed it is gone."""
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource
        usage = resource.getrusage(resource.RUSAGE_SELF)
        used = int(usage.ru_utime + usage.ru_stime) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (used + seconds, used + seconds + 1))


def main() -> None:
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):
        _serve(sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
