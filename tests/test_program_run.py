"""``socklab run``: a learner's own program, its socket calls in the lab's log.

Every test runs real programs as subprocesses against real loopback servers
(port 0), through the real command line.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from helpers import LIMIT, REPO, cli_command, cli_env, closed_port, json_events, run_cli

PROGRAMS = REPO / "tests" / "programs"


@pytest.fixture
def echo_server():
    """``socklab serve --mode echo --port 0 --json``: its port, then it is stopped."""
    proc = subprocess.Popen(cli_command("serve", "--mode", "echo", "--port", "0", "--json"),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=cli_env(), cwd=REPO)
    try:
        port = None
        for line in proc.stdout:  # bounded: serve prints its bind at once
            event = json.loads(line)
            if event["op"] == "bind":
                port = event["result"][1]
                break
        assert port is not None, "serve printed no bind"
        yield port
    finally:
        proc.terminate()
        proc.wait(LIMIT)
        proc.stdout.close()


def _program(events):
    return [e for e in events if e.get("by") == "program"]


def _index(events, **fields):
    return next(i for i, e in enumerate(events)
                if all(e.get(k) == v for k, v in fields.items()))


def test_python_client_against_serve_is_one_ordered_log(echo_server):
    done = run_cli("run", "--json", "--packets", "--", sys.executable,
                   str(PROGRAMS / "myclient.py"), str(echo_server), timeout=LIMIT * 4)
    assert done.returncode == 0, done.stderr
    events = json_events(done.stdout)
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    calls = [(e["op"], e["side"], e["conn"]) for e in _program(events)
             if e["op"] not in ("state", "output", "exit") and e["phase"] == "done"]
    assert calls == [("socket", "client", 1), ("connect", "client", 1),
                     ("send", "client", 1), ("recv", "client", 1), ("close", "client", 1)]
    assert all(e["program"] == "myclient.py" for e in _program(events))
    connect = events[_index(events, op="connect", by="program")]
    assert connect["ok"] and connect["args"][0] == ["127.0.0.1", echo_server]
    recv = events[_index(events, op="recv", by="program")]
    assert recv["bytes_repr"] == "b'hello\\n'" and recv["nbytes"] == 6
    output = events[_index(events, op="output")]
    assert output["args"] == ["stdout"] and output["data"] == "got b'hello\\\\n'"
    assert events[-1]["op"] == "exit" and events[-1]["result"] == 0
    states = [e["result"]["state"] for e in _program(events) if e["op"] == "state"]
    assert states[:1] == ["ESTABLISHED"]
    if "not captured" in done.stderr or "CAP_NET_RAW" in done.stderr:
        pytest.skip("no packet capture here: " + done.stderr.strip())
    # The packets each call caused come right under it: the handshake under
    # connect, the six bytes (and their ACK) under send, before the recv.
    packets = [i for i, e in enumerate(events) if e["op"] == "packet"]
    syn = next(i for i in packets if events[i]["result"]["flags"] == ["SYN"])
    data = next(i for i in packets if events[i]["result"]["len"] == 6
                and events[i]["side"] == "client")
    assert _index(events, op="connect", by="program") < syn < _index(events, op="send")
    assert _index(events, op="send", by="program") < data < _index(events, op="recv")


def test_program_sees_the_real_socket_module():
    """Exceptions, results and types are what plain Python gives the program."""
    port = closed_port()
    argv = [sys.executable, str(PROGRAMS / "mistakes.py"), str(port)]
    plain = subprocess.run(argv, capture_output=True, text=True, timeout=LIMIT, check=False)
    traced = run_cli("run", "--json", "--", *argv, timeout=LIMIT * 4)
    events = json_events(traced.stdout)
    printed = "\n".join(e["data"] for e in events if e["op"] == "output"
                        and e["args"] == ["stdout"])
    assert printed == plain.stdout.strip().replace("\\", "\\\\")
    assert "isinstance: True socket" in printed
    refused = events[_index(events, op="connect", by="program")]
    assert refused["error"] == "ECONNREFUSED" and "nothing is listening" in refused["lesson"]
    wrong = events[_index(events, op="send", by="program")]
    assert wrong["error"] == "TypeError" and "bytes, not str" in wrong["lesson"]
    assert traced.returncode == 0


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
@pytest.mark.skipif(shutil.which("nc") is None,
                    reason="nc is not installed (Debian: apt-get install netcat-openbsd)")
def test_nc_through_strace(echo_server):
    done = run_cli("run", "--json", "--packets", "--", "nc", "-q", "1", "127.0.0.1",
                   str(echo_server), input=b"hi from nc\n", timeout=LIMIT * 4)
    assert done.returncode == 0, done.stderr
    events = json_events(done.stdout)
    program = _program(events)
    assert all(e["program"] == "nc" for e in program)
    ops = [e["op"] for e in program if e["op"] not in ("state", "output", "exit")
           and e["phase"] == "done"]
    assert ops[:2] == ["socket", "connect"], ops
    assert "send" in ops and "recv" in ops and ops[-1] == "close"
    send = next(e for e in program if e["op"] == "send")
    recv = next(e for e in program if e["op"] == "recv" and e["nbytes"])
    assert send["bytes_repr"] == recv["bytes_repr"] == "b'hi from nc\\n'"
    assert program.index(send) < program.index(recv)
    if "not captured" in done.stderr or "CAP_NET_RAW" in done.stderr:
        pytest.skip("no packet capture here: " + done.stderr.strip())
    syn = _index(events, op="packet", result={**events[_index(events, op="packet")]["result"]})
    assert events[syn]["result"]["flags"] == ["SYN"]
    assert _index(events, op="connect", by="program") < syn


def test_no_program_is_bad_usage():
    done = run_cli("run", "--")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "no program given" in done.stderr


@pytest.mark.parametrize(("argv", "said"), [
    (["python3", "no-such-program.py"], "no such file"),
    (["no-such-command-here"], "command not found"),
])
def test_a_program_that_cannot_run_is_bad_usage(argv, said):
    done = run_cli("run", "--", *argv)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and said in done.stderr


def test_program_and_lab_server_share_one_causal_log(lab, rec):
    """The lab's echo server and a learner's client in one lab: every recv comes
    after the send whose bytes it returns, both ways, and the accept names the
    program's client."""
    from helpers import assert_causal

    from socklab.program.runner import ProgramRun
    from socklab.scenarios import ServerPlan, run_server

    service = run_server(lab, lab.server(), ServerPlan(port=0, mode="echo"))
    assert service is not None
    bound = rec.wait_for(lambda e: e.op == "listen" and e.by is None)
    program = ProgramRun(lab, [sys.executable, str(PROGRAMS / "myclient.py"),
                               str(bound.result[1])]).start()
    outcome = program.wait(LIMIT)
    assert outcome.status == 0, bytes(outcome.stderr)
    events = rec.snapshot()
    assert_causal(events, sender=("client", 1), receiver=("server", 1))
    assert_causal(events, sender=("server", 1), receiver=("client", 1))
    accept = next(e for e in events if e.op == "accept" and e.by is None and e.phase == "done")
    assert accept.peer_conn == 1
    send = next(e for e in events if e.op == "send" and e.by == "program")
    echoed = next(e for e in events if e.op == "recv" and e.by is None and e.nbytes)
    assert send.seq < echoed.seq


