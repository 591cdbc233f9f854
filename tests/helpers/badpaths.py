"""Hostile and odd paths for the end-to-end tests; prints what it did as JSON
on stderr."""
import json, os, socket, sys, tempfile

out = {"pid": os.getpid()}
base = tempfile.mkdtemp(prefix="ferret-bad-")
out["base"] = base

# Deep trees built step by step (a whole path over PATH_MAX cannot be passed
# to a syscall): one just under the 4096-byte capture limit, one far over.
def deep(total, tag):
    os.chdir(base)
    comp = tag[0] * 200
    built = base
    while len(built) + 1 + len(comp) + 1 + len(tag) < total:
        os.mkdir(comp)
        os.chdir(comp)
        built += "/" + comp
    fd = os.open(tag, os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)
    return built + "/" + tag

out["under"] = deep(4000, "under.txt")
out["over"] = deep(6000, "over.txt")
os.chdir(base)

# A name with a newline, a quote and bytes that are not UTF-8.
weird = os.path.join(base.encode(), b'new\nline"q\xff\xfe')
fd = os.open(weird, os.O_WRONLY | os.O_CREAT, 0o600)
os.close(fd)
out["weird_hex"] = weird.hex()

# A file unlinked while open, then changed through its fd.
gone = os.path.join(base, "gone.txt")
fd = os.open(gone, os.O_RDWR | os.O_CREAT, 0o600)
os.unlink(gone)
os.fchmod(fd, 0o644)
out["gone"] = gone

# /proc: the process's own memory, opened for writing (injection's shape).
fd = os.open("/proc/self/mem", os.O_RDWR)
os.close(fd)

# Unix sockets: an abstract name, and a client that never bound one.
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind("\0ferret-abstract")
srv.listen(1)
cli = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
cli.connect("\0ferret-abstract")
print(json.dumps(out), file=sys.stderr)
