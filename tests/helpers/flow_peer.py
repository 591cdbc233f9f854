#!/usr/bin/env python3
"""Peers for the flow tests: each side moves an exact number of payload bytes.

  flow_peer.py tcp-server ADDR PORTFILE RECV SEND   accept one connection, read RECV bytes,
                                                    send SEND bytes, wait for the peer's close
  flow_peer.py tcp-client ADDR PORT SEND RECV HOLD [abort]
                                                    connect, send SEND bytes (spread over HOLD
                                                    seconds), read RECV bytes, close (with
                                                    abort: SO_LINGER 0, so the close is a reset)
  flow_peer.py tcp-syn-abort ADDR PORT               start a connect that is never answered, then
                                                    close with SO_LINGER 0 while it is pending
  flow_peer.py udp-echo ADDR PORTFILE COUNT         answer COUNT datagrams with half their size
  flow_peer.py udp-client ADDR PORT COUNT SIZE      send COUNT datagrams of SIZE bytes, read the answers
"""
import errno
import socket
import struct
import sys
import time


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def read_exactly(sock, n):
    got = 0
    while got < n:
        chunk = sock.recv(min(65536, n - got))
        if not chunk:
            raise SystemExit(f"peer closed after {got} of {n} bytes")
        got += len(chunk)


def listen(addr, portfile, kind):
    s = socket.socket(family(addr), kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, 0))
    if kind == socket.SOCK_STREAM:
        s.listen(1)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(s.getsockname()[1]))
    # Renamed into place: the test never reads a half-written port.
    import os
    os.rename(portfile + ".tmp", portfile)
    return s


def main():
    mode, addr = sys.argv[1], sys.argv[2]
    if mode == "tcp-server":
        srv = listen(addr, sys.argv[3], socket.SOCK_STREAM)
        conn, _ = srv.accept()
        read_exactly(conn, int(sys.argv[4]))
        conn.sendall(b"s" * int(sys.argv[5]))
        try:
            while conn.recv(65536):
                pass
        except ConnectionResetError:
            pass  # an aborting client
        conn.close()
    elif mode == "tcp-client":
        c = socket.create_connection((addr, int(sys.argv[3])))
        send, hold = int(sys.argv[4]), float(sys.argv[6])
        # Spread over HOLD seconds in four pieces: traffic while the connection is open.
        pieces = [send // 4] * 3 + [send - 3 * (send // 4)] if hold > 0 else [send]
        for i, n in enumerate(pieces):
            if i:
                time.sleep(hold / 4)
            c.sendall(b"c" * n)
        read_exactly(c, int(sys.argv[5]))
        if sys.argv[7:] == ["abort"]:
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
    elif mode == "tcp-syn-abort":
        c = socket.socket(family(addr), socket.SOCK_STREAM)
        c.setblocking(False)
        err = c.connect_ex((addr, int(sys.argv[3])))
        if err != errno.EINPROGRESS:
            raise SystemExit(f"connect: {errno.errorcode.get(err, err)}, not EINPROGRESS")
        time.sleep(0.2)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
    elif mode == "udp-echo":
        s = listen(addr, sys.argv[3], socket.SOCK_DGRAM)
        for _ in range(int(sys.argv[4])):
            data, peer = s.recvfrom(65536)
            s.sendto(data[: len(data) // 2], peer)
    elif mode == "udp-client":
        s = socket.socket(family(addr), socket.SOCK_DGRAM)
        s.settimeout(5)
        for _ in range(int(sys.argv[4])):
            s.sendto(b"u" * int(sys.argv[5]), (addr, int(sys.argv[3])))
            s.recvfrom(65536)
    else:
        raise SystemExit(__doc__)


main()
