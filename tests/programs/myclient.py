"""A learner's client: connect, send a line, print the answer, close."""
import socket
import sys

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.send(b"hello\n")
data = s.recv(1024)
print("got", data)
s.close()
