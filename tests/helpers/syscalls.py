"""Does one of each watched syscall family for the end-to-end tests and
prints, as one JSON object, what it did (paths, fds, ports), so the test can
match every event against the truth. Run with Debian's /usr/bin/python3."""
import ctypes, ctypes.util, errno, json, mmap, os, signal, socket, sys, tempfile

libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
out = {"pid": os.getpid()}
d = tempfile.mkdtemp(prefix="ferret-sc-")
out["dir"] = d

# Files
p = os.path.join(d, "a.txt")
fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
os.write(fd, b"hello")
os.close(fd)
out["created"] = p
os.rename(p, os.path.join(d, "b.txt"))
out["renamed"] = [p, os.path.join(d, "b.txt")]
b = os.path.join(d, "b.txt")
os.link(b, os.path.join(d, "hard"))
os.symlink("/etc/passwd", os.path.join(d, "sym"))
os.chmod(b, 0o4755)
os.chown(b, 1, 2)
os.mkdir(os.path.join(d, "sub"), 0o700)
os.truncate(b, 1)
os.utime(b, (0, 0))
# A relative unlink from a chosen cwd: the event joins it to the kernel's cwd.
os.chdir(d)
os.unlink("hard")
os.rmdir("sub")
out["cwd"] = os.getcwd()
try:
    os.open("/nonexistent-ferret/x", os.O_WRONLY | os.O_CREAT, 0o600)
except FileNotFoundError:
    out["failed_open"] = "/nonexistent-ferret/x"
# Read-only opens: the sensitive one is reported, the plain one is not.
open("/etc/shadow", "rb").close()
open(b, "rb").close()
mfd = os.memfd_create("ferret-mem", 0)
out["memfd"] = mfd
# An executable file mapping.
with open("/usr/bin/true", "rb") as f:
    m = mmap.mmap(f.fileno(), 4096, prot=mmap.PROT_READ | mmap.PROT_EXEC, flags=mmap.MAP_PRIVATE)
    m.close()

# Executable anonymous memory: mmap RW, then mprotect to RX (a JIT's or shellcode loader's shape).
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
anon = libc.mmap(None, 4096, 3, 0x22, -1, 0)  # PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS
libc.mprotect(ctypes.c_void_p(anon), 4096, 5)  # PROT_READ|PROT_EXEC
out["anon_exec"] = hex(anon)

# Failures are reported too.
try:
    os.unlink("/nonexistent-ferret/y")
except FileNotFoundError:
    pass
try:
    os.rename(os.path.join(d, "missing"), os.path.join(d, "other"))
except FileNotFoundError:
    pass

# A mount and its umount (tmpfs on a directory of ours).
mnt = os.path.join(d, "mnt")
os.mkdir(mnt)
libc.mount(b"ferret-tmpfs", mnt.encode(), b"tmpfs", 0, None)
libc.umount2(mnt.encode(), 0)
out["mnt"] = mnt

# Module syscalls: nothing to load here; the attempt is what is reported.
libc.delete_module(b"ferret_no_such_module", 0)

# Namespaces and capabilities, as root and without changing anything lasting.
nsfd = os.open("/proc/self/ns/uts", os.O_RDONLY)
libc.setns(nsfd, 0x04000000)  # CLONE_NEWUTS: our own namespace again
os.close(nsfd)
class caphdr(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]
class capdata(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]
hdr = caphdr(0x20080522, 0)
data = (capdata * 2)()
libc.capget(ctypes.byref(hdr), data)
libc.capset(ctypes.byref(hdr), data)
out["cap_effective"] = hex(data[0].effective | (data[1].effective << 32))
SYS_bpf = 321
attr = ctypes.create_string_buffer(16)
libc.syscall(SYS_bpf, 11, attr, 16)  # BPF_PROG_GET_NEXT_ID

# Network: TCP over IPv4 and IPv6 loopback, a unix socket, a raw packet socket.
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.bind(("127.0.0.1", 0))
srv.listen(8)
port = srv.getsockname()[1]
cli = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
cli.connect(("127.0.0.1", port))
conn, peer = srv.accept()
out["tcp4"] = {"port": port, "client_port": cli.getsockname()[1], "accepted_fd": conn.fileno(), "client_fd": cli.fileno()}
srv6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
srv6.bind(("::1", 0))
srv6.listen(1)
port6 = srv6.getsockname()[1]
c6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
c6.connect(("::1", port6))
out["tcp6"] = {"port": port6}
# Non-blocking connect: in progress.
nb = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
nb.setblocking(False)
out["nonblocking_errno"] = nb.connect_ex(("127.0.0.1", port))
# Refused: nobody listens on the port we just closed.
tmp = socket.socket(); tmp.bind(("127.0.0.1", 0)); dead = tmp.getsockname()[1]; tmp.close()
r = socket.socket()
out["refused"] = {"port": dead, "errno": r.connect_ex(("127.0.0.1", dead))}
up = os.path.join(d, "s.sock")
us = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
us.bind(up)
us.listen(1)
uc = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
uc.connect(up)
out["unix"] = up
try:
    pk = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    out["packet_fd"] = pk.fileno()
except OSError as e:
    out["packet_error"] = e.errno

# Security-relevant syscalls.
os.dup2(cli.fileno(), 1)  # a socket onto stdout: the reverse-shell shape
os.dup2(os.open("/dev/null", os.O_WRONLY), 1)
libc.prctl(15, b"ferret-pr", 0, 0, 0)  # PR_SET_NAME
child = os.fork()
if child == 0:
    libc.ptrace(0, 0, 0, 0)  # PTRACE_TRACEME
    libc.unshare(0x04000000)  # CLONE_NEWUTS
    os._exit(0)
os.waitpid(child, 0)
out["child"] = child
os.kill(os.getpid(), 0)
os.setuid(0)
SYS_userfaultfd = 323
ufd = libc.syscall(SYS_userfaultfd, 0)
out["userfaultfd"] = ufd if ufd >= 0 else -ctypes.get_errno()
buf = ctypes.create_string_buffer(8)
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
loc = iovec(ctypes.cast(buf, ctypes.c_void_p), 8)
rem = iovec(ctypes.cast(buf, ctypes.c_void_p), 8)
libc.process_vm_readv(os.getpid(), ctypes.byref(loc), 1, ctypes.byref(rem), 1, 0)
print(json.dumps(out), file=sys.stderr)
