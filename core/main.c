/* main.c - the regsweep command line: plan, apply, run, modules. */
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dlfcn.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "command.h"
#include "http.h"
#include "json.h"
#include "journal.h"
#include "loader.h"
#include "offline.h"
#include "log.h"
#include "plan.h"
#include "registry.h"
#include "report.h"
#include "metrics.h"
#include "host.h"
#include "state.h"
#include "sweep.h"

#define PLAN_CLOCK_SKEW 300 /* seconds a plan may seem to come from the future */

#ifndef RS_VERSION
#define RS_VERSION "0"
#endif

struct cli {
	struct sweep_opts sweep;
	const char *output; /* -o PLAN.json */
	const char *journal; /* --journal FILE */
	int json;           /* --format json */
	int dry_run;
	int force;            /* --force: apply even when guards refuse */
	int64_t max_plan_age; /* --max-plan-age, seconds */
	const char *max_plan_age_text;
	int verbose;
	size_t top; /* --top N: report the first N repositories only; 0: all */
	const char *images; /* decide --images FILE.json */
	int lock;           /* the registry's lock, held by apply, run and undo; -1 */
	const char *metrics; /* --metrics FILE: node_exporter textfile */
	double started;      /* Unix seconds */
	int64_t now;        /* decide --now TIME; RS_TIME_UNKNOWN: the file's, else the clock */
	char **args; /* positional arguments */
	int arg_count;
};

struct command {
	const char *name;
	const char *usage;
	const char *options; /* the option letters this command accepts (see option_help) */
	int args;            /* positional arguments it needs */
	int needs_stack;     /* -c STACK is required */
	int (*run)(struct cli *c);
	const char *summary; /* what it does, for help */
	const char *example;
};

