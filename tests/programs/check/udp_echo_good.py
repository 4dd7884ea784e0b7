# A UDP echo server: each datagram back whole to whoever sent it.
import socket
import sys

port = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
    server.bind(("127.0.0.1", port))
    while True:
        data, addr = server.recvfrom(65535)
        server.sendto(data, addr)
