"""What two-hosts mode teaches (issue 14): the demo's cases and the failures the
hosts explain.  The rest of socklab's teaching text is in `socklab.explain`."""

from __future__ import annotations

HOSTS_CHANGED = "two-hosts mode was turned on or off"

#: The demo's cases: (title, what it teaches).  Each host has its own loopback.
HOSTS_LOOPBACK = (
    "a server bound to 127.0.0.1 on host A listens on A's loopback only: B's connection "
    "arrives on A's cable address, where nothing listens on that port, so A answers with "
    "a reset: ECONNREFUSED")
HOSTS_B_LOOPBACK = (
    "127.0.0.1 typed on host B is B itself: the connection never leaves B, nothing "
    "listens there, ECONNREFUSED; localhost is never the other machine")
HOSTS_ONE_ADDRESS = (
    "bound to {address}, host A's address on the cable: B reaches it there; the "
    "accept() on A shows the peer's address, B's {peer} — as in the lecture's "
    "screenshot, it is the client's address, not the server's")
HOSTS_EVERY_ADDRESS = (
    "bound to '' (INADDR_ANY, 0.0.0.0): every address of host A, its cable and its "
    "loopback, so B reaches it at {address} and A itself at 127.0.0.1; '' is not "
    "'local host' as the lecture says: it is everyone who can reach the host")
HOSTS_GETHOSTNAME = (
    "gethostname() is the machine's name, so both hosts give the same one: a network "
    "namespace separates addresses, routes and ports, not the name (that is a UTS "
    "namespace, which socklab does not make: a different name would still resolve "
    "through the same /etc/hosts)")


def hosts_resolved(name: str, address: str, own: bool) -> str:
    """What binding gethostname() on host A would mean, from what it resolved to."""
    if address.startswith("127."):
        return (f"{name!r} resolves to {address}, a loopback address: the lecture's "
                "bind((gethostname(), port)) would listen on A's loopback only, where "
                "host B cannot reach it")
    if own:
        return f"{name!r} resolves to {address}, one of host A's addresses: B can reach it"
    return (f"{name!r} resolves to {address}, an address host A does not have: "
            "bind() there fails with EADDRNOTAVAIL")


def hosts_failure(error: str, op: str, target: str | None, letter: str,
                  own: tuple[str, ...], other: str) -> str | None:
    """A failure's lesson in two-hosts mode, where the hosts explain it (or None)."""
    if op == "connect" and error == "ECONNREFUSED" and target is not None:
        if target.startswith("127.") or target in ("localhost", "::1"):
            return (f"{target} on host {letter} is host {letter}'s own loopback: the "
                    "connection never left it, and nothing listens there on that port")
        return (f"host {target} answered with a reset: nothing listens there on that "
                "port (a server bound to 127.0.0.1 takes only its own host's "
                "loopback connections)")
    if op == "connect" and error in ("ENETUNREACH", "EHOSTUNREACH", "TimeoutError"):
        return (f"host {letter} reaches only the cable's network (and itself): "
                f"the other host is {other}; traffic never leaves the two hosts")
    if op == "bind" and error == "EADDRNOTAVAIL" and target is not None:
        return (f"{target} is not an address of host {letter}: bind() takes only the "
                f"host's own addresses ({', '.join(own)})")
    return None
