"""Performs one attacker behaviour, named by argv[1], for the detection end-to-end tests, and prints
as JSON the pids involved. Run as root with Debian's /usr/bin/python3."""
import ctypes, ctypes.util, json, os, signal, socket, sys, time

libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
libc.syscall.restype = ctypes.c_long
what = sys.argv[1]
out = {"pid": os.getpid()}

PTRACE_TRACEME, PTRACE_POKETEXT, PTRACE_KILL = 0, 4, 8
SYS_process_vm_writev, SYS_userfaultfd = 311, 323


class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


def sleeper():
    """A child that waits to be injected into; it shares our address space layout (fork)."""
    pid = os.fork()
    if pid == 0:
        time.sleep(5)
        os._exit(0)
    return pid


if what == "python-reverse-shell":
    # stdout becomes the socket: say who we are first.
    print(json.dumps(out), flush=True)
    s = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
    os.dup2(s.fileno(), 0)
    os.dup2(s.fileno(), 1)
    os.dup2(s.fileno(), 2)
    os.write(1, b"hello from the reverse shell\n")
    sys.exit(0)
elif what == "ptrace-poketext":
    buf = ctypes.c_long(0)
    child = os.fork()
    if child == 0:
        libc.ptrace(PTRACE_TRACEME, 0, None, None)
        os.kill(os.getpid(), signal.SIGSTOP)
        os._exit(0)
    os.waitpid(child, os.WUNTRACED)
    r = libc.ptrace(PTRACE_POKETEXT, child, ctypes.c_void_p(ctypes.addressof(buf)), ctypes.c_void_p(0x41414141))
    out["poke"] = r
    out["child"] = child
    libc.ptrace(PTRACE_KILL, child, None, None)
    os.waitpid(child, 0)
elif what == "proc-mem":
    child = sleeper()
    fd = os.open("/proc/%d/mem" % child, os.O_RDWR)
    os.close(fd)
    out["child"] = child
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
elif what == "vm-writev":
    buf = ctypes.create_string_buffer(b"original", 16)
    child = sleeper()
    local = iovec(ctypes.cast(ctypes.create_string_buffer(b"injected", 16), ctypes.c_void_p), 8)
    remote = iovec(ctypes.cast(buf, ctypes.c_void_p), 8)
    out["written"] = libc.syscall(SYS_process_vm_writev, child, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    out["child"] = child
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
elif what == "userfaultfd":
    out["fd"] = libc.syscall(SYS_userfaultfd, os.O_CLOEXEC)
elif what == "authorized-keys":
    home = sys.argv[2]
    os.makedirs(os.path.join(home, ".ssh"), exist_ok=True)
    with open(os.path.join(home, ".ssh", "authorized_keys"), "a") as f:
        f.write("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFerretTestKeyFerretTestKeyFerretTestKey0 attacker\n")
elif what == "cron":
    path = "/etc/cron.d/ferret-e2e-test"
    with open(path, "w") as f:
        f.write("# written by ferret's tests and removed at once; no job\n")
    os.unlink(path)
elif what == "truncate-log":
    path = "/var/log/ferret-e2e-test.log"
    with open(path, "w") as f:
        f.write("evidence\n")
    open(path, "w").close()  # opened again with O_TRUNC: the log is emptied
    os.unlink(path)
elif what == "pam-drop-in":
    # A PAM configuration for a service that does not exist, empty: changes nothing.
    path = "/etc/pam.d/ferret-e2e-test"
    open(path, "w").close()
    os.unlink(path)
elif what == "runc-write":
    # The rule is by name: a file called runc, anywhere, opened for writing.
    d = sys.argv[2]
    with open(os.path.join(d, "runc"), "wb") as f:
        f.write(b"\x7fELF")
elif what == "release-agent":
    d = sys.argv[2]
    with open(os.path.join(d, "release_agent"), "w") as f:
        f.write("/tmp/payload\n")
elif what == "memfd-exec":
    fd = os.memfd_create("payload", 0)
    with open("/usr/bin/true", "rb") as f:
        os.write(fd, f.read())
    print(json.dumps(out), flush=True)
    os.execve(fd, ["payload"], {})
else:
    sys.exit("unknown behaviour " + what)
print(json.dumps(out))
