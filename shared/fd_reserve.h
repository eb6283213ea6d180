/* A spare descriptor that lets a listener out of descriptors (EMFILE,
 * ENFILE) still take the pending connection off its backlog and close it:
 * otherwise the listener stays readable and poll()/epoll spin on it. Used
 * by the data plane's agent socket and TCP fallback. */
#ifndef RV_FD_RESERVE_H
#define RV_FD_RESERVE_H

/* Opens a reserve descriptor (/dev/null): the fd, or -1. */
int rv_fd_reserve_open(void);

/* Out of descriptors on @listen_fd: gives up *@reserve, accepts one
 * pending connection and closes it, and takes a reserve again (-1 in
 * *@reserve if that failed; the next call does nothing but return). */
void rv_fd_reserve_shed(int listen_fd, int *reserve);

#endif
