# A UDP echo server whose recvfrom(1024) is smaller than some datagrams.
import socket
import sys

port = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
    server.bind(("127.0.0.1", port))
    while True:
        data, addr = server.recvfrom(1024)
        server.sendto(data, addr)
