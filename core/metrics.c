/* metrics.c - the node_exporter textfile. */
#include "metrics.h"

#include <stdio.h>

/* Repositories get series of their own up to this many: a label per repository of a large
 * registry would swamp Prometheus. */
#define PER_REPO_MAX 50

/* A label value in the text format: backslash, double quote and newline escaped. */
static void label(struct buf *b, const char *value)
{
	for (const char *p = value; *p; p++) {
		if (*p == '\\' || *p == '"')
			buf_printf(b, "\\%c", *p);
		else if (*p == '\n')
			buf_append(b, "\\n", 2);
		else
			buf_append(b, p, 1);
	}
}

static void help(struct buf *b, const char *name, const char *type, const char *text)
{
	buf_printf(b, "# HELP regsweep_%s %s\n# TYPE regsweep_%s %s\n", name, text, name, type);
}

/* One sample: name{registry="...",...} value. */
static void sample(struct buf *b, const char *name, const char *registry, const char *repo,
		   double value)
{
	buf_printf(b, "regsweep_%s{registry=\"", name);
	label(b, registry);
	if (repo) {
		buf_append(b, "\",repository=\"", 14);
		label(b, repo);
	}
	buf_printf(b, "\"} %.17g\n", value);
}

static void render(struct buf *b, const struct plan *p, const struct metrics_run *m)
{
	const char *reg = p && p->registry ? p->registry : "";
	struct plan_totals t = {0};

	if (p)
		plan_totals(p, &t);
	help(b, "last_run_timestamp_seconds", "gauge", "When the last run ended.");
	sample(b, "last_run_timestamp_seconds", reg, NULL, m->ended);
	help(b, "last_run_success", "gauge", "1 when the last run exited 0.");
	sample(b, "last_run_success", reg, NULL, m->exit_code == 0);
	help(b, "last_run_exit_code", "gauge", "The last run's exit code.");
	sample(b, "last_run_exit_code", reg, NULL, m->exit_code);
	help(b, "last_run_duration_seconds", "gauge", "How long the last run took.");
	sample(b, "last_run_duration_seconds", reg, NULL, m->ended - m->started);
	help(b, "last_run_dry_run", "gauge", "1 when the last run deleted nothing on purpose.");
	sample(b, "last_run_dry_run", reg, NULL, m->dry_run);
	help(b, "repositories", "gauge", "Repositories the last run planned for.");
	sample(b, "repositories", reg, NULL, (double)t.repos);
	help(b, "repositories_untouched", "gauge", "Repositories left untouched (not scanned).");
	sample(b, "repositories_untouched", reg, NULL, (double)t.untouched);
	help(b, "tags_deleted", "gauge", "Tags the last run deleted.");
	sample(b, "tags_deleted", reg, NULL, (double)t.done_tags);
	help(b, "manifests_deleted", "gauge", "Manifests the last run deleted.");
	sample(b, "manifests_deleted", reg, NULL, (double)t.done);
	help(b, "manifests_skipped", "gauge", "Deletions skipped: the registry changed since the plan.");
	sample(b, "manifests_skipped", reg, NULL, (double)t.skipped);
	help(b, "manifests_failed", "gauge", "Deletions that failed.");
	sample(b, "manifests_failed", reg, NULL, (double)t.failed);
	help(b, "reclaimable_bytes", "gauge",
	     "The plan's estimate of what garbage collection frees (-1 unknown).");
	sample(b, "reclaimable_bytes", reg, NULL, p ? (double)p->reclaimable_bytes : -1);
	help(b, "reclaimed_bytes", "gauge",
	     "Blob data garbage collection measurably freed (-1 not measured).");
	sample(b, "reclaimed_bytes", reg, NULL, (double)m->reclaimed_bytes);
	help(b, "reclaimed_disk_bytes", "gauge", "Disk space it freed (-1 not measured).");
	sample(b, "reclaimed_disk_bytes", reg, NULL, (double)m->reclaimed_disk_bytes);
	if (!p || p->repo_count > PER_REPO_MAX)
		return;
	help(b, "repository_manifests_deleted", "gauge", "Manifests deleted, per repository.");
	for (size_t i = 0; i < p->repo_count; i++) {
		size_t done = 0;

		for (size_t k = 0; k < p->repos[i].deletion_count; k++)
			done += p->repos[i].deletions[k].done;
		sample(b, "repository_manifests_deleted", reg, p->repos[i].name, (double)done);
	}
}

int metrics_write(const char *path, const struct plan *p, const struct metrics_run *m,
		  struct rs_err *e)
{
	struct atomic_file f = {.fd = -1};
	struct buf text = {0};
	int rc;

	if (atomic_open(&f, path, e))
		return -1;
	render(&text, p, m);
	/* atomic_commit adds the last line's newline. */
	rc = atomic_commit(&f, text.data, text.len ? text.len - 1 : 0, e);
	buf_free(&text);
	return rc;
}
