/* sweep.c - the plan/apply/after pipeline shared by the commands. */
#define _GNU_SOURCE /* qsort_r */
#include "sweep.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dispatch.h"
#include "http.h"
#include "loader.h"
#include "log.h"
#include "pattern.h"
#include "registry.h"

int sweep_load(const struct sweep_opts *o, struct stack *s, struct rs_err *e)
{
	if (stack_load(o->stack_path, s, e))
		return -1;
	return loader_load(s, o->module_dir, e);
}

void sweep_release(struct stack *s)
{
	loader_unload(s);
	stack_free(s);
}

const char *sweep_url(const struct sweep_opts *o, const struct stack *s, struct rs_err *e)
{
	const char *url = o->registry ? o->registry : s->url;

	if (!url)
		err_set(e, "%s: no registry url: set registry = { url = \"...\"; } or pass "
			   "--registry",
			s->file);
	return url;
}

int sweep_connect(const char *url, int concurrency, const struct net_opts *net,
		  int want_delete, struct registry **out, struct rs_err *e)
{
	struct registry_opts ro = {
		.url = url, .concurrency = concurrency, .net = net, .want_delete = want_delete};

	*out = registry_open(&ro, e);
	if (!*out)
		return SWEEP_EXIT_USAGE;
	if (registry_ping(*out, e)) {
		registry_close(*out);
		*out = NULL;
		return SWEEP_EXIT_FAILED;
	}
	return SWEEP_EXIT_OK;
}

static int wanted(const struct stack *s, const char *repo)
{
	if (s->include && !pattern_match(s->include, repo))
		return 0;
	return !(s->exclude && pattern_match(s->exclude, repo));
}

/* Every image fact any policy module asks for; the digest is always needed to delete. */
static unsigned stack_needs(const struct stack *s)
{
	unsigned needs = RS_NEED_DIGEST;

	for (size_t i = 0; i < s->policy_count; i++)
		needs |= s->policy[i].desc->needs;
	return needs;
}

/* Copies a scanned tag into the plan with a verdict and reason (reason is taken over). */
static void plan_tag_set(struct plan_tag *t, const struct reg_image *img, enum rs_verdict v,
			 char *reason)
{
	t->tag = xstrdup(img->tag);
	t->digest = img->digest ? xstrdup(img->digest) : NULL;
	t->media_type = img->media_type ? xstrdup(img->media_type) : NULL;
	t->created = img->created;
	t->verdict = v;
	t->reason = reason;
}

/* A repository the plan must not touch: every tag kept, with the cause. */
static void keep_all(struct plan_repo *pr, const struct reg_repo *rr, const char *why)
{
	pr->error = xstrdup(why);
	pr->tag_count = rr->count;
	pr->tags = xcalloc(rr->count, sizeof(*pr->tags));
	for (size_t i = 0; i < rr->count; i++)
		plan_tag_set(&pr->tags[i], &rr->images[i], RS_KEEP,
			     xasprintf("repository left untouched: %s", why));
}

/* Runs every policy module over the repository, then the PAM walk per tag. */
static void decide_repo(struct stack *s, const struct reg_repo *rr, int64_t now,
			struct plan_repo *pr)
{
	size_t n = rr->count, m = s->policy_count;
	struct rs_image *imgs = xcalloc(n, sizeof(*imgs));
	struct rs_decision *dec = xcalloc(n * m, sizeof(*dec));
	int(*actions)[RS_VERDICT_MAX] = xcalloc(m, sizeof(*actions));
	enum rs_verdict *verdicts = xcalloc(m, sizeof(*verdicts));
	struct rs_repo_view view = {.name = rr->name, .images = imgs, .count = n, .now = now};

	for (size_t k = 0; k < n; k++) {
		const struct reg_image *ri = &rr->images[k];

		imgs[k] = (struct rs_image){.tag = ri->tag,
					    .digest = ri->digest,
					    .media_type = ri->media_type,
					    .created = ri->created,
					    .size = ri->size,
					    .labels = ri->labels,
					    .label_count = ri->label_count};
	}
	for (size_t i = 0; i < m; i++) {
		struct stack_entry *en = &s->policy[i];

		memcpy(actions[i], en->actions, sizeof(actions[i]));
		if (en->desc->decide(&en->ctx, en->state, &view, dec + i * n) != RS_OK) {
			char *why = xasprintf("module %s (%s) failed", en->desc->name,
					      en->location);

			log_msg(RS_LOG_ERROR, "%s: %s", rr->name, why);
			keep_all(pr, rr, why); /* fail closed */
			free(why);
			goto out;
		}
	}
	pr->tag_count = n;
	pr->tags = xcalloc(n, sizeof(*pr->tags));
	for (size_t k = 0; k < n; k++) {
		struct dispatch_result res;
		char *reason;

		for (size_t i = 0; i < m; i++)
			verdicts[i] = dec[i * n + k].verdict;
		dispatch_walk((const int(*)[RS_VERDICT_MAX])actions, verdicts, m, &res);
		if (res.decided_by < 0)
			reason = xstrdup("no module decided: every module passed");
		else
			reason = xasprintf("%s: %s", s->policy[res.decided_by].desc->name,
					   dec[(size_t)res.decided_by * n + k].reason);
		plan_tag_set(&pr->tags[k], &rr->images[k], res.verdict, reason);
	}
	plan_group_digests(pr);
out:
	free(verdicts);
	free(actions);
	free(dec);
	free(imgs);
}

