# An echo server that reads the whole message, then answers with one send().
import socket
import sys

port = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
with socket.create_server(("127.0.0.1", port)) as server:
    while True:
        conn, addr = server.accept()
        with conn:
            chunks = []
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                chunks.append(data)
            conn.send(b"".join(chunks))
