# A UDP echo server whose recvfrom(512) is smaller than a datagram of 1024 bytes.
import socket
import sys

port = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
    server.bind(("127.0.0.1", port))
    while True:
        data, addr = server.recvfrom(512)
        server.sendto(data, addr)