/* The stack file's hash, so a plan names exactly the policy that made it; NULL if the file
 * cannot be read again. */
static char *file_sha256(const char *path)
{
	struct buf b = {0};
	char hash[UTIL_SHA256_LEN];
	int failed = buf_read_file(&b, path);

	if (!failed)
		util_sha256(b.data ? b.data : "", b.len, hash);
	buf_free(&b);
	return failed ? NULL : xstrdup(hash);
}

int sweep_plan(const struct sweep_opts *o, struct stack *s, struct registry *reg,
	       struct plan *out, struct rs_err *e)
{
	const char *url = sweep_url(o, s, e);
	struct reg_scan scan = {0};
	char **names = NULL;
	size_t count = 0, kept = 0;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!url)
		return -1;
	out->registry = xstrdup(url);
	out->stack = xstrdup(s->file);
	out->stack_sha256 = file_sha256(s->file);
	out->created = (int64_t)time(NULL);
	out->guards = (struct plan_guards){.max_delete_percent = s->max_delete_percent,
					   .min_keep = s->min_keep};
	if (registry_catalog(reg, &names, &count, e))
		goto out;
	for (size_t i = 0; i < count; i++) {
		if (wanted(s, names[i]))
			names[kept++] = names[i];
		else
			free(names[i]);
	}
	log_msg(RS_LOG_DEBUG, "%zu of %zu repositories selected", kept, count);
	count = kept;
	if (registry_scan(reg, names, count, stack_needs(s), &scan, e))
		goto out;
	for (size_t i = 0; i < scan.count; i++) {
		const struct reg_repo *rr = &scan.repos[i];
		struct plan_repo *pr = plan_add_repo(out, rr->name);

		if (rr->error)
			keep_all(pr, rr, rr->error);
		else
			decide_repo(s, rr, out->created, pr);
	}
	plan_check_guards(out);
	log_msg(RS_LOG_DEBUG, "scan: %zu requests", registry_requests(reg));
	rc = 0;
out:
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
	registry_scan_free(&scan);
	return rc;
}

static int pending(const struct plan_repo *r, const struct plan_deletion *d)
{
	return !r->error && !d->skipped;
}

/* Orders indexes into a rescanned repository's images by tag, for find_tag. */
static int by_tag(const void *a, const void *b, void *images_)
{
	const struct reg_image *images = images_;

	return strcmp(images[*(const size_t *)a].tag, images[*(const size_t *)b].tag);
}

static int planned_tag(const struct plan_deletion *d, const char *tag)
{
	for (size_t k = 0; k < d->tag_count; k++)
		if (strcmp(d->tags[k], tag) == 0)
			return 1;
	return 0;
}

