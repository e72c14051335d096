/* One output stream of a job, pumped from its pipe into a capped log file. */
#ifndef JOBLET_LOGS_H
#define JOBLET_LOGS_H

#include <stdint.h>

struct log_stream {
  const char *name;   /* "stdout" / "stderr", for the truncation marker */
  int pipe_fd;        /* read end; -1 once at EOF */
  int file_fd;
  uint64_t max;       /* bytes kept in the file, marker excluded */
  uint64_t written;
  uint64_t dropped;
};

/* Open the log file (created, appended). 0 or -errno. */
int log_open(struct log_stream *s, const char *name, const char *path, int pipe_fd, uint64_t max);
/* Move what the pipe holds into the file. 1 while open, 0 at EOF, -errno when the pipe fails. */
int log_pump(struct log_stream *s);

#endif
