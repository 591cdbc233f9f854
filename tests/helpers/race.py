"""TOCTOU race helper. `open N`: one thread opens the path in a shared buffer
N times while another keeps flipping the buffer between two files; prints
[fd, what /proc/self/fd/fd says] per open. `connect N`: the same with a
sockaddr flipped between two listening ports; prints [fd, getpeername port]."""
import ctypes, ctypes.util, json, os, socket, struct, sys, tempfile, threading

libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
mode, n = sys.argv[1], int(sys.argv[2])
stop = False
out = {"pid": os.getpid()}

def flipper(buf, a, b):
    size = len(a)
    while not stop:
        ctypes.memmove(buf, a, size)
        ctypes.memmove(buf, b, size)

if mode == "open":
    d = tempfile.mkdtemp(prefix="ferret-race-")
    a = os.path.join(d, "aaaa").encode() + b"\0"
    b = os.path.join(d, "bbbb").encode() + b"\0"
    for p in (a, b):
        open(p[:-1], "w").close()
    buf = ctypes.create_string_buffer(a)
    t = threading.Thread(target=flipper, args=(buf, a, b))
    t.start()
    opens = []
    for _ in range(n):
        fd = libc.open(buf, os.O_RDWR)
        if fd >= 0:
            opens.append([fd, os.readlink(f"/proc/self/fd/{fd}")])
            os.close(fd)
    stop = True
    t.join()
    out["opens"] = opens
else:
    servers = [socket.socket() for _ in range(2)]
    for s in servers:
        s.bind(("127.0.0.1", 0))
        s.listen(4096)
    ports = [s.getsockname()[1] for s in servers]
    def addr(port):
        return struct.pack("=H", socket.AF_INET) + struct.pack("!H", port) + socket.inet_aton("127.0.0.1") + b"\0" * 8
    a, b = addr(ports[0]), addr(ports[1])
    buf = ctypes.create_string_buffer(a, 16)
    def acceptor(s):
        while not stop:
            try:
                c, _ = s.accept()
                c.close()
            except OSError:
                return
    accs = [threading.Thread(target=acceptor, args=(s,), daemon=True) for s in servers]
    for t in accs:
        t.start()
    t = threading.Thread(target=flipper, args=(buf, a, b))
    t.start()
    conns = []
    for _ in range(n):
        c = socket.socket()
        if libc.connect(c.fileno(), buf, 16) == 0:
            conns.append([c.fileno(), c.getpeername()[1]])
        c.close()
    stop = True
    t.join()
    out["connects"] = conns
print(json.dumps(out), file=sys.stderr)
