# A welcome server that serves one client, then ends.
import socket
import sys

port = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
with socket.socket() as server:
    server.bind(("127.0.0.1", port))
    server.listen(5)
    conn, addr = server.accept()
    with conn:
        conn.sendall(b"Welcome to Socket Programming in Python!")
