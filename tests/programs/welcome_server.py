"""A learner's welcome server: the lecture's, on this machine, closing each client."""
import socket
import sys

port = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
myserver = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
myserver.bind(("127.0.0.1", port))
myserver.listen(5)
print("listening on", myserver.getsockname())
while True:
    myclient, addr = myserver.accept()
    print(f"Connection to {addr} established")
    myclient.send(bytes("Welcome to Socket Programming in Python!", "utf-8"))
    myclient.close()
