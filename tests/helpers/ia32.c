/* A 64-bit program that makes syscalls through the 32-bit entry (int 0x80),
 * the trick that slips past monitors watching only the 64-bit table. Built
 * -no-pie so its static buffers have 32-bit addresses. Prints its pid. */
#include <stdio.h>
#include <unistd.h>

static char path[256];

static long int80(long nr, long a, long b, long c)
{
	long ret;
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
	return ret;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	snprintf(path, sizeof(path), "%s", argv[1]);
	/* ia32 open(path, O_WRONLY|O_CREAT, 0600) = 5; close = 6; unlink = 10 */
	long fd = int80(5, (long)path, 01 | 0100, 0600);
	if (fd < 0)
		return 1;
	int80(6, fd, 0, 0);
	int80(10, (long)path, 0, 0);
	printf("%d %ld\n", getpid(), fd);
	return 0;
}