def test_strace_lines_become_the_lab_s_events(lab, rec):
    """strace's own lines (as strace 6 writes them with -f -yy -xx -ttt): a
    non-blocking connect refused, a call split by another thread, IPv6."""
    from socklab.program.calls import ProgramCalls
    from socklab.program.strace import StraceReader

    reader = StraceReader(ProgramCalls(lab, "nc"))
    lines = [
        '7 1.0 socket(AF_INET6, SOCK_STREAM|SOCK_NONBLOCK, IPPROTO_TCP) = 3<TCPv6:[11]>',
        '7 1.1 connect(3<TCPv6:[11]>, {sa_family=AF_INET6, sin6_port=htons(9), '
        'sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "\\x3a\\x3a\\x31", &sin6_addr), '
        'sin6_scope_id=0}, 28) = -1 EINPROGRESS (Operation now in progress)',
        '7 1.2 getsockopt(3<TCPv6:[11]>, SOL_SOCKET, SO_ERROR, [ECONNREFUSED], [4]) = 0',
        '7 1.3 read(0</dev/null>, "", 16384) = 0',
        '7 1.4 close(3<TCPv6:[11]>) = 0',
        '8 1.5 socket(AF_INET, SOCK_STREAM, IPPROTO_TCP) = 4<TCP:[12]>',
        '8 1.6 connect(4<TCP:[12]>, {sa_family=AF_INET, sin_port=htons(80), sin_addr='
        'inet_addr("\\x31\\x32\\x37\\x2e\\x30\\x2e\\x30\\x2e\\x31")}, 16) = 0',
        '8 1.7 read(4<TCP:[127.0.0.1:5->127.0.0.1:80]>,  <unfinished ...>',
        '9 1.8 write(1</dev/pts/0>, "\\x78", 1) = 1',
        '8 1.9 <... read resumed>"\\x68\\x69", 1024) = 2',
    ]
    for line in lines:
        reader.line(line + "\n")
    reader.calls.finish()
    calls = [(e.op, e.ok, e.error) for e in rec.snapshot() if e.op != "state"]
    assert calls == [("socket", True, None), ("connect", False, "ECONNREFUSED"),
                     ("close", True, None), ("socket", True, None),
                     ("connect", True, None), ("recv", True, None)]
    events = rec.snapshot()
    assert events[1].args == (("::1", 9),) and events[1].lesson
    recv = [e for e in events if e.op == "recv"][0]
    assert recv.args == (1024,) and recv.bytes_repr == "b'hi'"
    assert all(e.program == "nc" and e.by == "program" for e in events)


def test_without_strace_it_says_how_to_install_it(tmp_path):
    """A program that is not Python needs strace: where it is missing, one line
    says so and how to get it (exit 2)."""
    (tmp_path / "true").symlink_to(shutil.which("true") or "/bin/true")
    done = subprocess.run(cli_command("run", "--", "true"), capture_output=True, text=True,
                          timeout=LIMIT * 2, env=cli_env(PATH=str(tmp_path)), cwd=REPO,
                          check=False)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "strace is not installed" in done.stderr and "apt-get install strace" in done.stderr
