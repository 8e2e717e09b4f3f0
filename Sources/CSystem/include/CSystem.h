#ifndef MOBILE_OPTIMIZER_CSYSTEM_H
#define MOBILE_OPTIMIZER_CSYSTEM_H

// System calls Swift's Glibc module does not expose.

/// Atomically swaps the files at `a` and `b` (Linux renameat2 with RENAME_EXCHANGE); both must
/// exist. Returns 0, or -1 with errno set (EINVAL or ENOSYS where the file system or kernel
/// cannot exchange, ENOENT when one is missing). Elsewhere always -1 with errno ENOSYS.
int mo_rename_exchange(const char *a, const char *b);

#endif
