# An echo server that stops at the first recv().
import socket
import sys

port = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
with socket.create_server(("127.0.0.1", port)) as server:
    while True:
        conn, addr = server.accept()
        with conn:
            conn.sendall(conn.recv(1024))
