/* sweep.c - the plan/apply/after pipeline shared by the commands. */
#define _GNU_SOURCE /* qsort_r */
#include "sweep.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dispatch.h"
#include "graph.h"
#include "host.h"
#include "http.h"
#include "journal.h"
#include "loader.h"
#include "log.h"
#include "pattern.h"
#include "registry.h"
#include "storage.h"

/* The first policy entry asking for any of the facts in bits, or NULL. */
static const struct stack_entry *entry_needing(const struct stack *s, unsigned bits)
{
	for (size_t i = 0; i < s->policy_count; i++)
		for (size_t k = 0; k < s->policies[i].count; k++)
			if (s->policies[i].entries[k].needs & bits)
				return &s->policies[i].entries[k];
	return NULL;
}

/* Push times and untagged manifests come from storage_root: a stack asking for them
 * without one is broken, and so is a storage_root that is not distribution's storage. */
static int check_push_source(const struct stack *s, enum sweep_facts facts, struct rs_err *e)
{
	const struct stack_entry *en = entry_needing(s, RS_NEED_PUSHED | RS_NEED_UNTAGGED);
	struct push_source src;
	struct rs_err why = {{0}};

	if (!en || facts == SWEEP_FACTS_FILE)
		return 0;
	if (!s->storage_root) {
		err_set(e, "%s: module \"%s\" needs %s, which only a push-time source gives: set "
			   "registry = { storage_root = \"...\"; }",
			en->location, en->desc->name,
			en->needs & RS_NEED_PUSHED ? "push times" : "the untagged manifests");
		return -1;
	}
	if (storage_open_fs(s->storage_root, s->storage_root_location, &src, &why)) {
		if (facts == SWEEP_FACTS_STORAGE) {
			err_set(e, "%s", why.msg);
			return -1;
		}
		log_msg(RS_LOG_WARN, "%s (plan and run need it where they run)", why.msg);
		return 0;
	}
	storage_close(&src);
	return 0;
}

