# A welcome server that forgets listen().
import socket
import sys

port = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
server = socket.socket()
server.bind(("127.0.0.1", port))
while True:
    conn, addr = server.accept()
    conn.sendall(b"Welcome to Socket Programming in Python!")
    conn.close()
