/* gc_distribution.c - after a sweep, run distribution's `registry garbage-collect` between
 * optional before/after commands, report what it reclaimed against the plan's estimate, and
 * have the core check that everything kept survived. */
#define _GNU_SOURCE /* memmem */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "regsweep/module.h"

/* A program the step runs: the collector, or a command around it. */
struct command {
	const char *name;   /* in messages: "garbage-collect", "before command" */
	const char *prefix; /* put before each line of its output in the log */
	char **argv;        /* NULL-terminated, the strings borrowed from the core; NULL: none */
};

struct gc {
	const struct rs_host_api *host;
	/* distribution wants the registry stopped or read-only while it collects (a push
	 * during GC can lose layers): before and after are where a stack arranges that. */
	struct command before, collect, after;
	const char *storage_root; /* NULL: do not measure */
	int verify;               /* ask the core to re-check what the run kept */
};

/* Shell syntax that separates words: a script given to "sh -c" is read word by word. */
#define WORD_BREAKS " \t\n;|&'\"()`"

/* Whether word, after "garbage-collect" was seen (*in_gc), asks for --delete-untagged. */
static int untagged_word(const char *word, size_t len, int *in_gc)
{
	if (len >= 17 && memmem(word, len, "--delete-untagged", 17))
		return 1;
	if (len == 15 && memcmp(word, "garbage-collect", 15) == 0) {
		*in_gc = 1;
		return 0;
	}
	if (!*in_gc || len < 2 || word[0] != '-' || word[1] == '-')
		return 0;
	/* A cluster of boolean shorthands such as "-dm"; stop at a letter that may take a
	 * value. */
	for (size_t i = 1; i < len && (word[i] == 'd' || word[i] == 'm'); i++)
		if (word[i] == 'm')
			return 1;
	return 0;
}

/* The argv element asking for distribution's --delete-untagged (or its -m shorthand after
 * "garbage-collect"), or NULL.  Each element is read as shell words too, so the flag
 * cannot hide in an "sh -c '...'" script. */
static const char *untagged_flag(char *const *argv)
{
	int in_gc = 0;

	for (size_t i = 0; argv[i]; i++) {
		const char *p = argv[i];

		while (*p) {
			size_t len = strcspn(p, WORD_BREAKS);

			if (untagged_word(p, len, &in_gc))
				return argv[i];
			p += len;
			p += strspn(p, WORD_BREAKS);
		}
	}
	return NULL;
}

/* What the storage holds: disk usage as du counts it, and the bytes of blob contents (the
 * files named "data"), which is what the plan's estimate counts. */
struct usage {
	unsigned long long disk, data;
};

/* Adds the usage of everything inside the directory open at fd: st_blocks * 512 per entry
 * as du does, symbolic links not followed, hard links counted each time (registry storage
 * has none).  Takes ownership of fd.  Returns 0 or -1 with errno set. */
static int du_dir(int fd, struct usage *total)
{
	DIR *d = fdopendir(fd);
	struct dirent *e;
	int saved = 0;

	if (!d) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	while (!saved && (e = readdir(d)) != NULL) {
		struct stat st;
		int sub;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			/* ENOENT: removed since readdir, so nothing to count. */
			if (errno != ENOENT)
				saved = errno;
			continue;
		}
		total->disk += (unsigned long long)st.st_blocks * 512;
		if (S_ISREG(st.st_mode) && strcmp(e->d_name, "data") == 0)
			total->data += (unsigned long long)st.st_size;
		if (!S_ISDIR(st.st_mode))
			continue;
		sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0 || du_dir(sub, total) != 0)
			saved = errno;
	}
	closedir(d);
	errno = saved;
	return saved ? -1 : 0;
}

/* Bytes used under storage_root, the directory itself included like du -s; logs a warning
 * and returns -1 when it cannot tell. */
static int measure(const struct gc *g, const struct rs_ctx *ctx, struct usage *total)
{
	struct stat st;

	*total = (struct usage){0, 0};
	if (stat(g->storage_root, &st) == 0) {
		int fd = open(g->storage_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		total->disk = (unsigned long long)st.st_blocks * 512;
		if (fd >= 0 && du_dir(fd, total) == 0)
			return 0;
	}
	g->host->log(ctx, RS_LOG_WARN, "cannot measure storage_root %s: %s", g->storage_root,
		     strerror(errno));
	return -1;
}

static void format_size(unsigned long long bytes, char *out, size_t outlen)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	double v = (double)bytes / 1024;
	size_t u = 0;

	if (bytes < 1024) {
		snprintf(out, outlen, "%llu B", bytes);
		return;
	}
	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	snprintf(out, outlen, "%.1f %s", v, units[u]);
}

/* What run_command's lines go to: the log, and for the collector the blobs it counts. */
struct lines {
	const struct gc *g;
	const struct rs_ctx *ctx;
	const struct command *c;
	size_t *eligible;
};

