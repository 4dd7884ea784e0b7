# A client that opens a second connection the server never accepts, and waits
# in recv() on it for ever.
import socket
import sys

host, port = sys.argv[1], int(sys.argv[2])
first = socket.create_connection((host, port))
print(first.recv(1024))
second = socket.create_connection((host, port))
print(second.recv(1024))
