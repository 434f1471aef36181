/* metrics.h - a run's outcome as a node_exporter textfile (Prometheus text format), for
 * alerts such as "regsweep has not succeeded for two days". */
#ifndef RS_METRICS_H
#define RS_METRICS_H

#include <stdint.h>

#include "plan.h"

/* What the run was and how it ended, beside the plan's figures. */
struct metrics_run {
	const char *command; /* "run" or "apply" */
	int exit_code;
	int dry_run;
	double started, ended; /* Unix seconds */
	int64_t reclaimed_bytes, reclaimed_disk_bytes; /* measured by an after-step; -1 */
};

/* Writes the metrics of p (may be NULL: the run failed before a plan) to path, atomically:
 * a new file beside it renamed over it, so the collector never reads half a file.  0, or
 * -1 with e set. */
int metrics_write(const char *path, const struct plan *p, const struct metrics_run *m,
		  struct rs_err *e);

#endif
