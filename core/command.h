/* command.h - running an argv (no shell) with its output read line by line: the
 * maintenance window's commands, and, through the host API, after-steps' commands. */
#ifndef RS_COMMAND_H
#define RS_COMMAND_H

#include "regsweep/module.h"

/* Runs argv (argv[0] looked up in PATH) with stdout and stderr on one pipe, calling
 * on_line(arg, line) for each non-empty line (may be NULL).  name is what messages call it
 * ("before command").  Returns RS_OK when it exited 0; else, with one line in err:
 * RS_ERR_IO when it could not be run or waited for ("garbage-collect: cannot run gc: No
 * such file or directory"), RS_ERR_FAILED when it exited non-zero or was killed ("after
 * command exited with status 4", "garbage-collect killed by signal 9 (Killed)"). */
enum rs_status command_run(char *const *argv, const char *name,
			   void (*on_line)(void *arg, const char *line), void *arg, char *err,
			   size_t errlen);

#endif
