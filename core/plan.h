/* plan.h - the deletion plan: every tag's final verdict with its reason, and the manifests
 * to delete, grouped by digest so that a digest is deleted only when no kept tag points at
 * it.  Written and read as JSON (the reviewable plan file) and rendered as text. */
#ifndef RS_PLAN_H
#define RS_PLAN_H

#include <stdint.h>
#include <stdio.h>

#include "regsweep/module.h"
#include "util.h"

#define PLAN_VERSION 1

/* The strings of tags and deletions, their arrays and the manifests' bytes live in the
 * plan's pool: nothing of them is free()d alone, and replacing one leaves the old text to
 * the pool. */
struct plan_tag {
	char *tag;
	char *digest;     /* NULL when unknown */
	char *media_type; /* NULL when unknown */
	int64_t created;  /* RS_CREATED_UNKNOWN when unknown */
	int64_t pushed;   /* RS_TIME_UNKNOWN when unknown */
	enum rs_verdict verdict; /* RS_KEEP or RS_DELETE */
	char *reason;
	/* A referrer (cosign "sha256-<hex>.sig|.att|.sbom" tag, or a manifest with an OCI
	 * subject): the digest it refers to, whose fate it shares; NULL for an image. */
	char *subject;
};

struct plan_deletion {
	char *digest;
	char *media_type;
	char **tags;
	size_t tag_count; /* 0 for an untagged manifest: an index child, an API referrer */
	/* The deletion this one depends on (the index of a child, the subject of a referrer):
	 * apply sends it only once that one is done.  NULL for a policy's deletion. */
	char *follows;
	char **also_follows; /* more it waits for: the other deleted indexes that list it */
	size_t also_follows_count;
	char *reason; /* why: what it follows, or why an untagged manifest goes; NULL for
		       * a tagged deletion (its tags say why) */
	/* In memory only: the manifest's exact bytes for the journal (NULL when unknown). */
	char *body;
	size_t body_len;
	/* Filled by apply. */
	int done;
	char *error;
	char *skipped; /* why apply did not send it: the registry changed since the plan */
};

struct plan_repo {
	char *name;
	struct plan_tag *tags;
	size_t tag_count;
	struct plan_deletion *deletions;
	size_t deletion_count;
	char *error; /* non-NULL: the repository was not fully scanned and is left untouched */
	char *guard; /* non-NULL: a guard refuses this repository's deletions (plan_check_guards) */
	char *policy; /* "file:line" of the policy that decided it; NULL when unknown */
	struct pool *pool; /* the plan's: where the strings of tags and deletions live */
	int64_t reclaimable_bytes; /* blobs GC can free that are counted here; -1 unknown */
	/* plan_find_deletion's index: digest -> position + 1 of the first `indexed` deletions */
	struct strmap by_digest;
	size_t indexed;
	char *shared[8]; /* plan_strdup_shared's latest copies, replaced in turn */
	size_t shared_next;
};

/* Per-repository limits a plan must respect unless forced (stack `guards`). */
struct plan_guards {
	int max_delete_percent; /* of a repository's tags; -1 (default): no limit */
	int min_keep;           /* tags left in a repository that loses any; default 1 */
};

struct plan {
	char *registry;
	char *stack;     /* stack file the plan came from; NULL when unknown */
	char *stack_sha256; /* of the stack file's bytes; NULL when unknown */
	int64_t created; /* Unix seconds */
	struct plan_guards guards;
	struct plan_repo *repos;
	size_t repo_count;
	/* Bytes of blobs (manifests, configs, layers) referenced only by manifests this plan
	 * deletes; -1 unknown.  An upper bound when the scan did not cover every repository. */
	int64_t reclaimable_bytes;
	int reclaimable_upper_bound;
	struct pool *pool; /* owns the strings of every repository's tags and deletions */
};

struct plan_totals {
	size_t repos, untouched, guarded, tags, kept, deleted; /* repositories, tags, verdicts */
	size_t manifests;                  /* deletions planned */
	size_t done, done_tags, failed, skipped; /* apply results: manifests gone, their tags */
};

/* Append an empty repository named name (copied); the returned pointer is valid until the
 * next plan_add_repo. */
struct plan_repo *plan_add_repo(struct plan *p, const char *name);

/* The plan's pool, made on first use. */
struct pool *plan_pool(struct plan *p);

/* s (NULL is fine) copied into r's pool.  plan_strdup_shared returns the copy of an equal
 * string it made lately instead of a new one: for texts many tags repeat, such as media
 * types and reasons. */
char *plan_strdup(struct plan_repo *r, const char *s);
char *plan_strdup_shared(struct plan_repo *r, const char *s);

/* Once repo->tags hold the policy's verdicts: keep every DELETE tag whose digest a kept tag
 * shares (reason "shares digest with <tag>"), keep DELETE tags whose digest is unknown,
 * and fill repo->deletions with one entry per digest all of whose tags are DELETE. */
void plan_group_digests(struct plan_repo *repo);

/* Append a deletion of digest (copied) with the given tags (copied); the pointer is valid
 * until the next plan_add_deletion on repo.  Copies go to repo's pool. */
struct plan_deletion *plan_add_deletion(struct plan_repo *repo, const char *digest,
					 const char *media_type, char *const *tags,
					 size_t tag_count);

/* repo's deletion of digest, or NULL; valid until the next plan_add_deletion.  Indexed by
 * digest, so asking for every deletion is linear. */
struct plan_deletion *plan_find_deletion(struct plan_repo *repo, const char *digest);

void plan_totals(const struct plan *p, struct plan_totals *t);

/* Sets repo->guard on every repository whose verdicts exceed p->guards and returns how many
 * do.  Idempotent. */
size_t plan_check_guards(struct plan *p);

struct cJSON;
struct jw;

/* Writes the plan as JSON through w (jw_init'ed by the caller, jw_finish'ed here), with
 * apply results when with_results and the members of extra (borrowed; NULL: none) after
 * the plan's own: what run and apply say beyond the plan ("run", "error").  It ends with
 * "plan_sha256", the hash of the rest, which plan_read_file checks: the plan applied is
 * the plan that was reviewed.  Nothing is held beyond one piece of text, whatever the
 * plan's size.  Returns jw_finish's result. */
int plan_write(const struct plan *p, int with_results, const struct cJSON *extra,
	       struct jw *w);

/* plan_write's text, caller-owned (free). */
char *plan_to_json(const struct plan *p, int with_results);

/* Read a plan file written by plan_write into *out (caller-owned; plan_free also after a
 * failure).  Returns 0, or -1 with "file: what" in e. */
int plan_read_file(const char *path, struct plan *out, struct rs_err *e);

/* The per-repository table (with apply's results when with_results) and a total line;
 * with verbose, every tag's verdict and every untagged manifest deleted. */
void plan_print_text(const struct plan *p, FILE *out, int verbose, int with_results);

void plan_free(struct plan *p);

#endif