static const struct option long_options[] = {
	{"config", required_argument, NULL, 'c'},
	{"output", required_argument, NULL, 'o'},
	{"format", required_argument, NULL, 'f'},
	{"registry", required_argument, NULL, 'r'},
	{"module-dir", required_argument, NULL, 'm'},
	{"concurrency", required_argument, NULL, 'j'},
	{"dry-run", no_argument, NULL, 'n'},
	{"force", no_argument, NULL, 'F'},
	{"max-plan-age", required_argument, NULL, 'A'},
	{"journal", required_argument, NULL, 'J'},
	{"top", required_argument, NULL, 'T'},
	{"images", required_argument, NULL, 'I'},
	{"now", required_argument, NULL, 'N'},
	{"metrics", required_argument, NULL, 'M'},
	{"log-format", required_argument, NULL, 'L'},
	{"verbose", no_argument, NULL, 'v'},
	{"quiet", no_argument, NULL, 'q'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* With --format json, stdout carries one JSON document, whatever happens.  What a command
 * says beyond its document (its run's outcome, the first error) is gathered here and goes
 * into it; a command that fails before it has one gets an error document instead. */
static struct {
	int on;       /* --format json */
	int printed;  /* the command's document is out */
	cJSON *extra; /* members for it: "run", "error" */
} json_out;

static void json_extra(const char *name, cJSON *value)
{
	if (!json_out.extra)
		json_out.extra = cJSON_CreateObject();
	if (cJSON_HasObjectItem(json_out.extra, name))
		cJSON_Delete(value); /* the first error wins */
	else
		cJSON_AddItemToObject(json_out.extra, name, value);
}

/* Prints a JSON document's text and notes that it is out. */
static void json_print(char *text)
{
	puts(text);
	free(text);
	json_out.printed = 1;
}

/* The document of a command that failed before it had its own. */
static void json_print_error(int rc)
{
	cJSON *doc = cJSON_CreateObject();
	cJSON *err = cJSON_DetachItemFromObjectCaseSensitive(json_out.extra, "error");

	if (!err) { /* failed without a word on stderr: say what the exit code says */
		err = cJSON_CreateObject();
		cJSON_AddNumberToObject(err, "exit_code", rc);
		cJSON_AddStringToObject(err, "message", "failed: see the messages on stderr");
	}
	cJSON_AddNumberToObject(doc, "version", 1);
	cJSON_AddItemToObject(doc, "error", err);
	json_print(json_text(doc, 1));
	cJSON_Delete(doc);
}

static int fail(int code, const char *fmt, ...) RS_FMT(2, 3);

/* One error line on stderr (errors are never quiet) and the exit code. */
static int fail(int code, const char *fmt, ...)
{
	struct buf msg = {0};
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	log_msg(RS_LOG_ERROR, "%s", msg.data ? msg.data : "");
	if (json_out.on) {
		cJSON *err = cJSON_CreateObject();

		cJSON_AddNumberToObject(err, "exit_code", code);
		cJSON_AddStringToObject(err, "message", msg.data ? msg.data : "");
		json_extra("error", err);
	}
	buf_free(&msg);
	return code;
}

static int stdout_sink(void *arg, const char *text, size_t n)
{
	(void)arg;
	return fwrite(text, 1, n, stdout) == n ? 0 : -1;
}

struct fd_out {
	int fd;
	int err; /* the errno of a failed write */
};

static int fd_sink(void *arg, const char *text, size_t n)
{
	struct fd_out *o = arg;

	if (util_write_all(o->fd, text, n) == 0)
		return 0;
	o->err = errno;
	return -1;
}

static void print_plan(const struct plan *p, const struct cli *c, int with_results)
{
	struct jw w;

	if (!c->json) {
		plan_print_text(p, stdout, c->verbose, with_results);
		return;
	}
	jw_init(&w, stdout_sink, NULL);
	plan_write(p, with_results, json_out.extra, &w);
	putchar('\n');
	json_out.printed = 1;
}

/* What run and apply did beyond the plan, for the JSON document. */
static void json_run(const struct cli *c, const char *journal, size_t after_steps)
{
	struct host_reclaimed r = host_reclaimed_get();
	cJSON *run = cJSON_CreateObject();

	cJSON_AddBoolToObject(run, "dry_run", c->dry_run);
	cJSON_AddItemToObject(run, "journal",
			      journal ? cJSON_CreateString(journal) : cJSON_CreateNull());
	cJSON_AddNumberToObject(run, "after_steps", (double)after_steps);
	cJSON_AddItemToObject(run, "reclaimed_bytes", r.blob_bytes >= 0
							  ? cJSON_CreateNumber((double)r.blob_bytes)
							  : cJSON_CreateNull());
	cJSON_AddItemToObject(run, "reclaimed_disk_bytes",
			      r.disk_bytes >= 0 ? cJSON_CreateNumber((double)r.disk_bytes)
						: cJSON_CreateNull());
	json_extra("run", run);
}

/* The guards' verdict on a plan: 0, or exit code 3 with one line when they refuse it. */
static int guard_result(struct plan *p, const struct cli *c)
{
	size_t guarded = plan_check_guards(p);

	if (!guarded || c->force)
		return SWEEP_EXIT_OK;
	for (size_t i = 0; i < p->repo_count; i++) {
		if (!p->repos[i].guard)
			continue;
		return fail(SWEEP_EXIT_REFUSED,
			    "plan refused by the guards: %s %s%s; nothing was deleted; --force "
			    "overrides",
			    p->repos[i].name, p->repos[i].guard,
			    guarded > 1 ? " (and more repositories)" : "");
	}
	return SWEEP_EXIT_REFUSED;
}

/* A saved plan describes the registry as it was: refuse one older than --max-plan-age. */
static int age_result(const struct plan *p, const struct cli *c, const char *path)
{
	int64_t age = (int64_t)time(NULL) - p->created;

	/* A plan from the future is a clock or a forgery: either way not this registry now. */
	if (p->created != RS_CREATED_UNKNOWN && age < -PLAN_CLOCK_SKEW)
		return fail(SWEEP_EXIT_REFUSED,
			    "%s: the plan is dated %lld s in the future: make a new plan", path,
			    (long long)-age);
	if (p->created != RS_CREATED_UNKNOWN && age <= c->max_plan_age)
		return SWEEP_EXIT_OK;
	return fail(SWEEP_EXIT_REFUSED,
		    "%s: the plan is %s old, older than --max-plan-age %s: make a new plan",
		    path, p->created == RS_CREATED_UNKNOWN ? "of unknown age, so" : "too",
		    c->max_plan_age_text);
}

/* The registry an apply writes to: --registry, else the plan's.  A stack lends its
 * credentials only to its own registry: a plan for another one (made elsewhere, or edited
 * and sealed again) is refused unless --registry names the target.  The plan then names
 * the target, so the journal records where the DELETEs went. */
static int target_result(struct plan *p, const struct stack *s, const struct cli *c)
{
	if (c->sweep.registry) {
		free(p->registry);
		p->registry = xstrdup(c->sweep.registry);
	} else if (s->url && !util_same_url(s->url, p->registry)) {
		return fail(SWEEP_EXIT_USAGE,
			    "%s: the plan is for %s, but %s is for %s: pass --registry URL to say "
			    "which registry gets the stack's credentials; nothing was deleted",
			    c->args[0], p->registry, s->file, s->url);
	}
	log_msg(RS_LOG_INFO, "applying %s to %s", c->args[0], p->registry);
	return SWEEP_EXIT_OK;
}

/* One run at a time deletes from (or restores to) a registry: two overlapping nightly runs
 * would both delete and both collect garbage.  The lock is held until the process ends. */
static int take_lock(struct cli *c, const char *url)
{
	struct rs_err e = {{0}};
	int busy;

	c->lock = state_lock(url, &busy, &e);
	if (c->lock >= 0)
		return SWEEP_EXIT_OK;
	return fail(busy ? SWEEP_EXIT_BUSY : SWEEP_EXIT_USAGE, "%s", e.msg);
}

/* --metrics: the run's outcome for a node_exporter textfile collector; p may be NULL (the
 * run failed before it had a plan).  A file that cannot be written is an error of its own
 * but does not change a failure's exit code. */
static int write_metrics(const struct cli *c, const char *command, const struct plan *p,
			 int rc)
{
	struct host_reclaimed r = host_reclaimed_get();
	struct metrics_run m = {command, rc, c->dry_run, c->started, util_now(),
				r.blob_bytes, r.disk_bytes};
	struct rs_err e = {{0}};

	if (!c->metrics || metrics_write(c->metrics, p, &m, &e) == 0)
		return rc;
	fail(SWEEP_EXIT_FAILED, "%s", e.msg);
	return rc ? rc : SWEEP_EXIT_FAILED;
}

static int concurrency_of(const struct cli *c, const struct stack *s)
{
	return c->sweep.concurrency > 0 ? c->sweep.concurrency : s->concurrency;
}

/* Loads the stack (the caller sweep_releases it, also on failure) and connects to its
 * registry; returns an exit code (0 on success) and leaves the connection in *reg (NULL on
 * failure). */
static int open_stack(struct cli *c, struct stack *s, struct registry **reg)
{
	struct rs_err e = {{0}};
	const char *url;
	int rc;

	*reg = NULL;
	if (sweep_load(&c->sweep, s, &e))
		return fail(SWEEP_EXIT_USAGE, "%s", e.msg);
	url = sweep_url(&c->sweep, s, &e);
	if (!url)
		return fail(SWEEP_EXIT_USAGE, "%s", e.msg);
	if (c->sweep.will_delete && (rc = take_lock(c, url)) != SWEEP_EXIT_OK)
		return rc;
	rc = sweep_connect(url, concurrency_of(c, s), &s->net,
			   c->sweep.will_delete ? AUTH_WANT_DELETE : 0, reg, &e);
	if (rc != SWEEP_EXIT_OK)
		return fail(rc, "%s", e.msg);
	return SWEEP_EXIT_OK;
}

/* Loads the stack, connects and builds the plan; returns an exit code (0 on success) and
 * leaves the connection in *reg for an apply (NULL on failure). */
static int make_plan(struct cli *c, struct stack *s, struct plan *p, struct registry **reg)
{
	struct rs_err e = {{0}};
	struct atomic_file out = {.fd = -1};
	struct fd_out sink = {0};
	struct jw w;
	int rc;

	memset(s, 0, sizeof(*s)); /* the caller releases it whatever happens */
	*reg = NULL;
	/* Opened before the scan: a destination that cannot be written fails first. */
	if (c->output && atomic_open(&out, c->output, &e))
		return fail(SWEEP_EXIT_USAGE, "%s", e.msg);
	rc = open_stack(c, s, reg);
	if (rc != SWEEP_EXIT_OK) {
		atomic_abort(&out);
		return rc;
	}
	if (sweep_plan(&c->sweep, s, *reg, p, &e)) {
		atomic_abort(&out);
		return fail(SWEEP_EXIT_FAILED, "%s", e.msg);
	}
	if (!c->output)
		return SWEEP_EXIT_OK;
	sink.fd = out.fd;
	jw_init(&w, fd_sink, &sink);
	if (plan_write(p, 0, NULL, &w)) {
		err_set(&e, "%s: cannot write it: %s", c->output, strerror(sink.err));
		atomic_abort(&out);
		return fail(SWEEP_EXIT_FAILED, "%s", e.msg);
	}
	rc = atomic_commit(&out, "", 0, &e);
	return rc ? fail(SWEEP_EXIT_FAILED, "%s", e.msg) : SWEEP_EXIT_OK;
}

/* A repository that could not be scanned is left untouched: the run did not do all it was
 * asked to, so it ends with exit code 1 once the rest is done. */
static int scan_result(const struct plan *p)
{
	struct plan_totals t;

	plan_totals(p, &t);
	if (!t.untouched)
		return SWEEP_EXIT_OK;
	log_msg(RS_LOG_ERROR, "%zu of %zu repositories left untouched: they could not be scanned",
		t.untouched, t.repos);
	return SWEEP_EXIT_FAILED;
}

/* What plan and decide end with: the plan, untouched repositories (exit 1), then the
 * guards (exit 3).  Judged first, printed after, so the JSON document holds the refusal. */
static int plan_verdict(struct plan *p, const struct cli *c)
{
	int rc = scan_result(p);

	if (rc == SWEEP_EXIT_OK)
		rc = guard_result(p, c);
	print_plan(p, c, 0);
	return rc;
}

static int cmd_plan(struct cli *c)
{
	struct stack s;
	struct plan p = {0};
	struct registry *reg;
	int rc = make_plan(c, &s, &p, &reg);

	if (rc == SWEEP_EXIT_OK)
		rc = plan_verdict(&p, c);
	registry_close(reg);
	plan_free(&p);
	sweep_release(&s);
	return rc;
}

/* Read-only (the token scope asks for pull only): the stack lends its registry, connection
 * settings and repository filters; its policy plays no part. */
static int cmd_report(struct cli *c)
{
	const unsigned needs =
	    RS_NEED_DIGEST | RS_NEED_CREATED | RS_NEED_SIZE | REG_NEED_GRAPH | REG_NEED_LAYERS;
	struct stack s;
	struct registry *reg;
	struct reg_scan scan = {0};
	struct report r = {0};
	struct rs_err e = {{0}};
	char **names = NULL;
	size_t count = 0;
	int rc = open_stack(c, &s, &reg);

	if (rc != SWEEP_EXIT_OK)
		goto out;
	if (sweep_select(reg, &s, &names, &count, NULL, &e) ||
	    registry_scan(reg, names, count, needs, &scan, &e)) {
		rc = fail(SWEEP_EXIT_FAILED, "%s", e.msg);
		goto out;
	}
	log_msg(RS_LOG_DEBUG, "scan: %zu requests", registry_requests(reg));
	report_build(&scan, sweep_url(&c->sweep, &s, &e), &r);
	if (c->json) {
		json_print(report_to_json(&r, c->top));
	} else {
		report_print_text(&r, c->top, stdout);
	}
	if (r.failed) {
		log_msg(RS_LOG_ERROR, "%zu of %zu repositories could not be scanned", r.failed,
			r.count);
		rc = SWEEP_EXIT_FAILED;
	}
out:
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
	report_free(&r);
	registry_scan_free(&scan);
	registry_close(reg);
	sweep_release(&s);
	return rc;
}

static void print_applied(const struct plan *p)
{
	struct plan_totals t;

	plan_totals(p, &t);
	printf("deleted %zu of %zu manifests (%zu tags)", t.done, t.manifests, t.done_tags);
	if (t.failed)
		printf("; %zu failed", t.failed);
	if (t.skipped)
		printf("; %zu skipped (why: the warnings above)", t.skipped);
	if (t.manifests > t.done + t.failed + t.skipped)
		printf("; %zu not sent", t.manifests - t.done - t.failed - t.skipped);
	putchar('\n');
}

/* Where what was deleted is journaled: with the summary, on stderr when stdout is JSON. */
static void print_journal(const struct cli *c, const char *path, size_t after_steps_ran)
{
	char *line;

	if (!path)
		return;
	/* After a garbage collection the blobs of what was deleted are gone: undo would
	 * restore manifests that point at nothing. */
	if (after_steps_ran)
		line = xasprintf("journal: %s (after-steps ran: if one collected garbage, what was "
				 "deleted is gone for good and undo cannot bring it back)",
				 path);
	else
		line = xasprintf("journal: %s (regsweep undo %s restores what was deleted until "
				 "the garbage collector runs)",
				 path, path);
	if (c->json)
		log_msg(RS_LOG_RESULT, "%s", line);
	else
		puts(line);
	free(line);
}

/* Runs one command of the stack's maintenance window, its output logged with -v. */
static void window_line(void *arg, const char *line)
{
	log_msg(RS_LOG_DEBUG, "maintenance %s: %s", (const char *)arg, line);
}

static int window_run(const struct stack *s, int opening, struct rs_err *e)
{
	const char *which = opening ? "before" : "after";
	char *name = xasprintf("maintenance %s command", which), msg[400];
	enum rs_status st = command_run(opening ? s->window_before : s->window_after, name,
					window_line, (void *)which, msg, sizeof(msg));

	free(name);
	if (st == RS_OK)
		return 0;
	err_set(e, "%s: %s", s->window_location, msg);
	return -1;
}

/* Whether an after-step will run: something was deleted, or an entry says always. */
static int after_steps_due(const struct stack *s, const struct plan *p)
{
	struct plan_totals t;

	plan_totals(p, &t);
	for (size_t i = 0; !t.done && i < s->after_count; i++)
		if (s->after[i].always)
			return 1;
	return t.done > 0 && s->after_count > 0;
}

/* The deleting part of apply and run: the journal (--journal FILE, else a new file in the
 * state directory) written before each batch, apply's re-read (verify), the deletions and
 * the after-steps.  The stack's maintenance window goes around what needs the registry
 * stopped: the after-steps, and with delete = "storage" the deletions too; once it closes,
 * what was kept is validated through the API.  Returns an exit code: failures first, then
 * skipped deletions.  *journal_path: the journal's path (caller-owned) when something was
 * deleted, else NULL; *ran: the after-steps that ran. */
static int delete_and_after(const struct cli *c, struct stack *s, struct plan *p,
			    struct registry *reg, int verify, char **journal_path, size_t *ran)
{
	struct journal *journal = NULL;
	struct rs_err e = {{0}};
	struct plan_totals t;
	char *path = NULL;
	size_t failed = 0;
	int open = 0, rc;

	plan_totals(p, &t);
	if (t.manifests) {
		path = c->journal ? xstrdup(c->journal) : journal_default_path(&e);
		journal = path ? journal_open(path, &e) : NULL;
		if (!journal) {
			free(path);
			return fail(SWEEP_EXIT_USAGE, "%s; nothing was deleted", e.msg);
		}
	}
	if (verify)
		sweep_verify(reg, p, s->delete_in_storage);
	if (s->delete_in_storage && t.manifests) {
		if (window_run(s, 1, &e)) {
			failed = t.manifests;
			log_msg(RS_LOG_ERROR, "%s; nothing was deleted", e.msg);
		} else {
			open = 1;
		}
	}
	if (!failed)
		failed = sweep_apply(p, reg, journal, open ? s->storage_root : NULL);
	if (journal_close(journal, &e)) {
		log_msg(RS_LOG_ERROR, "%s", e.msg);
		failed++;
	}
	plan_totals(p, &t);
	*journal_path = t.done ? path : NULL;
	if (!t.done)
		free(path);
	rc = failed ? SWEEP_EXIT_FAILED : t.skipped ? SWEEP_EXIT_REFUSED : SWEEP_EXIT_OK;
	if (rc != SWEEP_EXIT_OK || t.untouched) {
		if (s->after_count)
			log_msg(RS_LOG_WARN, "after-steps skipped: the apply was not complete");
	} else {
		int due = after_steps_due(s, p); /* else sweep_after only says it skips them */

		if (due && !open && s->window_before && window_run(s, 1, &e) == 0)
			open = 1;
		if (due && s->window_before && !open)
			rc = fail(SWEEP_EXIT_FAILED, "%s; after-steps skipped", e.msg);
		else if (sweep_after(s, p, reg, 0, open, ran, &e))
			rc = fail(SWEEP_EXIT_FAILED, "%s", e.msg);
	}
	/* The registry comes back whatever happened inside the window. */
	if (open && window_run(s, 0, &e))
		return fail(SWEEP_EXIT_FAILED, "%s: the registry may still be stopped", e.msg);
	if (open && *ran && rc == SWEEP_EXIT_OK && sweep_verify_kept(p, reg, &e))
		rc = fail(SWEEP_EXIT_FAILED, "post-GC validation failed: %s", e.msg);
	else if (open && *ran && rc == SWEEP_EXIT_OK)
		log_msg(RS_LOG_INFO, "the maintenance window is closed and what was kept answers");
	return rc;
}

static int cmd_apply(struct cli *c)
{
	struct plan p = {0};
	struct stack s = {0};
	struct registry *reg = NULL;
	struct rs_err e = {{0}};
	char *journal = NULL;
	size_t ran = 0;
	int rc;

	/* A stack lends its connection settings (credentials, TLS) and its after-steps; its
	 * policy already made the plan. */
	netopts_init(&s.net);
	s.concurrency = 8;
	c->sweep.facts = SWEEP_FACTS_FILE; /* no scan here needs push times */
	if ((c->sweep.stack_path && sweep_load(&c->sweep, &s, &e)) ||
	    plan_read_file(c->args[0], &p, &e)) {
		rc = fail(SWEEP_EXIT_USAGE, "%s", e.msg);
		goto out;
	}
	rc = age_result(&p, c, c->args[0]);
	if (rc == SWEEP_EXIT_OK)
		rc = guard_result(&p, c);
	if (rc == SWEEP_EXIT_OK)
		rc = target_result(&p, &s, c);
	if (rc == SWEEP_EXIT_OK)
		rc = take_lock(c, p.registry);
	if (rc != SWEEP_EXIT_OK)
		goto out;
	rc = sweep_connect(p.registry, concurrency_of(c, &s), &s.net, AUTH_WANT_DELETE, &reg, &e);
	if (rc == SWEEP_EXIT_OK)
		rc = delete_and_after(c, &s, &p, reg, 1, &journal, &ran);
	else
		fail(rc, "%s", e.msg);
	if (c->json)
		json_run(c, journal, ran);
	print_plan(&p, c, 1);
	if (!c->json)
		print_applied(&p);
	print_journal(c, journal, ran);
out:
	rc = write_metrics(c, "apply", &p, rc);
	registry_close(reg);
	sweep_release(&s);
	free(journal);
	plan_free(&p);
	return rc;
}

static int cmd_run(struct cli *c)
{
	struct stack s;
	struct plan p = {0};
	struct registry *reg;
	struct rs_err e = {{0}};
	char *journal = NULL;
	size_t ran = 0;
	int rc;

	c->sweep.will_delete = !c->dry_run;
	rc = make_plan(c, &s, &p, &reg);

	if (rc != SWEEP_EXIT_OK)
		goto out;
	rc = guard_result(&p, c);
	if (rc != SWEEP_EXIT_OK) {
		if (c->json) /* a run document, every deletion "not attempted" */
			json_run(c, NULL, 0);
		print_plan(&p, c, c->json);
		goto out;
	}
	/* The plan is seconds old and made by this process: no re-resolution before apply. */
	if (!c->dry_run)
		rc = delete_and_after(c, &s, &p, reg, 0, &journal, &ran);
	else if (sweep_after(&s, &p, reg, 1, 0, &ran, &e))
		rc = fail(SWEEP_EXIT_FAILED, "%s", e.msg);
	if (rc == SWEEP_EXIT_OK)
		rc = scan_result(&p);
	if (c->json) /* one document, after-steps' outcome included */
		json_run(c, journal, ran);
	print_plan(&p, c, !c->dry_run);
	if (!c->json && !c->dry_run)
		print_applied(&p);
	print_journal(c, journal, ran);
out:
	rc = write_metrics(c, "run", &p, rc);
	free(journal);
	registry_close(reg);
	plan_free(&p);
	sweep_release(&s);
	return rc;
}

static const char *const need_names[] = {"digest", "created", "labels", "size", "pushed",
					  "untagged"};

/* One module as found: JSON for --format json, else a few lines of text.  shadowed_by: the
 * path of the copy of that name found earlier, which a stack naming it gets. */
static void show_module(const struct rs_module *d, const char *path, const char *shadowed_by,
			cJSON *list)
{
	char abi[16];
	struct buf needs = {0};

	snprintf(abi, sizeof(abi), "%u.%u", d->abi_version >> 16, d->abi_version & 0xffff);
	for (size_t i = 0; i < sizeof(need_names) / sizeof(need_names[0]); i++)
		if (d->needs & (1u << i))
			buf_printf(&needs, "%s%s", needs.len ? "," : "", need_names[i]);
	if (list) {
		cJSON *m = cJSON_CreateObject(), *args = cJSON_CreateArray(), *n = cJSON_CreateArray();

		cJSON_AddStringToObject(m, "name", d->name);
		cJSON_AddStringToObject(m, "kind", d->kind == RS_KIND_POLICY ? "policy" : "after");
		cJSON_AddStringToObject(m, "summary", d->summary ? d->summary : "");
		cJSON_AddStringToObject(m, "path", path);
		cJSON_AddStringToObject(m, "abi", abi);
		for (size_t i = 0; i < sizeof(need_names) / sizeof(need_names[0]); i++)
			if (d->needs & (1u << i))
				cJSON_AddItemToArray(n, cJSON_CreateString(need_names[i]));
		cJSON_AddItemToObject(m, "needs", n);
		for (const struct rs_arg_spec *a = d->args; a && a->name; a++) {
			cJSON *j = cJSON_CreateObject();

			cJSON_AddStringToObject(j, "name", a->name);
			cJSON_AddStringToObject(j, "type", loader_arg_type_name(a->type));
			cJSON_AddBoolToObject(j, "required", a->required);
			cJSON_AddStringToObject(j, "help", a->help ? a->help : "");
			cJSON_AddItemToArray(args, j);
		}
		cJSON_AddItemToObject(m, "args", args);
		cJSON_AddItemToObject(m, "shadowed_by",
				      shadowed_by ? cJSON_CreateString(shadowed_by) : cJSON_CreateNull());
		cJSON_AddItemToArray(list, m);
	} else {
		out_line(stdout, "%-18s %-6s %s", d->name, d->kind == RS_KIND_POLICY ? "policy" : "after",
			 d->summary ? d->summary : "");
		out_line(stdout, "%-18s %-6s %s (ABI %s%s%s)", "", "", path, abi,
			 needs.len ? "; needs " : "", needs.len ? needs.data : "");
		if (shadowed_by)
			out_line(stdout, "%-18s %-6s shadowed: a stack naming %s gets %s", "", "",
				 d->name, shadowed_by);
		for (const struct rs_arg_spec *a = d->args; a && a->name; a++)
			out_line(stdout, "    %-14s %-16s %s%s", a->name, loader_arg_type_name(a->type),
				 a->required ? "(required) " : "", a->help ? a->help : "");
	}
	buf_free(&needs);
}

static int so_file(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return n > 3 && strcmp(d->d_name + n - 3, ".so") == 0;
}

/* Every module in the search path, in the order a stack's name looks them up: a second
 * copy of a name is shown as shadowed by the first. */
static int cmd_modules(struct cli *c)
{
	char **dirs, **owned = NULL; /* the names and paths first's keys and values point at */
	size_t ndirs = loader_search_dirs(c->sweep.module_dir, NULL, &dirs), shown = 0, nowned = 0;
	struct strmap first = {0};
	cJSON *doc = c->json ? cJSON_CreateObject() : NULL, *list = NULL;

	if (doc) {
		cJSON_AddNumberToObject(doc, "version", 1);
		list = cJSON_AddArrayToObject(doc, "modules");
	}

	for (size_t i = 0; i < ndirs; i++) {
		struct dirent **ents;
		int n = scandir(dirs[i], &ents, so_file, alphasort);

		for (int k = 0; k < n; k++) {
			char *path = xasprintf("%s/%s", dirs[i], ents[k]->d_name);
			struct rs_err e = {{0}};
			const struct rs_module *d;
			int fresh;
			void **slot;
			void *h;

			if (loader_open_file(path, NULL, &h, &d, &e) == 0) {
				owned = xrealloc(owned, (nowned + 2) * sizeof(*owned));
				owned[nowned] = xstrdup(ents[k]->d_name);
				slot = strmap_slot(&first, owned[nowned++], &fresh);
				if (fresh)
					*slot = owned[nowned++] = xstrdup(path);
				show_module(d, path, fresh ? NULL : *slot, list);
				dlclose(h);
				shown++;
			} else {
				log_msg(RS_LOG_WARN, "%s", e.msg);
			}
			free(path);
		}
		for (int k = 0; k < n; k++)
			free(ents[k]);
		if (n >= 0)
			free(ents);
	}
	strmap_free(&first);
	for (size_t i = 0; i < nowned; i++)
		free(owned[i]);
	free(owned);
	loader_free_dirs(dirs, ndirs);
	if (!shown) {
		cJSON_Delete(doc);
		return fail(SWEEP_EXIT_USAGE, "no modules found");
	}
	if (doc) {
		json_print(json_text(doc, 1));
		cJSON_Delete(doc);
	}
	return SWEEP_EXIT_OK;
}

/* Where undo writes (*url) and which of the journal's entries it restores (those journaled
 * for *entries): where they were deleted from; elsewhere only when --registry says so
 * explicitly, never because a stack names another registry. */
static int undo_target(const struct cli *c, const struct stack *s, const struct journal_log *log,
		       const char **url, const char **entries)
{
	const char *path = c->args[0], *journaled = journal_registry(log);

	if (c->sweep.registry) {
		*url = c->sweep.registry;
		*entries = journaled ? journaled : c->sweep.registry;
		if (!util_same_url(*entries, *url))
			log_msg(RS_LOG_WARN, "%s: entries journaled for %s go to %s, as --registry "
					     "says",
				path, *entries, *url);
		return SWEEP_EXIT_OK;
	}
	if (!journaled)
		return fail(SWEEP_EXIT_USAGE,
			    "%s names more than one registry: pick one with --registry", path);
	if (s->url && !util_same_url(s->url, journaled))
		return fail(SWEEP_EXIT_USAGE,
			    "%s: its entries were deleted from %s, but %s is for %s: undo puts "
			    "them back where they were deleted from; --registry URL restores them "
			    "elsewhere",
			    path, journaled, s->file, s->url);
	*url = *entries = journaled;
	return SWEEP_EXIT_OK;
}

/* Puts back what an apply journaled.  A stack lends only its registry url and connection
 * settings; without it and --registry, the registry the journal names is used. */
static int cmd_undo(struct cli *c)
{
	const char *path = c->args[0], *url = NULL, *entries = NULL;
	struct journal_undo_result res;
	struct registry *reg = NULL;
	struct journal_log log = {0};
	struct stack s = {0};
	struct rs_err e = {{0}};
	int rc = SWEEP_EXIT_OK;

	netopts_init(&s.net);
	s.concurrency = 8;
	if (c->sweep.stack_path && stack_load(c->sweep.stack_path, &s, &e)) {
		rc = fail(SWEEP_EXIT_USAGE, "%s", e.msg);
		goto out;
	}
	if (journal_read(path, 1, &log, &e)) {
		rc = fail(SWEEP_EXIT_USAGE, "%s", e.msg);
		goto out;
	}
	if (!log.count && log.skipped) {
		rc = fail(SWEEP_EXIT_USAGE, "%s: not one entry can be restored (see the warnings "
					    "above); nothing was sent",
			  path);
		goto out;
	}
	if (!log.count) {
		printf("restored 0 manifests (0 tags) from %s: it holds nothing\n", path);
		goto out;
	}
	rc = undo_target(c, &s, &log, &url, &entries);
	if (rc == SWEEP_EXIT_OK)
		rc = take_lock(c, url);
	if (rc != SWEEP_EXIT_OK)
		goto out;
	rc = sweep_connect(url, concurrency_of(c, &s), &s.net, AUTH_WANT_PUSH, &reg, &e);
	if (rc != SWEEP_EXIT_OK) {
		fail(rc, "%s", e.msg);
		goto out;
	}
	rc = journal_undo(reg, &log, entries, &res, &e);
	if (rc) {
		rc = fail(rc, "%s", e.msg);
		goto out;
	}
	printf("restored %zu manifests (%zu tags) from %s", res.manifests, res.tags, path);
	if (res.failed)
		printf("; %zu failed", res.failed);
	if (res.other)
		printf("; %zu entries of other registries left alone", res.other);
	if (log.skipped)
		printf("; %zu lines could not be read (see the warnings)", log.skipped);
	putchar('\n');
	rc = res.failed || log.skipped ? SWEEP_EXIT_FAILED : SWEEP_EXIT_OK;
out:
	registry_close(reg);
	journal_log_free(&log);
	stack_free(&s);
	return rc;
}

/* Parse the stack and load its modules, no network: what a policy author runs first. */
static int cmd_check(struct cli *c)
{
	struct stack s;
	struct rs_err e = {{0}};
	size_t entries = 0;

	c->sweep.facts = SWEEP_FACTS_UNCHECKED;
	if (sweep_load(&c->sweep, &s, &e)) {
		sweep_release(&s);
		return fail(SWEEP_EXIT_USAGE, "%s", e.msg);
	}
	for (size_t i = 0; i < s.policy_count; i++)
		entries += s.policies[i].count;
	printf("%s: ok: %zu polic%s, %zu policy entries, %zu after-steps\n", s.file,
	       s.policy_count, s.policy_count == 1 ? "y" : "ies", entries, s.after_count);
	sweep_release(&s);
	return SWEEP_EXIT_OK;
}

/* The stack's verdicts for images described in a file, no network: what a policy or a
 * module is tested against.  The guards are checked as a plan would. */
static int cmd_decide(struct cli *c)
{
	struct stack s;
	struct plan p = {0};
	struct reg_scan scan = {0};
	struct rs_err e = {{0}};
	int64_t now = (int64_t)time(NULL);
	int rc = SWEEP_EXIT_OK;

	c->sweep.facts = SWEEP_FACTS_FILE;
	if (sweep_load(&c->sweep, &s, &e)) {
		rc = fail(SWEEP_EXIT_USAGE, "%s", e.msg);
		goto out;
	}
	if (offline_read(c->images, "decide", &scan, &now, &e)) {
		rc = fail(SWEEP_EXIT_USAGE, "%s", e.msg);
		goto out;
	}
	if (c->now != RS_TIME_UNKNOWN)
		now = c->now;
	p.registry = xstrdup("offline");
	p.stack = xstrdup(s.file);
	p.created = now;
	p.reclaimable_bytes = -1;
	p.guards = (struct plan_guards){s.max_delete_percent, s.min_keep};
	for (size_t i = 0; i < scan.count; i++) {
		if (!sweep_policy_for(&s, scan.repos[i].name)) {
			log_msg(RS_LOG_INFO, "%s: no policy is for it: untouched", scan.repos[i].name);
			continue;
		}
		sweep_decide(&s, &scan.repos[i], now, plan_add_repo(&p, scan.repos[i].name));
	}
	plan_check_guards(&p);
	c->verbose = 1; /* every verdict: that is what decide is for */
	rc = plan_verdict(&p, c);
out:
	plan_free(&p);
	registry_scan_free(&scan);
	sweep_release(&s);
	return rc;
}

static const struct command commands[] = {
	{"plan", "plan -c STACK [-o PLAN.json]", "cofrmjvqhL", 0, 1, cmd_plan,
	 "Scan the registry and print what the stack would delete, and why; read-only. With -o,\n"
	 "also write the plan file to review and then apply.",
	 "regsweep plan -c nightly.stack -o plan.json"},
	{"apply", "apply PLAN.json [-c STACK]", "cfrmjvqhFAJML", 1, 0, cmd_apply,
	 "Delete exactly what a saved plan says, after re-reading the registry: a deletion whose\n"
	 "digest gained a tag since, or that a new index needs, is skipped. The stack lends its\n"
	 "credentials and runs its after-steps once the apply is complete.",
	 "regsweep apply plan.json -c nightly.stack --journal /var/lib/regsweep/j.jsonl"},
	{"run", "run -c STACK [--dry-run]", "cofrmjnvqhFJML", 0, 1, cmd_run,
	 "Plan, apply and run the after-steps (such as the garbage collector) in one go.",
	 "regsweep run -c nightly.stack --metrics /var/lib/node-exporter/regsweep.prom"},
	{"undo", "undo JOURNAL [-c STACK]", "crjvqhL", 1, 0, cmd_undo,
	 "Put back what an apply or run deleted, from its journal, until the registry's\n"
	 "garbage collector has run: every tag on its old digest, unless pushed again since.",
	 "regsweep undo ~/.local/state/regsweep/journal-20260101T020000Z-4242.jsonl"},
	{"report", "report -c STACK [--top N]", "cfrmjvqhTL", 0, 1, cmd_report,
	 "Per repository: tags, manifests, total and unique bytes, oldest and newest image;\n"
	 "read-only, ranked by what deleting the repository would free.",
	 "regsweep report -c nightly.stack --top 10"},
	{"modules", "modules [--module-dir DIR]", "mfvqhL", 0, 0, cmd_modules,
	 "List the modules found, in search order, with their arguments, ABI and needs.",
	 "regsweep modules --format json"},
	{"check", "check -c STACK", "cmvqhL", 0, 1, cmd_check,
	 "Parse the stack, load its modules and check their arguments; no network.",
	 "regsweep check -c nightly.stack"},
	{"decide", "decide -c STACK --images FILE.json [--now TIME]", "cfmvqhINL", 0, 1,
	 cmd_decide,
	 "The stack's verdicts for images described in a JSON file, as plan -v prints them; no\n"
	 "network. What policy and module authors test against.",
	 "regsweep decide -c nightly.stack --images images.json --now 2026-01-01T00:00:00Z"},
};

/* Every option, by the letter the command table and getopt know it by. */
static const struct {
	char letter;
	const char *spelling, *help;
} option_help[] = {
	{'c', "-c, --config STACK", "the stack file (libconfig)"},
	{'o', "-o, --output PLAN.json", "also write the plan file (sealed: what apply applies)"},
	{'f', "-f, --format text|json", "output: text (default), or one JSON document"},
	{'r', "-r, --registry URL", "use this registry, not the stack's or the plan's"},
	{'m', "-m, --module-dir DIR", "look for modules here first"},
	{'j', "-j, --concurrency N", "requests in flight, 1..256 (default: the stack's, or 8)"},
	{'n', "-n, --dry-run", "plan and report, delete nothing"},
	{'F', "    --force", "go on although the guards refuse the plan"},
	{'A', "    --max-plan-age AGE", "refuse an older plan (default 24h)"},
	{'J', "    --journal FILE", "record what is deleted here, for undo (default: a new\n"
			       "                              file in $XDG_STATE_HOME/regsweep)"},
	{'T', "    --top N", "only the N repositories that free the most"},
	{'I', "    --images FILE.json", "the images to decide for"},
	{'N', "    --now TIME", "the time to age by, RFC 3339 (default: the file's\n"
			    "                              \"now\", else the clock)"},
	{'M', "    --metrics FILE", "write the outcome as a node_exporter textfile"},
	{'L', "    --log-format text|json", "diagnostics on stderr as text or JSON lines"},
	{'v', "-v, --verbose", "more detail: every verdict, each command's output"},
	{'q', "-q, --quiet", "errors and result lines only"},
	{'h', "-h, --help", "this help"},
};

#define EXIT_CODES                                                                         \
	"exit codes: 0 done, 1 some requests failed or a repository was left untouched,\n"  \
	"  2 usage, stack or module error (nothing deleted), 3 refused by a guard, a stale\n" \
	"  plan, or deletions skipped because the registry changed, 4 another regsweep is\n" \
	"  working on the same registry (nothing done)\n"

static void usage(FILE *out)
{
	fputs("usage: regsweep COMMAND [options]    (options may also come before COMMAND)\n\n"
	      "commands:\n",
	      out);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  regsweep %s\n", commands[i].usage);
	fputs("  regsweep help [COMMAND]\n\nregsweep help COMMAND, or COMMAND --help, describes "
	      "each command's options.\n      --version               print the version\n\n" EXIT_CODES,
	      out);
}

static void command_help(const struct command *cmd, FILE *out)
{
	fprintf(out, "usage: regsweep %s [options]\n\n%s\n\noptions:\n", cmd->usage, cmd->summary);
	for (size_t i = 0; i < sizeof(option_help) / sizeof(option_help[0]); i++)
		if (strchr(cmd->options, option_help[i].letter))
			fprintf(out, "  %-27s %s\n", option_help[i].spelling, option_help[i].help);
	fprintf(out, "\nexample:\n  %s\n\n" EXIT_CODES, cmd->example);
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(name, commands[i].name) == 0)
			return &commands[i];
	return NULL;
}

static int parse_options(const struct command *cmd, int argc, char **argv, struct cli *c)
{
	int opt, li = -1;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":c:o:f:r:m:j:nvqhFA:T:J:I:N:M:L:", long_options, &li)) !=
	       -1) {
		/* As typed: argv[optind - 1] is the option's value when it takes one. */
		char name[32];

		if (li >= 0)
			snprintf(name, sizeof(name), "--%s", long_options[li].name);
		else
			snprintf(name, sizeof(name), "-%c", opt);
		li = -1;
		if (opt == '?')
			return fail(SWEEP_EXIT_USAGE, "%s: unknown option %s (see regsweep --help)",
				    cmd->name, argv[optind - 1]);
		if (opt == ':')
			return fail(SWEEP_EXIT_USAGE, "%s: option %s needs a value", cmd->name,
				    argv[optind - 1]);
		if (!strchr(cmd->options, opt))
			return fail(SWEEP_EXIT_USAGE,
				    "%s does not take %s (usage: regsweep %s [options]; see regsweep "
				    "help %s)",
				    cmd->name, name, cmd->usage, cmd->name);
		switch (opt) {
		case 'c':
			c->sweep.stack_path = optarg;
			break;
		case 'o':
			c->output = optarg;
			break;
		case 'f':
			if (strcmp(optarg, "json") && strcmp(optarg, "text"))
				return fail(SWEEP_EXIT_USAGE,
					    "--format must be text or json, not \"%s\"", optarg);
			c->json = json_out.on = strcmp(optarg, "json") == 0;
			break;
		case 'r':
			if (strncmp(optarg, "http://", 7) && strncmp(optarg, "https://", 8))
				return fail(SWEEP_EXIT_USAGE,
					    "--registry \"%s\" must start with http:// or https://",
					    optarg);
			c->sweep.registry = optarg;
			break;
		case 'm':
			c->sweep.module_dir = optarg;
			break;
		case 'j': {
			char *end;
			long n = strtol(optarg, &end, 10);

			if (*end || n < 1 || n > 256)
				return fail(SWEEP_EXIT_USAGE,
					    "--concurrency must be 1..256, not \"%s\"", optarg);
			c->sweep.concurrency = (int)n;
			break;
		}
		case 'n':
			c->dry_run = 1;
			break;
		case 'F':
			c->force = 1;
			break;
		case 'J':
			c->journal = optarg;
			break;
		case 'A':
			c->max_plan_age_text = optarg;
			if (util_parse_duration(optarg, &c->max_plan_age))
				return fail(SWEEP_EXIT_USAGE,
					    "--max-plan-age must be a duration such as 90m, 24h or "
					    "7d, not \"%s\"",
					    optarg);
			break;
		case 'T': {
			char *end;
			long n = strtol(optarg, &end, 10);

			if (*end || n < 1)
				return fail(SWEEP_EXIT_USAGE,
					    "--top must be a positive number, not \"%s\"", optarg);
			c->top = (size_t)n;
			break;
		}
		case 'I':
			c->images = optarg;
			break;
		case 'M':
			c->metrics = optarg;
			break;
		case 'L':
			if (strcmp(optarg, "json") && strcmp(optarg, "text"))
				return fail(SWEEP_EXIT_USAGE,
					    "--log-format must be text or json, not \"%s\"", optarg);
			log_set_json(strcmp(optarg, "json") == 0);
			break;
		case 'N':
			if (util_parse_rfc3339(optarg, &c->now))
				return fail(SWEEP_EXIT_USAGE,
					    "--now must be an RFC 3339 time such as "
					    "2024-05-01T00:00:00Z, not \"%s\"",
					    optarg);
			break;
		case 'v':
			c->verbose = 1;
			log_set_level(log_level() + 1);
			break;
		case 'q':
			log_set_level(RS_LOG_ERROR);
			break;
		case 'h':
			command_help(cmd, stdout);
			exit(SWEEP_EXIT_OK);
		}
	}
	c->args = argv + optind;
	c->arg_count = argc - optind;
	if (c->arg_count != cmd->args)
		return fail(SWEEP_EXIT_USAGE, "%s takes %d argument%s (usage: regsweep %s)",
			    cmd->name, cmd->args, cmd->args == 1 ? "" : "s", cmd->usage);
	if (cmd->run == cmd_decide && !c->images)
		return fail(SWEEP_EXIT_USAGE, "decide needs --images FILE.json (usage: regsweep %s)",
			    cmd->usage);
	if (cmd->needs_stack && !c->sweep.stack_path)
		return fail(SWEEP_EXIT_USAGE, "%s needs -c STACK (usage: regsweep %s)", cmd->name,
			    cmd->usage);
	return SWEEP_EXIT_OK;
}

