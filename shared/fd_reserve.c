/* The spare descriptor of listeners at their descriptor limit (fd_reserve.h). */
#include "fd_reserve.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

int rv_fd_reserve_open(void)
{
	return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

void rv_fd_reserve_shed(int listen_fd, int *reserve)
{
	if (*reserve < 0)
		return;
	close(*reserve);
	int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0)
		close(fd);
	*reserve = rv_fd_reserve_open();
}
