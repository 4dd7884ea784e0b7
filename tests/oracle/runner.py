"""A scenario run in a network namespace of its own, then judged.

`run_command` runs a socklab headless command (``demo NAME --json --packets``,
a lesson played by ``--auto`` through the lesson player) under ``unshare -n``
with the `Recorder`, and returns the `Judge` of its log.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .checks import Judge
from .evidence import Evidence, load_samples, segments_of
from .judgement import judge
from .model import load

ROOT = Path(__file__).resolve().parents[2]


def unavailable() -> str | None:
    """Why the oracle cannot run here (None: it can)."""
    if os.geteuid() != 0:
        return "the oracle needs root (unshare -n, tcpdump)"
    for tool in ("unshare", "tcpdump", "ss", "ip"):
        if shutil.which(tool) is None:
            return f"the oracle needs {tool}"
    return None


def socklab(*args: str) -> list[str]:
    return [sys.executable, "-m", "socklab", *args]


@dataclass
class Outcome:
    name: str
    judge: Judge
    rc: int
    stderr: str
    folder: Path

    @property
    def violations(self):
        return self.judge.violations

    def report(self) -> str:
        lines = [f"{self.name}: {len(self.violations)} violation(s), checked "
                 + ", ".join(f"{k} {v}" for k, v in sorted(self.judge.checked.items()))]
        lines += [f"  {v}" for v in self.violations]
        return "\n".join(lines)


def evidence_in(folder: Path) -> Evidence:
    hosts: dict = {None: None}
    hosts_file = folder / "hosts.json"
    if hosts_file.exists():
        hosts.update(json.loads(hosts_file.read_text()))
    return Evidence(segments_of((folder / "lo.pcap").read_bytes()),
                    load_samples(folder / "ss.jsonl"), hosts=hosts)


def run_command(name: str, command: list[str], *, hosts: bool = False,
                keep: Path | None = None) -> Outcome:
    """Two hosts (``hosts``): their namespaces are sampled by ss, but their wire is
    not captured (they are made and gone within the run), so the checks that need
    segments are left out."""
    """Run ``command`` in its own namespace with the recorder, and judge its log."""
    folder = Path(tempfile.mkdtemp(prefix="oracle-", dir=keep))
    options = ["--hosts"] if hosts else []
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run(["unshare", "-n", sys.executable, "-m", "tests.oracle.inside",
                    str(folder), *options, "--", *command],
                   check=True, cwd=ROOT, env=env, timeout=300)
    events = load((folder / "log.jsonl").read_text())
    outcome = Outcome(name, judge(events, evidence_in(folder), wire=not hosts),
                      int((folder / "rc").read_text()),
                      (folder / "stderr.txt").read_text(), folder)
    if keep is None:
        shutil.rmtree(folder, ignore_errors=True)
    return outcome


def run_demo(name: str, keep: Path | None = None) -> Outcome:
    return run_command(f"demo {name}", socklab("demo", name, "--json", "--packets"),
                       hosts=name == "two-hosts", keep=keep)


def run_lesson(name: str, keep: Path | None = None) -> Outcome:
    """A lesson played by --auto (pause 0) in the real app, headless."""
    return run_command(f"lesson {name}",
                       [sys.executable, "-m", "tests.oracle.lesson_player", name],
                       hosts=name == "two-hosts", keep=keep)


def run_random(examples: int, steps: int, *, randomize: bool = False,
               keep: Path | None = None) -> dict:
    """Random sessions in a namespace of their own: the tally (steps run, claims
    checked, violations found)."""
    folder = Path(tempfile.mkdtemp(prefix="oracle-random-", dir=keep))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    argv = ["unshare", "-n", sys.executable, "-m", "tests.oracle.random_session",
            str(folder), str(examples), str(steps)] + (["--random"] if randomize else [])
    subprocess.run(argv, check=True, cwd=ROOT, env=env, timeout=7200)
    tally = json.loads((folder / "tally.json").read_text())
    if keep is None:
        shutil.rmtree(folder, ignore_errors=True)
    return tally


def run_script(name: str, keep: Path | None = None) -> Outcome:
    """A fixed lab session (`scripted.SCRIPTS`) through the panes' requests."""
    return run_command(f"script {name}",
                       [sys.executable, "-m", "tests.oracle.scripted", name], keep=keep)