static void on_signal(int sig)
{
	(void)sig;
	http_interrupt();
}

/* SIGINT/SIGTERM stop new requests and let those in flight finish, so the summary is
 * exact; a second signal kills as usual (SA_RESETHAND).  No SA_RESTART: a call blocked in
 * the kernel (a FIFO where a file should be) returns EINTR instead of swallowing the
 * signal. */
static void catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* Where the command word is: options may come before it (regsweep -v plan ...), as in git
 * or docker.  Returns its index in argv, or 0 when there is none. */
static int command_at(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (a[0] != '-' || !a[1])
			return i;
		if (!strcmp(a, "--"))
			return i + 1 < argc ? i + 1 : 0;
		if (a[1] == '-') { /* --name or --name=value */
			size_t n = strcspn(a + 2, "=");

			for (const struct option *o = long_options; o->name; o++)
				if (strlen(o->name) == n && !strncmp(o->name, a + 2, n) &&
				    o->has_arg == required_argument && !a[2 + n])
					i++; /* its value is the next word */
		} else if (a[2] == '\0' && strchr("cofrmjATJINML", a[1])) {
			i++; /* -c STACK */
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	const struct command *cmd;
	struct cli c;
	int at = command_at(argc, argv), rc;

#ifdef M_TRIM_THRESHOLD
	/* libcurl allocates and frees a receive buffer and a connection per transfer; with
	 * glibc's defaults the heap's top is given back and taken again over and over (brk and
	 * page faults): 0.15 s of 1.1 s of CPU on bench/run's 9 x 300.  The top's pad stays
	 * small: with room there, arrays of 128 KiB and more (a 50,000-tag plan's) are cut
	 * from a top that never shrinks instead of mapped apart and given back when freed. */
	mallopt(M_TOP_PAD, 1 << 20);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
#endif
	memset(&c, 0, sizeof(c));
	c.max_plan_age = 24 * 3600;
	c.max_plan_age_text = "24h";
	c.now = RS_TIME_UNKNOWN;
	c.lock = -1;
	c.started = util_now();
	if (argc >= 2 && !strcmp(argv[1], "--version")) {
		printf("regsweep %s (module ABI %d.%d)\n", RS_VERSION, RS_ABI_MAJOR, RS_ABI_MINOR);
		return SWEEP_EXIT_OK;
	}
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
		return usage(stdout), SWEEP_EXIT_OK;
	if (!at)
		return usage(stderr), SWEEP_EXIT_USAGE;
	if (!strcmp(argv[at], "help")) {
		if (at + 1 >= argc)
			return usage(stdout), SWEEP_EXIT_OK;
		if (!(cmd = find_command(argv[at + 1])))
			return fail(SWEEP_EXIT_USAGE, "no command \"%s\" (see regsweep help)",
				    argv[at + 1]);
		return command_help(cmd, stdout), SWEEP_EXIT_OK;
	}
	if (!(cmd = find_command(argv[at])))
		return fail(SWEEP_EXIT_USAGE, "unknown command \"%s\" (see regsweep --help)",
			    argv[at]);
	/* The command word first, then every other argument in the order given. */
	memmove(argv + 2, argv + 1, (size_t)(at - 1) * sizeof(*argv));
	argv[1] = (char *)cmd->name;
	rc = parse_options(cmd, argc - 1, argv + 1, &c);
	if (rc != SWEEP_EXIT_OK) {
		if (json_out.on) /* --format json came before the mistake */
			json_print_error(rc);
		cJSON_Delete(json_out.extra);
		return rc;
	}
	catch_signals();
	rc = cmd->run(&c);
	if (http_interrupted()) {
		rc = SWEEP_EXIT_FAILED;
		log_msg(RS_LOG_ERROR, "interrupted: requests not yet sent were not sent");
	}
	if (json_out.on && !json_out.printed && rc != SWEEP_EXIT_OK)
		json_print_error(rc);
	cJSON_Delete(json_out.extra);
	return rc;
}
