# py4e's socket1.py, the host and port taken from the command line
# (socklab check runs it as: socket1.py HOST PORT).
import socket
import sys

host, port = sys.argv[1], int(sys.argv[2])
mysock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
mysock.connect((host, port))
cmd = f'GET http://{host}/romeo.txt HTTP/1.0\r\n\r\n'.encode()
mysock.send(cmd)

while True:
    data = mysock.recv(512)
    if len(data) < 1:
        break
    print(data.decode(), end='')

mysock.close()
