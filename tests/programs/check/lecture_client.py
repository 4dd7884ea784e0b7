# The lecture's sockets_client.py, as the slides write it.
import socket

myserver=socket.socket(socket.AF_INET,socket.SOCK_STREAM)
myserver.connect((socket.gethostname(), 1024))

# 1024 is same port number given in server

msg=myserver.recv(1024)

# 1024 bytes is is just sample byte number. Received
# message from Server is stored in "msg"

print(msg.decode("utf-8"))
