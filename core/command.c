/* command.c - fork, exec, read the output, wait. */
#define _GNU_SOURCE /* strsignal */
#include "command.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int wait_child(pid_t pid, int *status)
{
	int rc;

	while ((rc = waitpid(pid, status, 0)) < 0 && errno == EINTR)
		;
	return rc < 0 ? -1 : 0;
}

static void close_pair(int fds[2])
{
	close(fds[0]);
	close(fds[1]);
}

enum rs_status command_run(char *const *argv, const char *name,
			   void (*on_line)(void *arg, const char *line), void *arg, char *err,
			   size_t errlen)
{
	int out[2], report[2]; /* the command's output; errno of a failed exec */
	int exec_errno, status = 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	pid_t pid;
	FILE *f;

	if (pipe(out) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return RS_ERR_IO;
	}
	if (pipe(report) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		close_pair(out);
		return RS_ERR_IO;
	}
	/* Close-on-exec everywhere: a successful exec closes report[1], which is how the
	 * parent tells it from a failed one; dup2 clears the flag on fds 1 and 2. */
	fcntl(out[0], F_SETFD, FD_CLOEXEC);
	fcntl(out[1], F_SETFD, FD_CLOEXEC);
	fcntl(report[0], F_SETFD, FD_CLOEXEC);
	fcntl(report[1], F_SETFD, FD_CLOEXEC);
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close_pair(out);
		close_pair(report);
		return RS_ERR_IO;
	}
	if (pid == 0) {
		int e;

		if (dup2(out[1], STDOUT_FILENO) >= 0 && dup2(out[1], STDERR_FILENO) >= 0)
			execvp(argv[0], argv);
		e = errno;
		if (write(report[1], &e, sizeof(e)) != (ssize_t)sizeof(e))
			_exit(126);
		_exit(127);
	}
	close(out[1]);
	close(report[1]);
	while ((len = read(report[0], &exec_errno, sizeof(exec_errno))) < 0 && errno == EINTR)
		;
	close(report[0]);
	if (len == (ssize_t)sizeof(exec_errno)) {
		close(out[0]);
		wait_child(pid, &status);
		snprintf(err, errlen, "%s: cannot run %s: %s", name, argv[0], strerror(exec_errno));
		return RS_ERR_IO;
	}
	f = fdopen(out[0], "r");
	if (!f) {
		/* Closing the pipe ends the command with SIGPIPE rather than leaving it stuck. */
		snprintf(err, errlen, "%s: reading %s: %s", name, argv[0], strerror(errno));
		close(out[0]);
		wait_child(pid, &status);
		return RS_ERR_IO;
	}
	while ((len = getline(&line, &cap, f)) >= 0) {
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len && on_line)
			on_line(arg, line);
	}
	free(line);
	fclose(f);
	/* Fails with ECHILD when the process ignores SIGCHLD: then the outcome is unknown. */
	if (wait_child(pid, &status) != 0) {
		snprintf(err, errlen, "%s: waiting for %s: %s", name, argv[0], strerror(errno));
		return RS_ERR_IO;
	}
	if (WIFSIGNALED(status)) {
		snprintf(err, errlen, "%s killed by signal %d (%s)", name, WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
		return RS_ERR_FAILED;
	}
	if (WEXITSTATUS(status) != 0) {
		snprintf(err, errlen, "%s exited with status %d", name, WEXITSTATUS(status));
		return RS_ERR_FAILED;
	}
	return RS_OK;
}
