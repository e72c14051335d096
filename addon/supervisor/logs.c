#define _GNU_SOURCE
#include "logs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

int log_open(struct log_stream *s, const char *name, const char *path, int pipe_fd, uint64_t max) {
  s->name = name;
  s->pipe_fd = pipe_fd;
  s->max = max;
  s->written = 0;
  s->dropped = 0;
  s->file_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (s->file_fd < 0) return -errno;
  /* A re-run appending to an existing file still gets the whole cap. */
  return 0;
}

/* Output past the cap is counted, not kept; one line in the file says so. */
static void keep(struct log_stream *s, const char *buf, size_t len) {
  uint64_t room = s->written < s->max ? s->max - s->written : 0;
  size_t kept = len < room ? len : (size_t)room;
  if (kept > 0) {
    /* A full disk must not stall or kill the job: what cannot be written is
     * counted as dropped, like output past the cap. */
    if (write_all(s->file_fd, buf, kept) < 0) {
      s->dropped += len;
      return;
    }
    s->written += kept;
  }
  if (kept < len) {
    if (s->dropped == 0) {
      char marker[160];
      int n = snprintf(marker, sizeof marker,
                       "\n[joblet] %s reached its cap of %llu bytes; further output is dropped and counted\n", s->name,
                       (unsigned long long)s->max);
      write_all(s->file_fd, marker, (size_t)n);
    }
    s->dropped += len - kept;
  }
}

int log_pump(struct log_stream *s) {
  static char buf[65536];
  for (;;) {
    ssize_t n = read(s->pipe_fd, buf, sizeof buf);
    if (n > 0) {
      keep(s, buf, (size_t)n);
      if ((size_t)n < sizeof buf) return 1;
      continue;
    }
    if (n == 0) {
      close(s->pipe_fd);
      s->pipe_fd = -1;
      return 0;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return 1;
    return -errno;
  }
}
