/* sweep.h - the pipeline behind the commands: load a stack, scan, decide, plan, apply,
 * and chain the after-steps. */
#ifndef RS_SWEEP_H
#define RS_SWEEP_H

#include "plan.h"
#include "registry.h"
#include "stack.h"
#include "util.h"

/* Exit codes: part of the public contract. */
enum sweep_exit {
	SWEEP_EXIT_OK = 0,
	SWEEP_EXIT_FAILED = 1, /* some requests failed (or the registry could not be reached) */
	SWEEP_EXIT_USAGE = 2,  /* usage, stack or module error: nothing was deleted */
	SWEEP_EXIT_REFUSED = 3, /* a guard refused the plan, or apply skipped deletions because
				 * the registry changed since the plan */
	SWEEP_EXIT_BUSY = 4,    /* another regsweep is deleting from (or restoring to) the same
				 * registry: nothing was done */
};

/* Where a command takes the facts a stack may need beyond the API. */
enum sweep_facts {
	SWEEP_FACTS_STORAGE = 0, /* scan: storage_root must be distribution's storage */
	SWEEP_FACTS_UNCHECKED,   /* check: storage_root must be set; the directory may be on
				  * another machine, a warning says so */
	SWEEP_FACTS_FILE,        /* decide: an images file gives them */
};

struct sweep_opts {
	const char *stack_path;
	const char *registry;   /* overrides the stack's url when non-NULL */
	const char *module_dir; /* extra module directory, may be NULL */
	int concurrency;        /* overrides the stack's when > 0 */
	int will_delete;        /* the run may delete (token scopes ask for delete too) */
	enum sweep_facts facts; /* where push times and untagged manifests come from */
};

/* Parse the stack and load its modules into *s (caller-owned: sweep_release it, also after
 * a failure); a module asking for push times or untagged manifests needs a storage_root,
 * as o->facts says.  Returns 0, or -1 with "file:line: what" in e. */
int sweep_load(const struct sweep_opts *o, struct stack *s, struct rs_err *e);
void sweep_release(struct stack *s);

/* The registry URL in force: the override, else the stack's; NULL with e set if none. */
const char *sweep_url(const struct sweep_opts *o, const struct stack *s, struct rs_err *e);

struct registry;

/* Opens a client for url with these connection settings (want: AUTH_WANT_* bits for
 * token scopes) and checks that the registry answers.  Returns 0 with *out owned by the caller (registry_close), or an exit code with
 * e set: SWEEP_EXIT_USAGE when the settings themselves are unusable (a password file
 * others may read, a missing variable), SWEEP_EXIT_FAILED when the registry cannot be
 * reached or refuses the credentials.  Nothing is deleted either way. */
int sweep_connect(const char *url, int concurrency, const struct net_opts *net,
		  unsigned want, struct registry **out, struct rs_err *e);

/* The catalog's repositories that the stack's `repositories` include / exclude select:
 * *names is a caller-owned array of *count caller-owned strings; *listed (may be NULL)
 * gets the catalog's size.  0, or -1 with e set when the catalog cannot be listed. */
int sweep_select(struct registry *reg, const struct stack *s, char ***names, size_t *count,
		 size_t *listed, struct rs_err *e);

/* Scan the registry through reg and build the plan into *out (caller-owned, plan_free).
 * Read-only.  Returns 0, or -1 with e set when the registry could not be listed at all. */
int sweep_plan(const struct sweep_opts *o, struct stack *s, struct registry *reg,
	       struct plan *out, struct rs_err *e);

/* The policy s has for repo (stack_policy_for), or NULL, also when a policy's patterns
 * fail to match (warned): such a repository is left untouched. */
const struct stack_policy *sweep_policy_for(const struct stack *s, const char *repo);

/* The verdicts of the policy s has for rr (the first of `policies` whose patterns match its
 * name, else the top-level `policy`), walked entry by entry over rr's images (one per
 * digest, plus untagged manifests), and the graph's consequences, into pr (an empty plan
 * repository).  A module that fails leaves the repository untouched (pr->error).  Does
 * nothing when no policy is for rr.  pr's tags borrow rr's tag, digest and media type
 * strings: the scan's pool must outlive the plan, or be adopted by it. */
void sweep_decide(const struct stack *s, const struct reg_repo *rr, int64_t now,
		  struct plan_repo *pr);

struct journal;

/* Re-resolves every tag of the repositories with deletions and skips
 * (plan_deletion.skipped) each deletion whose digest gained a tag, whose tags moved, or
 * that an index the plan keeps now references.  Through the API: before a maintenance
 * window stops the registry.  with_bodies (the storage path, whose window may stop the
 * registry) also reads every manifest's bytes for the journal now, instead of sweep_apply
 * reading them a chunk at a time through the API. */
void sweep_verify(struct registry *reg, struct plan *p, int with_bodies);

/* Deletes the plan's manifests (repositories with an error are skipped) and records results
 * in the plan: through reg, or with storage_root (maintenance.delete = "storage", the
 * registry stopped) as link removals in storage.  A deletion that follows another (an
 * index child, a referrer) goes only after that one is done.  With a journal (borrowed),
 * each chunk is journaled and synced before it is sent: the bytes of its manifests not
 * read yet are read by digest first (one already gone is done, one that cannot be read is
 * skipped), and let go once journaled.  Returns the number of failed deletions. */
size_t sweep_apply(struct plan *p, struct registry *reg, struct journal *journal,
		   const char *storage_root);

/* Run the after-steps in order, told whether this was a dry run and whether the stack's
 * maintenance window holds the registry (in_window); reg (borrowed) serves their
 * host->verify_kept.  A step is skipped when nothing was deleted, unless its entry says
 * always = true; *ran counts those that ran (dry-run ones included).  Returns 0, or -1
 * with "file:line: module: what" in e at the first that fails. */
int sweep_after(struct stack *s, const struct plan *p, struct registry *reg, int dry_run,
		int in_window, size_t *ran, struct rs_err *e);

/* What host->verify_kept does for after-steps, for the core after a maintenance window:
 * every kept tag still names its planned digest, and its manifest, children and blobs
 * answer 200.  0, or -1 with the first problem in e. */
int sweep_verify_kept(const struct plan *p, struct registry *reg, struct rs_err *e);

#endif