static void on_line(void *arg, const char *line)
{
	struct lines *l = arg;

	/* One "blob eligible for deletion: sha256:..." line per blob; 2.8's tally line ("21
	 * blobs marked, 9 blobs and 0 manifests eligible for deletion") has no colon and must
	 * not count. */
	if (l->eligible && strstr(line, "blob eligible for deletion: "))
		(*l->eligible)++;
	/* The collector says a line per blob: all of it with -v, the tally otherwise. */
	l->g->host->log(l->ctx, RS_LOG_DEBUG, "%s%s", l->c->prefix, line);
}

/* Runs c (nothing when it is not given) through the core, logging each line of its
 * output; for the collector, counts the blobs it reports eligible for deletion into
 * *eligible (NULL for the other commands). */
static enum rs_status run_command(const struct gc *g, const struct rs_ctx *ctx,
				  const struct command *c, size_t *eligible, char *err,
				  size_t errlen)
{
	struct lines l = {g, ctx, c, eligible};

	if (!c->argv)
		return RS_OK;
	return g->host->run_command(ctx, c->argv, c->name, on_line, &l, err, errlen);
}

/* Logs the one-line result: the blobs the collector named, the storage before and after
 * when measured, and the plan's estimate of what it would free when the core made one. */
static void report(const struct gc *g, const struct rs_ctx *ctx,
		   const struct rs_run_summary *summary, size_t eligible, int measured,
		   const struct usage *before, const struct usage *after)
{
	char estimate[64] = "", tail[320] = "", b[32], a[32], d[32], f[32];

	if (summary->reclaimable_bytes >= 0) {
		format_size((unsigned long long)summary->reclaimable_bytes, b, sizeof(b));
		snprintf(estimate, sizeof(estimate), "plan estimated %s%s",
			 summary->reclaimable_upper_bound ? "at most " : "", b);
	}
	if (measured) {
		int shrank = after->disk <= before->disk;

		format_size(before->disk, b, sizeof(b));
		format_size(after->disk, a, sizeof(a));
		format_size(shrank ? before->disk - after->disk : after->disk - before->disk, d,
			    sizeof(d));
		/* Blob data is what the estimate counts; the disk adds blocks and link files. */
		format_size(after->data <= before->data ? before->data - after->data : 0, f,
			    sizeof(f));
		snprintf(tail, sizeof(tail), "; storage %s -> %s (%s %s on disk, %s of blob data%s%s)",
			 b, a, shrank ? "reclaimed" : "grew", d, f, estimate[0] ? "; " : "",
			 estimate);
		g->host->reclaimed(ctx,
				   after->data <= before->data ? (int64_t)(before->data - after->data) : 0,
				   shrank ? (int64_t)(before->disk - after->disk) : 0);
	} else if (estimate[0]) {
		snprintf(tail, sizeof(tail), "; %s", estimate);
	}
	g->host->log(ctx, RS_LOG_RESULT, "gc: %zu blob%s eligible for deletion%s", eligible,
		     eligible == 1 ? "" : "s", tail);
}

/* Measures, collects, measures again and reports. */
static enum rs_status collect(const struct gc *g, const struct rs_ctx *ctx,
			      const struct rs_run_summary *summary, char *err, size_t errlen)
{
	struct usage before = {0, 0}, after = {0, 0};
	size_t eligible = 0;
	enum rs_status st;
	int measured;

	measured = g->storage_root && measure(g, ctx, &before) == 0;
	st = run_command(g, ctx, &g->collect, &eligible, err, errlen);
	if (st != RS_OK)
		return st;
	if (measured)
		measured = measure(g, ctx, &after) == 0;
	report(g, ctx, summary, eligible, measured, &before, &after);
	return RS_OK;
}

/* GC deletes what nothing references any more, so a graph the plan misread shows here:
 * every kept tag, its children and their blobs must still answer.  The core logs what it
 * checked. */
static enum rs_status verify(const struct gc *g, const struct rs_ctx *ctx, char *err,
			     size_t errlen)
{
	char why[320] = "";

	if (!g->verify)
		return RS_OK;
	if (g->host->verify_kept(ctx, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "post-GC validation failed: %s",
			 why[0] ? why : "no reason given");
		return RS_ERR_FAILED;
	}
	return RS_OK;
}

static enum rs_status gc_after(const struct rs_ctx *ctx, void *state,
			       const struct rs_run_summary *summary, char *err, size_t errlen)
{
	const struct gc *g = state;
	enum rs_status st;
	char msg[256];

	if (summary->dry_run) {
		g->host->log(ctx, RS_LOG_INFO, "dry run: garbage collection skipped");
		return RS_OK;
	}
	/* The stack's maintenance window already holds the registry: collect inside it, and
	 * leave validation to the core once the registry is back. */
	if (summary->maintenance_window)
		return collect(g, ctx, summary, err, errlen);
	st = run_command(g, ctx, &g->before, NULL, err, errlen);
	if (st != RS_OK)
		return st;
	st = collect(g, ctx, summary, err, errlen);
	/* After runs whatever the collector did: it is what brings the registry back.  The
	 * collector's failure is the one to report; after's own goes to the log. */
	if (st == RS_OK)
		st = run_command(g, ctx, &g->after, NULL, err, errlen);
	else if (run_command(g, ctx, &g->after, NULL, msg, sizeof(msg)) != RS_OK)
		g->host->log(ctx, RS_LOG_ERROR, "%s", msg);
	if (st != RS_OK)
		return st;
	return verify(g, ctx, err, errlen);
}

