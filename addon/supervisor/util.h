/* Small file and process helpers shared by the supervisor's parts. */
#ifndef JOBLET_UTIL_H
#define JOBLET_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Write a whole string to a file opened O_WRONLY (cgroup and proc files). 0 or -errno. */
int write_file(const char *path, const char *text);
/* Read up to len-1 bytes, NUL-terminated. Bytes read, or -errno. */
ssize_t read_file(const char *path, char *buf, size_t len);
/* Write all of buf to fd, retrying short writes and EINTR. 0 or -errno. */
int write_all(int fd, const void *buf, size_t len);
/* Replace path with content atomically (temp file + rename): readers see old or new, never torn. */
int write_file_atomic(const char *path, const char *content, size_t len);
/* Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat): with the pid it names one process for good. */
unsigned long long process_start_time(pid_t pid);
uint64_t now_ms(void);
/* mkdir -p; mode for each created dir. 0 or -errno. */
int make_dirs(const char *path, mode_t mode);

#endif
