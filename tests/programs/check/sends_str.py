# A welcome server that sends a str instead of bytes.
import socket
import sys

port = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
server = socket.socket()
server.bind(("127.0.0.1", port))
server.listen(5)
while True:
    conn, addr = server.accept()
    conn.send("Welcome to Socket Programming in Python!")
    conn.close()
