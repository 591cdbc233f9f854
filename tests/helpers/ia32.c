/* A 64-bit program that makes syscalls through the 32-bit entry (int 0x80),
 * the trick that slips past monitors watching only the 64-bit table. Built
 * -no-pie so its static buffers have 32-bit addresses. Prints its pid. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

static char path[256];
static unsigned int sc_args[6]; /* socketcall's and old mmap's argument array */
static struct sockaddr_in peer;
static char bad_exe[] = "/nonexistent/ferret-ia32-exec";
static char arg1[] = "--ferret-arg";
static unsigned int exec_argv[3]; /* 32-bit pointers, as an ia32 execve takes them */

static long int80(long nr, long a, long b, long c)
{
	long ret;
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
	return ret;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	snprintf(path, sizeof(path), "%s", argv[1]);
	/* ia32 open(path, O_WRONLY|O_CREAT, 0600) = 5; close = 6; unlink = 10 */
	long fd = int80(5, (long)path, 01 | 0100, 0600);
	if (fd < 0)
		return 1;
	int80(6, fd, 0, 0);
	int80(10, (long)path, 0, 0);

	/* socketcall (102): SYS_SOCKET (1) then SYS_CONNECT (3) to a listener made the 64-bit way. */
	int l = socket(AF_INET, SOCK_STREAM, 0);
	peer.sin_family = AF_INET;
	peer.sin_addr.s_addr = inet_addr("127.0.0.94");
	socklen_t len = sizeof(peer);
	if (bind(l, (struct sockaddr *)&peer, sizeof(peer)) || listen(l, 4) || getsockname(l, (struct sockaddr *)&peer, &len))
		return 3;
	sc_args[0] = AF_INET, sc_args[1] = SOCK_STREAM, sc_args[2] = 0;
	long s = int80(102, 1, (long)sc_args, 0);
	if (s < 0)
		return 4;
	sc_args[0] = s, sc_args[1] = (unsigned int)(long)&peer, sc_args[2] = sizeof(peer);
	long c = int80(102, 3, (long)sc_args, 0);
	if (c < 0)
		return 5;

	/* old mmap (90): an executable mapping of a file, arguments in memory. */
	int f = open(argv[2], O_RDONLY);
	if (f < 0)
		return 6;
	memset(sc_args, 0, sizeof(sc_args));
	sc_args[1] = 4096, sc_args[2] = PROT_READ | PROT_EXEC, sc_args[3] = MAP_PRIVATE, sc_args[4] = f;
	long m = int80(90, (long)sc_args, 0, 0);
	if (m < 0 && m > -4096)
		return 7;
	/* execve (11) through the ia32 entry, failing: the 64-bit execve tracepoints never see it. */
	exec_argv[0] = (unsigned int)(long)bad_exe, exec_argv[1] = (unsigned int)(long)arg1, exec_argv[2] = 0;
	if (int80(11, (long)bad_exe, (long)exec_argv, 0) != -2)
		return 8;
	printf("%d %ld %ld %d\n", getpid(), fd, s, ntohs(peer.sin_port));
	return 0;
}
