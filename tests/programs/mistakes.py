"""Calls that fail, each caught and printed: the program must see exactly what
plain Python gives it (the exception's type and message)."""
import socket
import sys

closed_port = int(sys.argv[1])
s = socket.socket()
try:
    s.connect(("127.0.0.1", closed_port))
except OSError as exc:
    print("connect:", type(exc).__name__, exc.errno)
s.close()
a, b = socket.socketpair()
try:
    a.send("text, not bytes")
except TypeError as exc:
    print("send:", type(exc).__name__, exc)
with socket.create_server(("127.0.0.1", 0)) as server:
    port = server.getsockname()[1]
    with socket.create_connection(("127.0.0.1", port)) as c:
        conn, addr = server.accept()
        c.sendall(b"x" * 10)
        buf = bytearray(4)
        print("recv_into:", conn.recv_into(buf), bytes(buf))
        print("isinstance:", isinstance(conn, socket.socket), type(conn).__name__)
        conn.close()
a.close()
b.close()
