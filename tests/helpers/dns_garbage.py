"""A DNS 'server' on UDP that answers every query with a malformed message:
a header claiming one answer, then a name whose compression pointer points
at itself. Usage: dns_garbage.py ADDRESS PORT; prints 'ready' when bound."""
import socket, sys

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(4096)
    if len(data) < 2:
        continue
    reply = data[:2] + bytes([0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]) + bytes([0xC0, 12, 0, 1, 0, 1])
    s.sendto(reply, peer)
