# py4e's socket1.py as the book prints it: data.pr4e.org, port 80.
import socket

mysock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
mysock.connect(('data.pr4e.org', 80))
cmd = b'GET http://data.pr4e.org/romeo.txt HTTP/1.0\r\n\r\n'
mysock.send(cmd)

while True:
    data = mysock.recv(512)
    if len(data) < 1:
        break
    print(data.decode(), end='')

mysock.close()
