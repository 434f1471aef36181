/* stack.h - a stack file (libconfig) parsed into core-owned structures: the registry, the
 * repository filters, the policy stack with its PAM-style control actions, and the
 * after-steps.  Nothing here outlives libconfig's memory by accident: every string is
 * copied. */
#ifndef RS_STACK_H
#define RS_STACK_H

#include <stddef.h>

#include "netopts.h"
#include "regsweep/module.h"
#include "util.h"

/* Control actions, as in Linux-PAM: a positive value is a forward jump over that many
 * entries. */
enum stack_action {
	STACK_IGNORE = 0,
	STACK_OK = -1,
	STACK_DONE = -2,
	STACK_BAD = -3,
	STACK_DIE = -4,
};

/* One argument as written in the stack file. */
struct stack_arg {
	char *name;
	enum rs_arg_type type; /* what the file holds: INT, STRING, BOOL or STRING_LIST */
	long long i;           /* INT, BOOL */
	char *s;               /* STRING */
	char **list;           /* STRING_LIST */
	size_t list_count;
	char *location; /* "file:line" */
};

struct stack_entry;

/* What a module's host API calls receive; one per entry. */
struct rs_ctx {
	struct stack_entry *entry;
};

struct stack_entry {
	char *module;   /* as written: a name or an absolute path */
	char *control;  /* as written; NULL for after-steps */
	int actions[RS_VERDICT_MAX];
	struct stack_arg *args;
	size_t arg_count;
	char *location; /* "file:line" of the entry */
	int always;     /* after-steps: run even when nothing was deleted */
	struct rs_ctx ctx;

	/* Filled by the loader. */
	unsigned needs; /* the descriptor's RS_NEED_* bits and what init asked for */
	char *path;
	void *handle;
	const struct rs_module *desc;
	void *state;
	int initialised;
};

/* One policy stack and the repositories it is for.  Like PAM's per-service files: the first
 * whose patterns match a repository's whole name decides it; the top-level `policy` is the
 * fallback (repos NULL), as PAM's `other`. */
struct stack_policy {
	struct rs_pattern *repos; /* anchored; NULL: every repository (the fallback) */
	char *location;           /* "file:line" of the policy list */
	struct stack_entry *entries;
	size_t count;
};

struct stack {
	char *file;
	char *url;       /* NULL when the stack gives none */
	char *url_location;
	int concurrency; /* default 8 */
	struct net_opts net; /* TLS, credentials, timeouts, retries, pacing */
	char *module_path;  /* where to look for modules first after --module-dir; NULL */
	/* maintenance = { before = [...]; after = [...]; delete = "api" | "storage"; }: the
	 * window in which the registry is stopped (or read-only): after-steps run inside it,
	 * and with delete = "storage" the deletions too, as link removals in storage_root. */
	char **window_before, **window_after; /* NULL-terminated argv; NULL: no window */
	int delete_in_storage;
	char *window_location;
	char *storage_root; /* distribution's filesystem storage: push times, untagged */
	char *storage_root_location;
	int max_delete_percent; /* guards: -1 (default) when not set */
	int min_keep;           /* guards: default 1 */
	struct rs_pattern *include; /* NULL: every repository */
	struct rs_pattern *exclude; /* NULL: none */
	/* `policies` in order, then the top-level `policy` when there is one. */
	struct stack_policy *policies;
	size_t policy_count;
	struct stack_entry *after;
	size_t after_count;
};

/* Parse the stack file at path into *out (caller-owned; release with stack_free, also after
 * a failure).  Returns 0, or -1 with "file:line: what" in e. */
int stack_load(const char *path, struct stack *out, struct rs_err *e);
void stack_free(struct stack *s);

/* A control word ("required", "requisite", "sufficient", "optional") or a bracket form
 * ("[delete=ok keep=die pass=ignore]") to actions.  Verdicts a bracket form does not name
 * get `default=`, or ignore.  Returns 0, or -1 with a reason in err. */
int stack_parse_control(const char *text, int actions[RS_VERDICT_MAX], char *err,
			size_t errlen);

/* The policy deciding repository repo, or NULL when none is for it. */
const struct stack_policy *stack_policy_for(const struct stack *s, const char *repo);

/* The argument called name, or NULL. */
const struct stack_arg *stack_entry_arg(const struct stack_entry *entry, const char *name);

#endif