static void gc_fini(void *state)
{
	struct gc *g = state;

	if (!g)
		return;
	free(g->before.argv);
	free(g->collect.argv);
	free(g->after.argv);
	free(g);
}

/* Reads the list argument arg into c->argv, leaving it NULL when absent or empty, and refuses
 * --delete-untagged: a command around the collector could run it just as well. */
static enum rs_status read_command(const struct rs_ctx *ctx, const struct rs_host_api *host,
				   const char *arg, struct command *c, char *err, size_t errlen)
{
	size_t n = host->arg_list_count(ctx, arg);
	const char *flag;

	if (n == 0)
		return RS_OK;
	c->argv = calloc(n + 1, sizeof(*c->argv));
	if (!c->argv) {
		snprintf(err, errlen, "out of memory");
		return RS_ERR_NOMEM;
	}
	/* execvp wants char *const[]; the strings are only read. */
	for (size_t i = 0; i < n; i++)
		c->argv[i] = (char *)host->arg_list_item(ctx, arg, i);
	flag = untagged_flag(c->argv);
	if (flag) {
		/* The offending element goes last: a long "sh -c" script may be cut. */
		snprintf(err, errlen,
			 "%s must not use --delete-untagged (-m): on distribution 2.8 it also "
			 "deletes the child manifests of multi-arch images that are still tagged "
			 "(distribution #3004, #3178), and regsweep deletes index children itself; "
			 "found in \"%s\"",
			 arg, flag);
		return RS_ERR_ARGS;
	}
	return RS_OK;
}

static enum rs_status gc_init(const struct rs_ctx *ctx, const struct rs_host_api *host,
			      void **state, char *err, size_t errlen)
{
	enum rs_status st;
	struct stat st_root;
	struct gc *g = calloc(1, sizeof(*g));

	if (!g) {
		snprintf(err, errlen, "out of memory");
		return RS_ERR_NOMEM;
	}
	g->host = host;
	g->before = (struct command){"before command", "before: ", NULL};
	g->collect = (struct command){"garbage-collect", "", NULL};
	g->after = (struct command){"after command", "after: ", NULL};
	g->verify = 1;
	host->arg_bool(ctx, "verify", &g->verify);
	st = read_command(ctx, host, "command", &g->collect, err, errlen);
	if (st == RS_OK && !g->collect.argv) {
		snprintf(err, errlen, "command must list the program and its arguments, e.g. "
				      "[\"registry\", \"garbage-collect\", \"config.yml\"]");
		st = RS_ERR_ARGS;
	}
	if (st == RS_OK)
		st = read_command(ctx, host, "before", &g->before, err, errlen);
	if (st == RS_OK)
		st = read_command(ctx, host, "after", &g->after, err, errlen);
	if (st != RS_OK) {
		gc_fini(g);
		return st;
	}
	/* Only a warning: a dry run may check a stack on a machine without the storage. */
	if (host->arg_string(ctx, "storage_root", &g->storage_root)) {
		if (stat(g->storage_root, &st_root) != 0)
			host->log(ctx, RS_LOG_WARN, "storage_root %s: %s", g->storage_root,
				  strerror(errno));
		else if (!S_ISDIR(st_root.st_mode))
			host->log(ctx, RS_LOG_WARN, "storage_root %s: not a directory",
				  g->storage_root);
	}
	*state = g;
	return RS_OK;
}

static const struct rs_arg_spec gc_args[] = {
	{"command", RS_ARG_STRING_LIST, 1,
	 "garbage-collect command as an argv list, run without a shell"},
	{"storage_root", RS_ARG_STRING, 0,
	 "registry storage directory to measure before and after, on this machine"},
	{"before", RS_ARG_STRING_LIST, 0,
	 "argv run first, e.g. to make the registry read-only or stop it; failing stops the "
	 "step"},
	{"after", RS_ARG_STRING_LIST, 0,
	 "argv run after garbage-collect, also when it failed, e.g. to restart the registry"},
	{"verify", RS_ARG_BOOL, 0,
	 "re-check every kept tag, its children and blobs after GC (default true)"},
	{NULL, 0, 0, NULL},
};

RS_MODULE_EXPORT const struct rs_module regsweep_module = {
	RS_MODULE_HEADER,
	.name = "gc_distribution",
	.summary = "run distribution's registry garbage-collect after a sweep, report the space "
		   "reclaimed and check that what was kept survived",
	.kind = RS_KIND_AFTER,
	.args = gc_args,
	.init = gc_init,
	.after = gc_after,
	.fini = gc_fini,
};
