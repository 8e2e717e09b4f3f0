#define _GNU_SOURCE
#include "CSystem.h"

#include <errno.h>
#include <stdio.h>

#if defined(__linux__)
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

int mo_rename_exchange(const char *a, const char *b) {
#if defined(__linux__) && defined(SYS_renameat2)
  // RENAME_EXCHANGE is 2; spelled out for C libraries whose headers predate it.
  return (int)syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, 2);
#else
  (void)a;
  (void)b;
  errno = ENOSYS;
  return -1;
#endif
}
