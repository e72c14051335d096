/* The supervisor's share of cgroup work; the TypeScript backends decide the paths. */
#ifndef JOBLET_CGROUPS_H
#define JOBLET_CGROUPS_H

#include <stddef.h>
#include <sys/types.h>

#include "supervisor.h"

/* Move the calling process into every dir (writes 0 to each cgroup.procs).
 * 0, or -errno with the failing dir in err. */
int cgroup_enter(const char *const *dirs, int n, char *err, size_t errlen);
/* Append "usage.NAME=CONTENT\n" for every usage file to out (newlines in CONTENT become ';'). */
size_t cgroup_snapshot(const struct job_spec *spec, char *out, size_t len);
/* Kill what is left and remove the job's cgroup directories, retrying while
 * exiting processes still populate them. 0, or -errno if one stayed. */
int cgroup_remove_all(const struct job_spec *spec);

#endif
