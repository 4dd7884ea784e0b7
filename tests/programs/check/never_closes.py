# A welcome server that keeps every connection (a list of clients) and never closes one.
import socket
import sys

port = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
server = socket.socket()
server.bind(("127.0.0.1", port))
server.listen(5)
clients = []
while True:
    conn, addr = server.accept()
    clients.append(conn)
    conn.sendall(b"Welcome to Socket Programming in Python!")
