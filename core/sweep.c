/* sweep.c - the plan/apply/after pipeline shared by the commands. */
#include "sweep.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dispatch.h"
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

static int concurrency_of(const struct sweep_opts *o, const struct stack *s)
{
	return o->concurrency > 0 ? o->concurrency : s->concurrency;
}

static struct registry *open_registry(const char *url, int concurrency,
				      const struct net_opts *net, int want_delete,
				      struct rs_err *e)
{
	struct registry_opts ro = {
		.url = url, .concurrency = concurrency, .net = net, .want_delete = want_delete};
	struct registry *r = registry_open(&ro, e);

	if (r && registry_ping(r, e)) {
		registry_close(r);
		return NULL;
	}
	return r;
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

int sweep_plan(const struct sweep_opts *o, struct stack *s, struct plan *out,
	       struct rs_err *e)
{
	const char *url = sweep_url(o, s, e);
	struct registry *reg;
	struct reg_scan scan = {0};
	char **names = NULL;
	size_t count = 0, kept = 0;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!url)
		return -1;
	out->registry = xstrdup(url);
	out->stack = xstrdup(s->file);
	out->created = (int64_t)time(NULL);
	reg = open_registry(url, concurrency_of(o, s), &s->net, o->will_delete, e);
	if (!reg)
		return -1;
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
	log_msg(RS_LOG_DEBUG, "scan: %zu requests", registry_requests(reg));
	rc = 0;
out:
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
	registry_scan_free(&scan);
	registry_close(reg);
	return rc;
}

long sweep_apply(struct plan *p, const char *url, int concurrency, const struct net_opts *net,
		 struct rs_err *e)
{
	struct registry *reg;
	struct reg_delete *dels;
	size_t n = 0, total = 0, failed;

	for (size_t i = 0; i < p->repo_count; i++)
		if (!p->repos[i].error)
			total += p->repos[i].deletion_count;
	if (total == 0)
		return 0;
	reg = open_registry(url, concurrency, net, 1, e);
	if (!reg)
		return -1;
	dels = xcalloc(total, sizeof(*dels));
	for (size_t i = 0; i < p->repo_count; i++) {
		const struct plan_repo *r = &p->repos[i];

		for (size_t k = 0; !r->error && k < r->deletion_count; k++)
			dels[n++] = (struct reg_delete){.repo = r->name,
							.digest = r->deletions[k].digest};
	}
	failed = registry_delete(reg, dels, n);
	n = 0;
	for (size_t i = 0; i < p->repo_count; i++) {
		struct plan_repo *r = &p->repos[i];

		for (size_t k = 0; !r->error && k < r->deletion_count; k++, n++) {
			r->deletions[k].done = dels[n].ok;
			if (!dels[n].ok) {
				r->deletions[k].error = xstrdup(dels[n].error);
				log_msg(RS_LOG_ERROR, "%s@%s: %s", r->name, dels[n].digest,
					dels[n].error);
			}
		}
	}
	free(dels);
	registry_close(reg);
	return (long)failed;
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