static const struct reg_image *find_tag(const struct reg_repo *now, const size_t *order,
					const char *tag)
{
	size_t lo = 0, hi = now->count;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(now->images[order[mid]].tag, tag);

		if (c == 0)
			return &now->images[order[mid]];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Why deletion d must not go ahead given the repository as it is now, or NULL: one of its
 * tags now points elsewhere, or a tag the plan did not see points at its digest. */
static char *changed_since_plan(const struct plan_deletion *d, const struct reg_repo *now,
				const size_t *order)
{
	size_t on_digest = 0;

	for (size_t k = 0; k < d->tag_count; k++) {
		const struct reg_image *img = find_tag(now, order, d->tags[k]);

		/* A tag deleted meanwhile removes nothing the plan meant to keep. */
		if (!img)
			continue;
		if (!img->digest || strcmp(img->digest, d->digest))
			return xasprintf("tag %s moved to %s since the plan", d->tags[k],
					 img->digest ? img->digest : "an unknown digest");
	}
	for (size_t i = 0; i < now->count; i++) {
		if (!now->images[i].digest || strcmp(now->images[i].digest, d->digest))
			continue;
		on_digest++;
		if (on_digest > d->tag_count || !planned_tag(d, now->images[i].tag))
			return xasprintf("digest gained tag %s since the plan", now->images[i].tag);
	}
	return NULL;
}

static void skip_repo(struct plan_repo *r, const char *why)
{
	for (size_t k = 0; k < r->deletion_count; k++)
		if (!r->deletions[k].skipped)
			r->deletions[k].skipped = xstrdup(why);
}

/* Re-resolves every tag of the repositories with deletions and marks what changed. */
static void verify_plan(struct registry *reg, struct plan *p)
{
	char **names = xcalloc(p->repo_count, sizeof(char *));
	struct plan_repo **repos = xcalloc(p->repo_count, sizeof(*repos));
	struct reg_scan scan = {0};
	struct rs_err e = {{0}};
	size_t n = 0;

	for (size_t i = 0; i < p->repo_count; i++) {
		if (!p->repos[i].error && p->repos[i].deletion_count) {
			repos[n] = &p->repos[i];
			names[n++] = p->repos[i].name;
		}
	}
	if (n && registry_scan(reg, names, n, RS_NEED_DIGEST, &scan, &e)) {
		char *why = xasprintf("could not re-resolve tags: %s", e.msg);

		for (size_t i = 0; i < n; i++)
			skip_repo(repos[i], why);
		free(why);
	}
	for (size_t i = 0; i < scan.count && i < n; i++) {
		const struct reg_repo *now = &scan.repos[i];
		size_t *order;

		if (now->error) {
			char *why = xasprintf("could not re-resolve tags: %s", now->error);

			skip_repo(repos[i], why);
			free(why);
			continue;
		}
		order = xcalloc(now->count, sizeof(size_t));
		for (size_t k = 0; k < now->count; k++)
			order[k] = k;
		qsort_r(order, now->count, sizeof(size_t), by_tag, now->images);
		for (size_t k = 0; k < repos[i]->deletion_count; k++) {
			struct plan_deletion *d = &repos[i]->deletions[k];

			d->skipped = changed_since_plan(d, now, order);
			if (d->skipped)
				log_msg(RS_LOG_WARN, "%s@%s skipped: %s", repos[i]->name, d->digest,
					d->skipped);
		}
		free(order);
	}
	registry_scan_free(&scan);
	free(repos);
	free(names);
}

size_t sweep_apply(struct plan *p, struct registry *reg, int verify)
{
	struct reg_delete *dels;
	size_t n = 0, total = 0, failed;

	for (size_t i = 0; i < p->repo_count; i++)
		if (!p->repos[i].error)
			total += p->repos[i].deletion_count;
	if (total == 0)
		return 0;
	if (verify)
		verify_plan(reg, p);
	dels = xcalloc(total, sizeof(*dels));
	for (size_t i = 0; i < p->repo_count; i++) {
		const struct plan_repo *r = &p->repos[i];

		for (size_t k = 0; k < r->deletion_count; k++)
			if (pending(r, &r->deletions[k]))
				dels[n++] = (struct reg_delete){.repo = r->name,
								.digest = r->deletions[k].digest};
	}
	failed = registry_delete(reg, dels, n);
	n = 0;
	for (size_t i = 0; i < p->repo_count; i++) {
		struct plan_repo *r = &p->repos[i];

		for (size_t k = 0; k < r->deletion_count; k++) {
			struct plan_deletion *d = &r->deletions[k];

			if (!pending(r, d))
				continue;
			d->done = dels[n].ok;
			/* Not sent because of a signal: "not attempted", not a failure. */
			if (!dels[n].ok && http_interrupted() && dels[n].http_status == 0) {
				failed--;
			} else if (!dels[n].ok) {
				d->error = xstrdup(dels[n].error);
				log_msg(RS_LOG_ERROR, "%s@%s: %s", r->name, d->digest, d->error);
			}
			n++;
		}
	}
	free(dels);
	return failed;
}

int sweep_after(struct stack *s, const struct plan *p, int dry_run, struct rs_err *e)
{
	struct plan_totals t;
	struct rs_run_summary sum;

	plan_totals(p, &t);
	sum = (struct rs_run_summary){.registry = p->registry,
				      .dry_run = dry_run,
				      .repositories = t.repos,
				      .tags_deleted = t.done_tags,
				      .manifests_deleted = t.done,
				      .requests_failed = t.failed};
	for (size_t i = 0; i < s->after_count; i++) {
		struct stack_entry *en = &s->after[i];
		char msg[400] = "";

		if (en->desc->after(&en->ctx, en->state, &sum, msg, sizeof(msg)) != RS_OK) {
			err_set(e, "%s: %s: %s", en->location, en->desc->name,
				msg[0] ? msg : "failed");
			return -1;
		}
	}
	return 0;
}
