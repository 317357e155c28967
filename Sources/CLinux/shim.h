#ifndef MEDSYNC_CLINUX_SHIM_H
#define MEDSYNC_CLINUX_SHIM_H
#include <sys/prctl.h>
#include <sys/epoll.h>
#include <signal.h>

// sys/epoll.h: the workers wait for the listening socket with EPOLLEXCLUSIVE (Glibc does not export it).
// Swift cannot call the variadic prctl(2); this wrapper fixes the argument types for the one
// option the worker pool uses (a child asks for a signal when the master dies). No logic here.
static inline int medsync_prctl_set_pdeathsig(int sig) { return prctl(PR_SET_PDEATHSIG, (unsigned long)sig, 0UL, 0UL, 0UL); }
// si_pid is a macro into siginfo_t's unions, which Swift does not import: the sender of a signal.
static inline pid_t medsync_siginfo_pid(const siginfo_t *info) { return info->si_pid; }
#endif
