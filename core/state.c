/* state.c - the state directory and the per-registry lock. */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* mkdir -p, each level 0700. */
static int make_dirs(char *dir, struct rs_err *e)
{
	struct stat st;

	for (char *p = dir + 1;; p++) {
		char c = *p;

		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			err_set(e, "cannot create %s: %s", dir, strerror(errno));
			*p = c;
			return -1;
		}
		*p = c;
		if (!c)
			break;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		err_set(e, "%s: not a directory", dir);
		return -1;
	}
	return 0;
}

char *state_dir(struct rs_err *e)
{
	const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	char *dir;

	/* The XDG base directory spec has a relative path in the variable ignored. */
	if (state && state[0] == '/')
		dir = xasprintf("%s/regsweep", state);
	else if (home && home[0] == '/')
		dir = xasprintf("%s/.local/state/regsweep", home);
	else {
		err_set(e, "neither XDG_STATE_HOME nor HOME names a state directory");
		return NULL;
	}
	if (make_dirs(dir, e) != 0) {
		free(dir);
		return NULL;
	}
	return dir;
}

int state_lock(const char *url, int *busy, struct rs_err *e)
{
	char hash[UTIL_SHA256_LEN], *dir, *path, holder[32] = "";
	size_t len = strlen(url);
	int fd;

	*busy = 0;
	while (len && url[len - 1] == '/') /* the same registry as util_same_url sees it */
		len--;
	util_sha256(url, len, hash);
	dir = state_dir(e);
	if (!dir)
		return -1;
	path = xasprintf("%s/lock-%.16s", dir, hash + 7);
	free(dir);
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		err_set(e, "%s: cannot open the lock: %s", path, strerror(errno));
	} else if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		ssize_t n = errno == EWOULDBLOCK ? pread(fd, holder, sizeof(holder) - 1, 0) : -1;

		*busy = n >= 0;
		holder[n > 0 ? strcspn(holder, "\n") : 0] = '\0';
		if (*busy)
			err_set(e, "another regsweep (pid %s) is working on %s; nothing was done "
				   "(lock %s)",
				holder[0] ? holder : "unknown", url, path);
		else
			err_set(e, "%s: cannot take the lock: %s", path, strerror(errno));
		close(fd);
		fd = -1;
	} else {
		char pid[32];
		int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());

		/* Who holds it, for the message the next one prints. */
		if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n)
			log_msg(RS_LOG_WARN, "%s: cannot note this process in the lock: %s", path,
				strerror(errno));
	}
	free(path);
	return fd;
}

void state_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}
