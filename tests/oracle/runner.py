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

from .checks import Judge, describe, seg_key
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
        if self.violations:
            lines.append(self.context())
        return "\n".join(lines)

    def context(self, before: int = 12, after: int = 6) -> str:
        """What a failure needs to be read (a race under load shows once): the log
        around each violation's line, and the wire's segments in their order."""
        judge = self.judge
        seqs = sorted({v.seq for v in self.violations if v.seq is not None})
        shown = sorted({e["seq"] for e in judge.events for seq in seqs
                        if seq - before <= e["seq"] <= seq + after})
        lines = ["the log around the violations:"]
        for seq in shown:
            e = judge.events_by_seq[seq]
            r = e.get("result") if isinstance(e.get("result"), dict) else {}
            what = (f"{'/'.join(r.get('flags') or ()) or 'UDP'} seq={r.get('seq')} "
                    f"ack={r.get('ack')} len={r.get('len')} {r.get('src')}→{r.get('dst')}"
                    f"{' by ' + e['by'] if e.get('by') else ''}"
                    if e.get("op") == "packet" else
                    f"{e.get('phase')} {e.get('error') or ''} {e.get('result')}")
            lines.append(f"  #{seq} t={e.get('t', 0):.6f} {e.get('side')}[{e.get('conn')}] "
                         f"{e.get('op')} {what}")
        if judge.wire and any(v.check == "packet" for v in self.violations):
            lines.append("the wire:")
            lines += [f"  t={judge.lab_time(rel.segment.ts) or rel.segment.ts:.6f} "
                      f"{describe(seg_key(rel))}" for rel in judge.evidence.segments]
        return "\n".join(lines)


def evidence_in(folder: Path) -> Evidence:
    hosts: dict = {None: None}
    hosts_file = folder / "hosts.json"
    if hosts_file.exists():
        hosts.update(json.loads(hosts_file.read_text()))
    return Evidence(segments_of((folder / "lo.pcap").read_bytes()),
                    load_samples(folder / "ss.jsonl"), hosts=hosts)


def run_command(name: str, command: list[str], *, hosts: bool = False,
                sample_hosts: bool = False, keep: Path | None = None) -> Outcome:
    """Run ``command`` in its own namespace with the recorder, and judge its log.

    Two hosts (``hosts``, or any event naming a host): the hosts' namespaces are
    sampled (``sample_hosts`` too), but their wire is not captured (made and gone
    within the run), so the checks that need segments are left out."""
    folder = Path(tempfile.mkdtemp(prefix="oracle-", dir=keep))
    options = ["--hosts"] if hosts or sample_hosts else []
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run(["unshare", "-n", sys.executable, "-m", "tests.oracle.inside",
                    str(folder), *options, "--", *command],
                   check=True, cwd=ROOT, env=env, timeout=400)
    events = load((folder / "log.jsonl").read_text())
    # Two hosts (any event names one): their wire is in their own namespaces.
    wire = not hosts and not any(e.get("host") for e in events)
    outcome = Outcome(name, judge(events, evidence_in(folder), wire=wire),
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
                       sample_hosts=True, keep=keep)


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
