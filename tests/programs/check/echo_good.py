# An echo server: every byte back with sendall(), until recv() returns b''.
import socket
import sys

port = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
with socket.create_server(("127.0.0.1", port)) as server:
    while True:
        conn, addr = server.accept()
        with conn:
            while True:
                data = conn.recv(4096)
                if not data:
                    break
                conn.sendall(data)