int sweep_load(const struct sweep_opts *o, struct stack *s, struct rs_err *e)
{
	if (stack_load(o->stack_path, s, e) || loader_load(s, o->module_dir, e))
		return -1;
	return check_push_source(s, o->facts, e);
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
		  unsigned want, struct registry **out, struct rs_err *e)
{
	struct registry_opts ro = {
		.url = url, .concurrency = concurrency, .net = net, .want = want};

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

/* Whether the stack's filters select repo; a filter that fails to match leaves the
 * repository out, as if excluded. */
static int wanted(const struct stack *s, const char *repo)
{
	char why[300];
	int in;

	pattern_failures_reset();
	in = !(s->include && !pattern_match(s->include, repo)) &&
	     !(s->exclude && pattern_match(s->exclude, repo));
	if (pattern_failures(why, sizeof(why))) {
		log_msg(RS_LOG_WARN, "%s: left out: the repositories filter failed: %s", repo, why);
		return 0;
	}
	return in;
}

int sweep_select(struct registry *reg, const struct stack *s, char ***names, size_t *count,
		 size_t *listed, struct rs_err *e)
{
	size_t kept = 0;

	if (registry_catalog(reg, names, count, e))
		return -1;
	for (size_t i = 0; i < *count; i++) {
		if (wanted(s, (*names)[i]))
			(*names)[kept++] = (*names)[i];
		else
			free((*names)[i]);
	}
	log_msg(RS_LOG_DEBUG, "%zu of %zu repositories selected", kept, *count);
	if (listed)
		*listed = *count;
	*count = kept;
	return 0;
}

/* Every image fact any policy module asks for; the digest is always needed to delete, the
 * graph to know what else goes with it, and its layers to estimate what GC frees. */
static unsigned stack_needs(const struct stack *s)
{
	unsigned needs = RS_NEED_DIGEST | REG_NEED_GRAPH | REG_NEED_LAYERS;

	for (size_t i = 0; i < s->policy_count; i++)
		for (size_t k = 0; k < s->policies[i].count; k++)
			needs |= s->policies[i].entries[k].needs;
	return needs;
}

/* Fills a plan tag from a scanned one, with a verdict and reason (the plan's already): its
 * strings are the scan's, whose pool the plan adopts; digest is img's digest or NULL. */
static void plan_tag_set(struct plan_tag *t, const struct reg_image *img, char *digest,
			 enum rs_verdict v, char *reason)
{
	t->tag = img->tag;
	t->digest = digest;
	t->media_type = img->media_type;
	t->created = img->created;
	t->pushed = img->pushed;
	t->verdict = v;
	t->reason = reason;
}

/* A repository the plan must not touch: every tag kept, with the cause. */
static void keep_all(struct plan_repo *pr, const struct reg_repo *rr, const char *why)
{
	char *reason = pool_printf(pr->pool, "repository left untouched: %s", why);

	pr->error = xstrdup(why);
	pr->tag_count = rr->count;
	pr->tags = xcalloc(rr->count, sizeof(*pr->tags));
	for (size_t i = 0; i < rr->count; i++)
		plan_tag_set(&pr->tags[i], &rr->images[i], rr->images[i].digest, RS_KEEP, reason);
}

/* A repository's images as the walk sees them: one per digest with every tag naming it,
 * then the untagged manifests.  Referrers are not images: they follow their subject. */
struct walk {
	const struct stack_policy *pol;
	const struct reg_repo *rr;
	int64_t now;
	size_t n, tagged;          /* images, of which the first `tagged` have tags */
	struct rs_image *imgs;
	size_t *first;             /* image k's tags are members[first[k] .. first[k + 1]) */
	size_t *members;           /* indexes into rr->images */
	struct rs_tag *tags;       /* parallel to members */
	const struct rs_tag **tagp;
	const struct rs_label **labelp;
	char **subjects;           /* per rr->images: the subject of a referrer tag */
	/* Scratch for one entry's call, and each image's reason from its deciding entry. */
	const struct rs_image **view;
	struct rs_decision *dec, **decp;
	size_t *dec_of;
	const char **reason; /* in `reasons`; an image's reason is often its neighbour's */
	struct pool *reasons;
	const char *last_reason;
	size_t *passed_by; /* per image until an entry decides: the last that passed with a
			    * reason, plus one; 0 when none did */
	char *decided;     /* per image: an entry has set the outcome */
	char failure[400]; /* why a module's decide failed */
};

/* Groups rr's image tags by digest in tag-list order. */
static void walk_group(struct walk *w)
{
	const struct reg_repo *rr = w->rr;
	size_t *image_of = xcalloc(rr->count + 1, sizeof(size_t)), *fill, labels = 0, members = 0;
	struct strmap by_digest = {0};
	int fresh;

	w->imgs = xcalloc(rr->count + rr->untagged_count + 1, sizeof(*w->imgs));
	w->first = xcalloc(rr->count + rr->untagged_count + 2, sizeof(size_t));
	for (size_t i = 0; i < rr->count; i++) {
		const struct reg_image *ri = &rr->images[i];
		void **slot;

		w->subjects[i] = graph_subject(rr, ri);
		if (w->subjects[i] || !ri->digest)
			continue;
		slot = strmap_slot(&by_digest, ri->digest, &fresh);
		if (fresh) {
			*slot = (void *)(uintptr_t)(w->n + 1);
			w->imgs[w->n++] = (struct rs_image){.digest = ri->digest,
							    .media_type = ri->media_type,
							    .created = ri->created,
							    .pushed = RS_TIME_UNKNOWN,
							    .size = ri->size,
							    .label_count = ri->label_count};
			labels += ri->label_count;
		}
		image_of[i] = (uintptr_t)*slot;
		w->first[image_of[i]]++; /* counts, made offsets below */
		members++;
	}
	strmap_free(&by_digest);
	w->tagged = w->n;
	for (size_t k = 0; k <= w->n; k++)
		w->first[k + 1] += w->first[k];
	fill = xcalloc(w->n + 1, sizeof(size_t));
	w->members = xcalloc(members + 1, sizeof(size_t));
	w->tags = xcalloc(members + 1, sizeof(*w->tags));
	w->tagp = xcalloc(members + 1, sizeof(*w->tagp));
	w->labelp = xcalloc(labels + 1, sizeof(*w->labelp));
	for (size_t i = 0; i < rr->count; i++) {
		size_t k = image_of[i], at;

		if (!k--)
			continue;
		at = w->first[k] + fill[k]++;
		w->members[at] = i;
		w->tags[at] = (struct rs_tag){rr->images[i].tag, rr->images[i].pushed};
		w->tagp[at] = &w->tags[at];
		if (rr->images[i].pushed != RS_TIME_UNKNOWN &&
		    (w->imgs[k].pushed == RS_TIME_UNKNOWN || rr->images[i].pushed > w->imgs[k].pushed))
			w->imgs[k].pushed = rr->images[i].pushed;
	}
	labels = 0;
	for (size_t k = 0; k < w->n; k++) {
		const struct reg_image *ri = &rr->images[w->members[w->first[k]]];

		w->imgs[k].tags = &w->tagp[w->first[k]];
		w->imgs[k].tag_count = w->first[k + 1] - w->first[k];
		w->imgs[k].labels = &w->labelp[labels];
		for (size_t l = 0; l < ri->label_count; l++)
			w->labelp[labels++] = &ri->labels[l];
	}
	for (size_t u = 0; u < rr->untagged_count; u++) {
		const struct reg_manifest *m = registry_manifest(rr, rr->untagged[u].digest);

		w->first[w->n + 1] = w->first[w->n];
		w->imgs[w->n++] = (struct rs_image){.digest = rr->untagged[u].digest,
						    .media_type = m ? m->media_type : NULL,
						    .created = RS_TIME_UNKNOWN,
						    .pushed = rr->untagged[u].pushed,
						    .size = -1};
	}
	free(fill);
	free(image_of);
}

/* A module's reason, kept for the plan: the same text as the last one kept is shared. */
static const char *walk_keep_reason(struct walk *w, const char *reason)
{
	if (!w->last_reason || strcmp(w->last_reason, reason) != 0)
		w->last_reason = pool_strdup(w->reasons, reason);
	return w->last_reason;
}

static int walk_decide(void *arg, size_t entry, const size_t *images, size_t n, int *verdicts)
{
	struct walk *w = arg;
	struct stack_entry *en = &w->pol->entries[entry];
	struct rs_repo_view view = {.name = w->rr->name, .images = w->view, .now = w->now};
	size_t *pos = xcalloc(n + 1, sizeof(size_t));
	int rc = 0;

	for (size_t j = 0; j < n; j++) {
		const struct rs_image *img = &w->imgs[images[j]];

		if (!img->tag_count && !(en->needs & RS_NEED_UNTAGGED)) {
			verdicts[j] = DISPATCH_UNSEEN;
			continue;
		}
		w->view[view.count] = img;
		w->dec[view.count] = (struct rs_decision){.verdict = RS_PASS};
		w->decp[view.count] = &w->dec[view.count];
		w->dec_of[images[j]] = view.count;
		pos[view.count++] = j;
	}
	pattern_failures_reset();
	if (view.count && en->desc->decide(&en->ctx, en->state, &view, w->decp) != RS_OK) {
		snprintf(w->failure, sizeof(w->failure), "module %s (%s) failed", en->desc->name,
			 en->location);
		rc = -1;
	} else if (pattern_failures(w->failure, sizeof(w->failure))) {
		/* A pattern error is no answer: the module's verdicts cannot stand. */
		char why[300];

		memcpy(why, w->failure, sizeof(why));
		snprintf(w->failure, sizeof(w->failure), "module %s (%s): %s", en->desc->name,
			 en->location, why);
		rc = -1;
	}
	for (size_t q = 0; rc == 0 && q < view.count; q++) {
		size_t k = images[pos[q]];

		w->dec[q].reason[RS_REASON_MAX - 1] = '\0';
		verdicts[pos[q]] = (int)w->dec[q].verdict;
		/* A walk no entry decides keeps the image: say what passed on it. */
		if (w->dec[q].verdict == RS_PASS && w->dec[q].reason[0] && !w->decided[k]) {
			w->reason[k] = walk_keep_reason(w, w->dec[q].reason);
			w->passed_by[k] = entry + 1;
		}
	}
	free(pos);
	return rc;
}

static void walk_decided(void *arg, size_t entry, size_t image)
{
	struct walk *w = arg;

	(void)entry;
	w->reason[image] = walk_keep_reason(w, w->dec[w->dec_of[image]].reason);
	w->decided[image] = 1;
}

/* What only the modules' calls need, released before the plan is built. */
static void walk_free_calls(struct walk *w)
{
	free(w->view);
	free(w->dec);
	free(w->decp);
	free(w->dec_of);
	w->view = NULL;
	w->dec = NULL;
	w->decp = NULL;
	w->dec_of = NULL;
}

static void walk_free(struct walk *w)
{
	for (size_t i = 0; i < w->rr->count; i++)
		free(w->subjects[i]);
	walk_free_calls(w);
	free(w->subjects);
	free(w->imgs);
	free(w->first);
	free(w->members);
	free(w->tags);
	free(w->tagp);
	free(w->labelp);
	free(w->reason);
	pool_free(w->reasons);
	free(w->passed_by);
	free(w->decided);
}

/* The plan's reason for an image, in pr's pool: which entry decided, and what it said. */
static char *walk_reason(const struct walk *w, size_t k, const struct dispatch_result *res,
			 struct plan_repo *pr)
{
	char *text, *kept;

	if (res->decided_by < 0 && !w->passed_by[k])
		return plan_strdup_shared(pr, "no module decided: every module passed");
	if (res->decided_by < 0)
		text = xasprintf("no module decided; %s passed: %s",
				 w->pol->entries[w->passed_by[k] - 1].desc->name, w->reason[k]);
	else
		text = xasprintf("%s: %s", w->pol->entries[res->decided_by].desc->name,
				 w->reason[k]);
	kept = plan_strdup_shared(pr, text);
	free(text);
	return kept;
}

/* A tag the registry listed under a name outside the tag grammar (registry.c marks it)
 * keeps the image it names, and so every tag on that image, whatever the policy said. */
static void keep_invalid_names(struct plan_repo *pr, const struct reg_repo *rr)
{
	for (size_t i = 0; i < rr->count; i++) {
		if (!rr->images[i].invalid_name || !rr->images[i].digest)
			continue;
		for (size_t j = 0; j < pr->tag_count; j++) {
			struct plan_tag *t = &pr->tags[j];
			int own = rr->images[j].invalid_name; /* pr->tags parallels rr->images */

			if (!t->digest || strcmp(t->digest, rr->images[i].digest) != 0 ||
			    (t->verdict == RS_KEEP && !t->subject && !own))
				continue; /* kept already, for its own reason */
			t->verdict = RS_KEEP;
			t->reason = plan_strdup_shared(
			    pr, own ? "invalid tag name: kept"
				    : "shares its image with a tag of invalid name: kept");
			t->subject = NULL; /* kept as it is, not with a subject */
		}
	}
}

void sweep_decide(const struct stack *s, const struct reg_repo *rr, int64_t now,
		  struct plan_repo *pr)
{
	const struct stack_policy *pol = sweep_policy_for(s, rr->name);
	static const struct dispatch_ops ops = {walk_decide, walk_decided};
	struct walk w = {.pol = pol, .rr = rr, .now = now};
	struct dispatch_result *res;
	int(*actions)[RS_VERDICT_MAX];
	int failed;

	if (!pol)
		return; /* the caller selects only repositories a policy is for */
	pr->policy = xstrdup(pol->location);
	w.subjects = xcalloc(rr->count + 1, sizeof(char *));
	walk_group(&w);
	w.view = xcalloc(w.n + 1, sizeof(*w.view));
	w.dec = xcalloc(w.n + 1, sizeof(*w.dec));
	w.decp = xcalloc(w.n + 1, sizeof(*w.decp));
	w.dec_of = xcalloc(w.n + 1, sizeof(size_t));
	w.reason = xcalloc(w.n + 1, sizeof(*w.reason));
	w.reasons = pool_new();
	w.passed_by = xcalloc(w.n + 1, sizeof(size_t));
	w.decided = xcalloc(w.n + 1, 1);
	res = xcalloc(w.n + 1, sizeof(*res));
	actions = xcalloc(pol->count, sizeof(*actions));
	for (size_t i = 0; i < pol->count; i++)
		memcpy(actions[i], pol->entries[i].actions, sizeof(actions[i]));
	failed = dispatch_run((const int(*)[RS_VERDICT_MAX])actions, pol->count, w.n, &ops, &w, res);
	free(actions);
	if (failed) {
		log_msg(RS_LOG_ERROR, "%s: %s", rr->name, w.failure);
		keep_all(pr, rr, w.failure); /* fail closed */
		free(res);
		walk_free(&w);
		return;
	}
	walk_free_calls(&w);
	pr->tag_count = rr->count;
	pr->tags = xcalloc(rr->count + 1, sizeof(*pr->tags));
	for (size_t i = 0; i < rr->count; i++) {
		struct plan_tag *t = &pr->tags[i];

		if (w.subjects[i]) {
			plan_tag_set(t, &rr->images[i], rr->images[i].digest, RS_KEEP, NULL);
			t->subject = plan_strdup(pr, w.subjects[i]);
		} else if (!rr->images[i].digest) {
			plan_tag_set(t, &rr->images[i], NULL, RS_KEEP,
				     plan_strdup_shared(pr, "digest unknown: cannot be deleted "
							    "safely"));
		}
	}
	for (size_t k = 0; k < w.n; k++) {
		char *reason = walk_reason(&w, k, &res[k], pr);
		char *digest = w.imgs[k].tag_count ? rr->images[w.members[w.first[k]]].digest : NULL;

		for (size_t m = w.first[k]; m < w.first[k + 1]; m++)
			plan_tag_set(&pr->tags[w.members[m]], &rr->images[w.members[m]], digest,
				     res[k].verdict, reason);
		if (!w.imgs[k].tag_count && res[k].verdict == RS_DELETE)
			plan_add_deletion(pr, w.imgs[k].digest, w.imgs[k].media_type, NULL, 0)
			    ->reason = reason;
	}
	/* The walk is done with: what follows needs only the plan and the scan. */
	free(res);
	walk_free(&w);
	keep_invalid_names(pr, rr);
	graph_settle(pr, rr);
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

static void fetch_missing_bodies(struct registry *reg, struct plan *p,
				 const struct reg_scan *scan, int gone_is_done);

/* The digests the graph decides for r: what a tag names (then it is in the graph), and
 * what something kept holds on to.  Built once per repository: answers come in the
 * thousands. */
static void graph_held(const struct plan_repo *r, const struct reg_repo *rr, struct strmap *out)
{
	int fresh;

	graph_kept(r, rr, out);
	for (size_t i = 0; i < r->tag_count; i++)
		if (r->tags[i].digest)
			*strmap_slot(out, r->tags[i].digest, &fresh) = r->tags[i].digest;
}

/* Adds a deletion for each referrer q's answer lists that the plan has not settled and the
 * graph does not decide (held: graph_held's). */
static void add_api_referrers(struct plan_repo *r, const struct strmap *held,
			      const struct reg_referrers *q)
{
	for (size_t i = 0; i < q->count; i++) {
		struct plan_deletion *d;

		if (plan_find_deletion(r, q->found[i].digest) ||
		    strmap_get(held, q->found[i].digest))
			continue;
		d = plan_add_deletion(r, q->found[i].digest, q->media_types[i], NULL, 0);
		d->follows = plan_strdup(r, q->digest);
		d->reason = pool_printf(r->pool, "referrer of %s (referrers API)", q->digest);
	}
}

/* The OCI 1.1 referrers API lists referrers the tags do not show (signatures and
 * attestations pushed with a subject and no tag): each goes with its subject.  One probe
 * first, so a registry without the API (distribution 2.8 answers 404) costs one request;
 * then rounds, as referrers may have referrers. */
static void delete_api_referrers(struct plan *p, const struct reg_scan *scan,
				 struct registry *reg)
{
	/* Deletions only grow at the end of their repository's array: asked[i] of repository
	 * i's are done. */
	size_t *asked = xcalloc(p->repo_count + 1, sizeof(size_t)), *repo_of = NULL;
	struct strmap *held = xcalloc(p->repo_count + 1, sizeof(*held));
	char *built = xcalloc(p->repo_count + 1, 1);
	struct reg_referrers *qs = NULL;
	int probe = 1;

	for (;;) {
		size_t n = 0;

		for (size_t i = 0; i < p->repo_count && !(probe && n); i++) {
			const struct plan_repo *r = &p->repos[i];

			for (size_t j = asked[i]; !r->error && j < r->deletion_count; j++) {
				qs = xrealloc(qs, (n + 1) * sizeof(*qs));
				repo_of = xrealloc(repo_of, (n + 1) * sizeof(*repo_of));
				qs[n] = (struct reg_referrers){.repo = r->name,
							       .digest = r->deletions[j].digest};
				repo_of[n++] = i;
				if (probe)
					break;
			}
		}
		if (n == 0)
			break;
		for (size_t i = 0; i < n; i++)
			asked[repo_of[i]]++;
		registry_referrers(reg, qs, n);
		for (size_t i = 0; i < n; i++) {
			int absent = qs[i].http_status == 404 || qs[i].http_status == 405;
			size_t at = repo_of[i];

			if (qs[i].http_status == 200 && !qs[i].error[0] && qs[i].count &&
			    !built[at]) {
				graph_held(&p->repos[at], &scan->repos[at], &held[at]);
				built[at] = 1;
			}
			if (qs[i].http_status == 200 && !qs[i].error[0])
				add_api_referrers(&p->repos[at], &held[at], &qs[i]);
			else if (!(probe && absent))
				log_msg(RS_LOG_WARN, "%s@%s: referrers not listed, they stay: %s",
					qs[i].repo, qs[i].digest, qs[i].error);
			registry_referrers_free(&qs[i]);
		}
		/* A probe that fails ends the search: quietly when the API is not there (404,
		 * 405), with the warning above otherwise. */
		if (probe && qs[0].http_status != 200) {
			log_msg(RS_LOG_DEBUG, "no referrers API: %s", qs[0].error);
			break;
		}
		probe = 0;
	}
	for (size_t i = 0; i < p->repo_count; i++)
		strmap_free(&held[i]);
	free(held);
	free(built);
	free(repo_of);
	free(qs);
	free(asked);
	fetch_missing_bodies(reg, p, scan, 0);
}

const struct stack_policy *sweep_policy_for(const struct stack *s, const char *repo)
{
	const struct stack_policy *pol;
	char why[300];

	pattern_failures_reset();
	pol = stack_policy_for(s, repo);
	if (!pattern_failures(why, sizeof(why)))
		return pol;
	log_msg(RS_LOG_WARN, "%s: untouched: matching it to a policy failed: %s", repo, why);
	return NULL;
}

/* Keeps the names some policy is for; the others are left untouched, unscanned.  Names
 * dropped are freed; *count shrinks. */
static void with_policy(const struct stack *s, char **names, size_t *count)
{
	size_t kept = 0;

	for (size_t i = 0; i < *count; i++) {
		if (sweep_policy_for(s, names[i])) {
			names[kept++] = names[i];
		} else {
			log_msg(RS_LOG_DEBUG, "%s: no policy is for it: untouched", names[i]);
			free(names[i]);
		}
	}
	*count = kept;
}

int sweep_plan(const struct sweep_opts *o, struct stack *s, struct registry *reg,
	       struct plan *out, struct rs_err *e)
{
	const char *url = sweep_url(o, s, e);
	struct reg_scan scan = {0};
	char **names = NULL;
	size_t count = 0, listed = 0;
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
	if (sweep_select(reg, s, &names, &count, &listed, e))
		goto out;
	with_policy(s, names, &count);
	/* Only a run that deletes journals the manifests' bytes: a plan keeps none. */
	if (registry_scan(reg, names, count,
			  stack_needs(s) | (o->will_delete ? REG_NEED_BODIES : 0), &scan, e))
		goto out;
	if (stack_needs(s) & (RS_NEED_PUSHED | RS_NEED_UNTAGGED)) {
		struct push_source src;

		if (storage_open_fs(s->storage_root, s->storage_root_location, &src, e))
			goto out;
		storage_attach(&src, reg, &scan, (stack_needs(s) & RS_NEED_UNTAGGED) != 0);
		storage_close(&src);
	}
	for (size_t i = 0; i < scan.count; i++) {
		const struct reg_repo *rr = &scan.repos[i];
		struct plan_repo *pr = plan_add_repo(out, rr->name);

		if (rr->error) {
			keep_all(pr, rr, rr->error);
			pr->policy = xstrdup(sweep_policy_for(s, rr->name)->location);
		} else {
			sweep_decide(s, rr, out->created, pr);
			if (o->will_delete)
				graph_attach_bodies(pr, rr);
		}
	}
	pool_adopt(plan_pool(out), scan.bodies); /* graph_attach_bodies borrowed them */
	scan.bodies = NULL;
	/* The walks are done: the referrers' rounds and the estimate need only the graph,
	 * and the walks' small allocations left holes. */
	registry_scan_drop_images(&scan);
	util_heap_trim();
	delete_api_referrers(out, &scan, reg);
	graph_estimate(out, &scan, count < listed);
	plan_check_guards(out);
	log_msg(RS_LOG_DEBUG, "scan: %zu requests, %zu KiB kept", registry_requests(reg),
		pool_mapped(scan.pool) / 1024);
	rc = 0;
out:
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
	pool_adopt(plan_pool(out), scan.pool); /* the plan's tags borrowed its strings */
	scan.pool = NULL;
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

/* Indexes into now->images ordered by tag, for find_tag; caller-owned. */
static size_t *tag_order(const struct reg_repo *now)
{
	size_t *order = xcalloc(now->count + 1, sizeof(size_t));

	for (size_t k = 0; k < now->count; k++)
		order[k] = k;
	qsort_r(order, now->count, sizeof(size_t), by_tag, now->images);
	return order;
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
static char *changed_since_plan(const struct plan_repo *r, const struct plan_deletion *d,
				const struct reg_repo *now, const size_t *order,
				const struct strchains *on)
{
	size_t on_digest = 0;

	for (size_t k = 0; k < d->tag_count; k++) {
		const struct reg_image *img = find_tag(now, order, d->tags[k]);

		/* A tag deleted meanwhile removes nothing the plan meant to keep. */
		if (!img)
			continue;
		if (!img->digest || strcmp(img->digest, d->digest))
			return pool_printf(r->pool, "tag %s moved to %s since the plan", d->tags[k],
					   img->digest ? img->digest : "an unknown digest");
	}
	for (size_t i = strchains_first(on, d->digest); i; i = on->next[i - 1]) {
		on_digest++;
		if (on_digest > d->tag_count || !planned_tag(d, now->images[i - 1].tag))
			return pool_printf(r->pool, "digest gained tag %s since the plan",
					   now->images[i - 1].tag);
	}
	return NULL;
}


/* Skips every deletion a manifest that stays references: an index pushed since the plan,
 * or one whose own deletion was skipped (and so on down). */
static void skip_referenced(struct plan_repo *r, const struct reg_repo *now)
{
	struct strmap going = {0};
	size_t skipped;
	int fresh;

	do {
		skipped = 0;
		strmap_free(&going);
		for (size_t k = 0; k < r->deletion_count; k++)
			if (!r->deletions[k].skipped)
				*strmap_slot(&going, r->deletions[k].digest, &fresh) = r->deletions[k].digest;
		for (size_t m = 0; m < now->manifest_count; m++) {
			const struct reg_manifest *parent = &now->manifests[m];

			if (strmap_get(&going, parent->digest))
				continue;
			for (size_t c = 0; c < parent->child_count; c++) {
				struct plan_deletion *d = strmap_get(&going, parent->children[c])
								  ? plan_find_deletion(r, parent->children[c])
								  : NULL;

				if (d && !d->skipped) {
					d->skipped = pool_printf(r->pool, "index %s, which stays, "
									 "references it",
								 parent->digest);
					skipped++;
				}
			}
		}
	} while (skipped);
	strmap_free(&going);
}

/* One deletion chosen for the next batch. */
struct sending {
	struct plan_repo *repo;
	struct plan_deletion *d;
};

/* Marks d skipped for why (in r's pool) and says so. */
static void skip(struct plan_repo *r, struct plan_deletion *d, char *why)
{
	d->skipped = why;
	log_msg(RS_LOG_WARN, "%s@%s skipped: %s", r->name, d->digest, why);
}

/* Reads by digest the bytes of the n deletions of list, into pool: the journal records
 * them.  One already gone is done when gone_is_done (apply: deleted since the plan), else
 * skipped, as is one that cannot be read. */
static void read_bodies(struct registry *reg, const struct sending *list, size_t n,
			struct pool *pool, int gone_is_done)
{
	struct reg_get *gets = xcalloc(n + 1, sizeof(*gets));

	for (size_t i = 0; i < n; i++)
		gets[i] = (struct reg_get){.repo = list[i].repo->name, .digest = list[i].d->digest};
	registry_get_manifests(reg, gets, n);
	for (size_t i = 0; i < n; i++) {
		struct plan_deletion *d = list[i].d;

		d->body = gets[i].body ? pool_strndup(pool, gets[i].body, gets[i].body_len) : NULL;
		d->body_len = gets[i].body_len;
		free(gets[i].body);
		if (gets[i].http_status == 404 && gone_is_done) {
			d->done = 1;
			log_msg(RS_LOG_INFO, "%s@%s: already gone", gets[i].repo, d->digest);
		} else if (!d->body) {
			skip(list[i].repo, d,
			     pool_printf(list[i].repo->pool,
					 "its manifest could not be read for the journal: %s",
					 gets[i].error));
		}
	}
	free(gets);
}

/* Reads the manifests of p's deletions that have no bytes attached and that scan's graph
 * (the plan's, whose repositories are p's, in order; NULL: none) does not hold, such as a
 * referrer only the referrers API lists: the estimate counts their blobs, the journal
 * records them.  gone_is_done as read_bodies. */
static void fetch_missing_bodies(struct registry *reg, struct plan *p,
				 const struct reg_scan *scan, int gone_is_done)
{
	struct sending *list = NULL;
	size_t n = 0;

	for (size_t i = 0; i < p->repo_count; i++) {
		struct plan_repo *r = &p->repos[i];

		for (size_t k = 0; k < r->deletion_count; k++) {
			if (!pending(r, &r->deletions[k]) || r->deletions[k].body ||
			    (scan && i < scan->count &&
			     registry_manifest(&scan->repos[i], r->deletions[k].digest)))
				continue;
			list = xrealloc(list, (n + 1) * sizeof(*list));
			list[n++] = (struct sending){r, &r->deletions[k]};
		}
	}
	read_bodies(reg, list, n, p->pool, gone_is_done);
	free(list);
}

/* Skips every deletion of r, and says so once: the summary points at the warnings. */
static void skip_repo(struct plan_repo *r, const char *why)
{
	log_msg(RS_LOG_WARN, "%s: its %zu deletions skipped: %s", r->name, r->deletion_count, why);
	for (size_t k = 0; k < r->deletion_count; k++)
		if (!r->deletions[k].skipped)
			r->deletions[k].skipped = plan_strdup(r, why);
}

/* Re-resolves every tag of the repositories with deletions and marks what changed.  The
 * manifests' bytes are kept only with_bodies: else apply reads them a chunk at a time, as
 * it journals. */
static void verify_plan(struct registry *reg, struct plan *p, int with_bodies)
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
	if (n && registry_scan(reg, names, n,
			       RS_NEED_DIGEST | REG_NEED_GRAPH |
				   (with_bodies ? REG_NEED_BODIES : REG_GRAPH_REFS),
			       &scan, &e)) {
		char *why = xasprintf("could not re-resolve tags: %s", e.msg);

		for (size_t i = 0; i < n; i++)
			skip_repo(repos[i], why);
		free(why);
	}
	for (size_t i = 0; i < scan.count && i < n; i++) {
		const struct reg_repo *now = &scan.repos[i];
		struct strchains on = {0}; /* the rescanned tags by digest */
		size_t *order;

		if (now->error) {
			char *why = xasprintf("could not re-resolve tags: %s", now->error);

			skip_repo(repos[i], why);
			free(why);
			continue;
		}
		order = tag_order(now);
		strchains_build(&on, now->images, now->count, sizeof(*now->images),
				offsetof(struct reg_image, digest));
		for (size_t k = 0; k < repos[i]->deletion_count; k++) {
			struct plan_deletion *d = &repos[i]->deletions[k];

			d->skipped = changed_since_plan(repos[i], d, now, order, &on);
		}
		strchains_free(&on);
		skip_referenced(repos[i], now);
		for (size_t k = 0; k < repos[i]->deletion_count; k++)
			if (repos[i]->deletions[k].skipped)
				log_msg(RS_LOG_WARN, "%s@%s skipped: %s", repos[i]->name,
					repos[i]->deletions[k].digest, repos[i]->deletions[k].skipped);
		if (with_bodies)
			graph_attach_bodies(repos[i], now);
		free(order);
	}
	pool_adopt(plan_pool(p), scan.bodies); /* graph_attach_bodies borrowed them */
	scan.bodies = NULL;
	registry_scan_free(&scan);
	if (with_bodies)
		fetch_missing_bodies(reg, p, NULL, 1);
	free(repos);
	free(names);
}

/* Whether what d follows is deleted: 1 all of it, 0 not settled yet, -1 some of it will not
 * be (d is then skipped: an index or subject that stays still needs it). */
static int followed(struct plan_repo *r, struct plan_deletion *d)
{
	int settled = 1;

	for (size_t i = 0; d->follows && i <= d->also_follows_count; i++) {
		const char *digest = i ? d->also_follows[i - 1] : d->follows;
		const struct plan_deletion *f = plan_find_deletion(r, digest);

		if (f && !f->done && !f->error && !f->skipped) {
			settled = 0;
		} else if (!f || !f->done) {
			skip(r, d, pool_printf(r->pool, "%s, which it follows, was not deleted", digest));
			return -1;
		}
	}
	return settled;
}

/* Whether d goes in this round: 1 yes, 0 not yet (what it follows is not settled), -1
 * never (marked skipped). */
static int ready(struct plan_repo *r, struct plan_deletion *d, int journaling)
{
	int f;

	if (!pending(r, d) || d->done || d->error)
		return -1;
	f = followed(r, d);
	if (f <= 0)
		return f;
	if (journaling && strncmp(d->digest, "sha256:", 7) != 0) {
		skip(r, d, plan_strdup_shared(r, "the journal takes sha256 digests only"));
		return -1;
	}
	return 1;
}

/* Journals the batch and syncs it; on failure nothing of it may be sent. */
static int journal_batch(struct journal *journal, const struct plan *p,
			 const struct sending *batch, size_t n, struct rs_err *e)
{
	for (size_t i = 0; i < n; i++) {
		const struct plan_deletion *d = batch[i].d;
		struct journal_entry en = {.registry = p->registry,
					   .repo = batch[i].repo->name,
					   .digest = d->digest,
					   .media_type = d->media_type,
					   .tags = (const char *const *)d->tags,
					   .tag_count = d->tag_count,
					   .body = d->body,
					   .body_len = d->body_len};

		if (journal_append(journal, &en, e))
			return -1;
	}
	return journal_sync(journal, e);
}

static size_t send_chunk(struct registry *reg, const char *storage_root,
			 struct sending *batch, size_t n)
{
	struct reg_delete *dels = xcalloc(n, sizeof(*dels));
	size_t failed;

	for (size_t i = 0; i < n; i++)
		dels[i] = (struct reg_delete){.repo = batch[i].repo->name,
					      .digest = batch[i].d->digest};
	failed = storage_root ? storage_delete(storage_root, dels, n) : registry_delete(reg, dels, n);
	for (size_t i = 0; i < n; i++) {
		struct plan_deletion *d = batch[i].d;

		d->done = dels[i].ok;
		/* Not sent because of a signal: "not attempted", not a failure. */
		if (!dels[i].ok && http_interrupted() && dels[i].http_status == 0) {
			failed--;
		} else if (!dels[i].ok) {
			d->error = plan_strdup(batch[i].repo, dels[i].error);
			log_msg(RS_LOG_ERROR, "%s@%s: %s", batch[i].repo->name, d->digest, d->error);
		}
	}
	free(dels);
	return failed;
}

/* Manifests journaled, and DELETEs handed to the registry client, at once: their bytes
 * are read for the journal a chunk at a time and let go once it is synced, and each DELETE
 * carries an error line; a round of 50,000 would hold 21 MB and 14 MB of them. */
#define SEND_CHUNK 2048

/* Journals the chunk (when journal is non-NULL), reading the bytes it has not got into
 * bodies, and moves what may go to its front: *go of them.  0, or -1 with e set when the
 * journal failed: none of them may be sent. */
static int journal_chunk(struct registry *reg, struct journal *journal, const struct plan *p,
			 struct sending *chunk, size_t n, struct pool *bodies, size_t *go,
			 struct rs_err *e)
{
	size_t missing = 0;

	*go = n;
	if (!journal)
		return 0;
	for (size_t i = 0; i < n; i++) /* a run's scan may have kept some */
		if (!chunk[i].d->body) {
			struct sending t = chunk[missing];

			chunk[missing++] = chunk[i];
			chunk[i] = t;
		}
	read_bodies(reg, chunk, missing, bodies, 1);
	*go = 0;
	for (size_t i = 0; i < n; i++)
		if (chunk[i].d->body && !chunk[i].d->done && !chunk[i].d->skipped)
			chunk[(*go)++] = chunk[i];
	return journal_batch(journal, p, chunk, *go, e);
}

/* Journals and sends one batch, SEND_CHUNK at a time: through the API chunk by chunk, in
 * storage all at once when the batch is journaled (it reads a repository's tags once per
 * call).  Returns how many failed; *stop is set when the journal failed, and what it had
 * not recorded is not sent. */
static size_t send_batch(struct registry *reg, struct journal *journal, const struct plan *p,
			 const char *storage_root, struct sending *batch, size_t n, int *stop)
{
	struct rs_err e = {{0}};
	size_t failed = 0, journaled = 0;

	for (size_t at = 0; at < n && !http_interrupted(); at += SEND_CHUNK) {
		size_t len = n - at < SEND_CHUNK ? n - at : SEND_CHUNK, go;
		struct pool *bodies = pool_new();
		int rc = journal_chunk(reg, journal, p, batch + at, len, bodies, &go, &e);

		for (size_t i = 0; i < len; i++)
			batch[at + i].d->body = NULL; /* journaled: not needed again */
		pool_free(bodies);
		if (rc) {
			log_msg(RS_LOG_ERROR, "%s: nothing more is deleted", e.msg);
			for (size_t i = at; i < n; i++)
				if (i < at + go || i >= at + len) {
					batch[i].d->error = pool_printf(batch[i].repo->pool,
									"not sent: %s", e.msg);
					failed++;
				}
			*stop = 1;
			break;
		}
		if (storage_root) {
			memmove(batch + journaled, batch + at, go * sizeof(*batch));
			journaled += go;
		} else {
			failed += send_chunk(reg, NULL, batch + at, go);
		}
	}
	if (journaled && !http_interrupted())
		failed += send_chunk(reg, storage_root, batch, journaled);
	return failed;
}

void sweep_verify(struct registry *reg, struct plan *p, int with_bodies)
{
	verify_plan(reg, p, with_bodies);
}

size_t sweep_apply(struct plan *p, struct registry *reg, struct journal *journal,
		   const char *storage_root)
{
	struct sending *batch;
	size_t total = 0, failed = 0;
	int stop = 0;

	for (size_t i = 0; i < p->repo_count; i++)
		if (!p->repos[i].error)
			total += p->repos[i].deletion_count;
	if (total == 0)
		return 0;
	batch = xcalloc(total, sizeof(*batch));
	/* Rounds: what follows a deletion (an index's children, a subject's referrers) goes
	 * only once that deletion is done. */
	while (!stop && !http_interrupted()) {
		size_t n = 0;

		for (size_t i = 0; i < p->repo_count; i++) {
			struct plan_repo *r = &p->repos[i];

			for (size_t k = 0; k < r->deletion_count; k++)
				if (ready(r, &r->deletions[k], journal != NULL) == 1)
					batch[n++] = (struct sending){r, &r->deletions[k]};
		}
		if (n == 0)
			break;
		failed += send_batch(reg, journal, p, storage_root, batch, n, &stop);
	}
	free(batch);
	return failed;
}

struct kept_check {
	const struct plan *plan;
	struct registry *reg;
};

/* host->verify_kept: every kept tag still resolves, and its manifest, children and blobs
 * all answer 200. */
static int verify_kept(void *arg, char *err, size_t errlen)
{
	const struct kept_check *kc = arg;
	const struct plan *p = kc->plan;
	char **names = xcalloc(p->repo_count + 1, sizeof(char *));
	const struct plan_repo **repos = xcalloc(p->repo_count + 1, sizeof(*repos));
	struct reg_scan scan = {0};
	struct rs_err e = {{0}};
	size_t n = 0, tags = 0;

	for (size_t i = 0; i < p->repo_count; i++) {
		repos[n] = &p->repos[i];
		names[n++] = p->repos[i].name;
	}
	if (n && registry_scan(kc->reg, names, n,
			       RS_NEED_DIGEST | REG_NEED_GRAPH | REG_NEED_BLOBS, &scan, &e))
		goto out;
	for (size_t i = 0; i < scan.count && !err_isset(&e); i++) {
		const struct reg_repo *now = &scan.repos[i];
		size_t *order;

		if (now->error) {
			err_set(&e, "%s", now->error);
			break;
		}
		order = tag_order(now);
		for (size_t k = 0; k < repos[i]->tag_count && !err_isset(&e); k++) {
			const struct plan_tag *t = &repos[i]->tags[k];
			const struct reg_image *img;

			if (t->verdict != RS_KEEP)
				continue;
			img = find_tag(now, order, t->tag);
			if (!img)
				err_set(&e, "%s:%s: the tag no longer resolves", now->name, t->tag);
			else if (t->digest && (!img->digest || strcmp(img->digest, t->digest)))
				err_set(&e, "%s:%s: names %s, not the planned %s", now->name, t->tag,
					img->digest ? img->digest : "nothing known", t->digest);
			tags++;
		}
		free(order);
	}
out:
	if (!err_isset(&e))
		log_msg(RS_LOG_INFO, "checked %zu kept tags: manifests, children and blobs all "
				     "answer 200", tags);
	else
		snprintf(err, errlen, "%s", e.msg);
	registry_scan_free(&scan);
	free(repos);
	free(names);
	return err_isset(&e) ? -1 : 0;
}

int sweep_verify_kept(const struct plan *p, struct registry *reg, struct rs_err *e)
{
	struct kept_check kc = {p, reg};

	return verify_kept(&kc, e->msg, sizeof(e->msg));
}

int sweep_after(struct stack *s, const struct plan *p, struct registry *reg, int dry_run,
		int in_window, size_t *ran, struct rs_err *e)
{
	struct plan_totals t;
	struct rs_run_summary sum;
	struct kept_check kc = {p, reg};
	int rc = 0;

	plan_totals(p, &t);
	sum = (struct rs_run_summary){.registry = p->registry,
				      .dry_run = dry_run,
				      .repositories = t.repos,
				      .tags_deleted = t.done_tags,
				      .manifests_deleted = t.done,
				      .requests_failed = t.failed,
				      .maintenance_window = in_window,
				      .reclaimable_bytes = p->reclaimable_bytes,
				      .reclaimable_upper_bound = p->reclaimable_upper_bound};
	host_set_verifier(verify_kept, &kc);
	for (size_t i = 0; i < s->after_count && rc == 0; i++) {
		struct stack_entry *en = &s->after[i];
		char msg[400] = "";

		/* A garbage collection (and the registry stopped for it) for nothing is
		 * avoidable downtime. */
		if (!t.done && !en->always) {
			log_msg(RS_LOG_INFO, "%s: %s skipped: nothing was deleted (always = true runs "
					     "it anyway)",
				en->location, en->desc->name);
			continue;
		}
		++*ran;
		if (en->desc->after(&en->ctx, en->state, &sum, msg, sizeof(msg)) != RS_OK) {
			err_set(e, "%s: %s: %s", en->location, en->desc->name,
				msg[0] ? msg : "failed");
			rc = -1;
		}
	}
	host_set_verifier(NULL, NULL);
	return rc;
}
