"""The oracle: every claim of socklab's log checked against evidence of its own.

A scenario (a demo, a lesson played by --auto, a random lab session) runs in a
network namespace of its own (``unshare -n``), with tcpdump writing ``lo``'s
traffic to a pcap and inet_diag listing the kernel's sockets every 5 ms
(`recorder`).  Nothing of socklab's capture or kernel view is used: the pcap is
read by `pcap`, the socket table by `diag`, TCP's state machine is `tcp_states`
(RFC 9293's diagram as data).  `model` folds the log into the sockets it names;
`checks`, `claims` and `order` judge it (`judgement.judge`): each packet row ⇔
one captured segment, credited to its sender or the kernel; each state a legal
step given the segments and calls, agreeing with the table; each explanation
that names a segment has it on the wire; each event's host is its socket's
namespace; causality and time.  `lies` names the lies found and not fixed yet.

    python -m tests.oracle [demos] [lessons] [random] [--long] [--steps N]

Tests: tests/test_oracle_checks.py (the checks against planted lies, unit) and
tests/test_oracle_scenarios.py (every demo, lesson and random sessions, system).
"""
