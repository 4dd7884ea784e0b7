"""The kernel's socket table read with inet_diag (NETLINK_SOCK_DIAG), the oracle's own.

What ``ss -tuan`` prints, without a process per listing, so the recorder can
look every few milliseconds: each TCP socket (TIME_WAIT entries and request
sockets included) and each UDP socket, with its state and two addresses.  A
netlink socket belongs to the namespace it was made in, so one made in a thread
moved into a lab host's namespace (`setns`) reads that host's table.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import socket
import struct
import threading

NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY = 4, 20
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
CLONE_NEWNET = 0x40000000
#: The kernel's TCP state numbers, by ss's names for them.
STATES = {1: "ESTAB", 2: "SYN-SENT", 3: "SYN-RECV", 4: "FIN-WAIT-1", 5: "FIN-WAIT-2",
          6: "TIME-WAIT", 7: "UNCONN", 8: "CLOSE-WAIT", 9: "LAST-ACK", 10: "LISTEN",
          11: "CLOSING", 12: "SYN-RECV"}
HEADER = struct.Struct("=IHHII")
MESSAGE = struct.Struct("=BBBB")  # family, state, timer, retrans; then the socket id


def _request(family: int, proto: int) -> bytes:
    body = struct.pack("=BBBBI", family, proto, 0, 0, 0xFFFFFFFF) + bytes(48)
    return HEADER.pack(HEADER.size + len(body), SOCK_DIAG_BY_FAMILY,
                       NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + body


def _address(family: int, raw: bytes, port: int) -> str:
    ip = ipaddress.ip_address(raw[:4] if family == socket.AF_INET else raw[:16])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    host = str(ip)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Table:
    """One netlink socket: `listing` returns ss-style lines of every TCP/UDP socket."""

    def __init__(self, namespace: str | None = None) -> None:
        self.sock = self._open(namespace)

    @staticmethod
    def _open(namespace: str | None) -> socket.socket:
        if namespace is None:
            return socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
        made: list[socket.socket | BaseException] = []

        def inside() -> None:  # setns moves this thread only; its socket stays there
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                fd = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
                try:
                    if libc.setns(fd, CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), "setns")
                finally:
                    os.close(fd)
                made.append(socket.socket(socket.AF_NETLINK, socket.SOCK_RAW,
                                          NETLINK_SOCK_DIAG))
            except BaseException as exc:  # told to the caller
                made.append(exc)

        thread = threading.Thread(target=inside)
        thread.start()
        thread.join()
        if isinstance(made[0], BaseException):
            raise made[0]
        return made[0]

    def close(self) -> None:
        self.sock.close()

    def listing(self) -> str:
        lines = []
        for proto, name in ((socket.IPPROTO_TCP, "tcp"), (socket.IPPROTO_UDP, "udp")):
            for family in (socket.AF_INET, socket.AF_INET6):
                lines += self._dump(family, proto, name)
        return "\n".join(lines)

    def _dump(self, family: int, proto: int, name: str) -> list[str]:
        self.sock.send(_request(family, proto))
        lines = []
        while True:
            data = self.sock.recv(65536)
            offset = 0
            while offset + HEADER.size <= len(data):
                length, kind, _, _, _ = HEADER.unpack_from(data, offset)
                if kind == NLMSG_DONE:
                    return lines
                if kind == NLMSG_ERROR:
                    raise OSError("inet_diag answered with an error")
                lines.append(self._line(data[offset + HEADER.size:offset + length], name))
                offset += (length + 3) & ~3
            if not data:
                return lines

    @staticmethod
    def _line(msg: bytes, name: str) -> str:
        family, state, _, _ = MESSAGE.unpack_from(msg)
        sport, dport = struct.unpack_from("!HH", msg, 4)
        src, dst = msg[8:24], msg[24:40]
        label = STATES.get(state, str(state))
        if name == "udp" and state == 1:
            label = "ESTAB"
        peer = _address(family, dst, dport) if dport else (
            "0.0.0.0:*" if family == socket.AF_INET else "[::]:*")
        return f"{name} {label} 0 0 {_address(family, src, sport)} {peer}"
