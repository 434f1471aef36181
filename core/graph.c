/* graph.c - referrers, index children and the reclaimable-space estimate of a plan. */
#include "graph.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Any non-NULL pointer marks a member of a strmap used as a set. */
static char member;

static int is_hex64(const char *s)
{
	for (size_t i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

char *graph_subject(const struct reg_repo *rr, const struct reg_image *img)
{
	static const char *const suffixes[] = {".sig", ".att", ".sbom"};
	const struct reg_manifest *m;

	/* cosign names what it attaches to an image after the image's digest. */
	if (strncmp(img->tag, "sha256-", 7) == 0 && strlen(img->tag) > 71 &&
	    is_hex64(img->tag + 7)) {
		for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
			if (strcmp(img->tag + 71, suffixes[i]) == 0)
				return xasprintf("sha256:%.64s", img->tag + 7);
	}
	m = img->digest ? registry_manifest(rr, img->digest) : NULL;
	return m && m->subject ? xstrdup(m->subject) : NULL;
}

/* Adds digest and, through the graph, every manifest below it to set. */
static void add_closure(struct strmap *set, const struct reg_repo *rr, const char *digest)
{
	const struct reg_manifest *m;
	int fresh;

	*strmap_slot(set, digest, &fresh) = &member;
	m = fresh ? registry_manifest(rr, digest) : NULL;
	for (size_t i = 0; m && i < m->child_count; i++)
		add_closure(set, rr, m->children[i]);
}

/* What kept tags hold on to: every manifest under them (their own included) in all, and
 * the manifests under them that are some kept index's child in children. */
static void kept_sets(const struct plan_repo *pr, const struct reg_repo *rr, struct strmap *all,
		      struct strmap *children)
{
	for (size_t i = 0; i < pr->tag_count; i++) {
		const struct reg_manifest *m;

		if (pr->tags[i].verdict != RS_KEEP || !pr->tags[i].digest)
			continue;
		add_closure(all, rr, pr->tags[i].digest);
		m = registry_manifest(rr, pr->tags[i].digest);
		for (size_t c = 0; m && c < m->child_count; c++)
			add_closure(children, rr, m->children[c]);
	}
}

/* d must also wait for the deletion of digest (a second index listing it). */
static void also_follow(struct plan_repo *pr, struct plan_deletion *d, const char *digest)
{
	char **more;

	if (d->follows && strcmp(d->follows, digest) == 0)
		return;
	for (size_t i = 0; i < d->also_follows_count; i++)
		if (strcmp(d->also_follows[i], digest) == 0)
			return;
	if (!d->follows) {
		d->follows = plan_strdup(pr, digest);
		d->reason = pool_printf(pr->pool, "waits for index %s, which lists it", digest);
		return;
	}
	/* Rare (a child two deleted indexes share): the old array is left to the pool. */
	more = pool_calloc(pr->pool, d->also_follows_count + 2, sizeof(char *));
	if (d->also_follows_count)
		memcpy(more, d->also_follows, d->also_follows_count * sizeof(char *));
	more[d->also_follows_count++] = plan_strdup(pr, digest);
	d->also_follows = more;
}

/* Children of deleted indexes that nothing kept references, deleted with their index; and
 * every deletion an index being deleted lists waits for that index, so a failed index
 * DELETE never leaves an index without its child.  Returns how many were added. */
static size_t delete_children(struct plan_repo *pr, const struct reg_repo *rr,
			      const struct strmap *kept)
{
	size_t added = 0;

	/* The array grows as children are added: those are walked too (nested indexes). */
	for (size_t k = 0; k < pr->deletion_count; k++) {
		const struct reg_manifest *m = registry_manifest(rr, pr->deletions[k].digest);

		for (size_t c = 0; m && c < m->child_count; c++) {
			const struct reg_manifest *child = registry_manifest(rr, m->children[c]);
			struct plan_deletion *d = plan_find_deletion(pr, m->children[c]);

			if (d) {
				also_follow(pr, d, m->digest);
				continue;
			}
			if (strmap_get(kept, m->children[c]))
				continue;
			d = plan_add_deletion(pr, m->children[c], child ? child->media_type : NULL,
					      NULL, 0);
			/* plan_add_deletion may move the array: m and its strings stay valid. */
			d->follows = plan_strdup(pr, m->digest);
			d->reason = pool_printf(pr->pool, "child of deleted index %s", d->follows);
			added++;
		}
	}
	return added;
}

/* Deletes the referrer tags whose subject is deleted, one deletion per digest all of whose
 * tags go; a referrer sharing its digest with a kept tag, or that a kept index lists,
 * stays.  Returns deletions added. */
static size_t delete_referrers(struct plan_repo *pr, const struct strchains *by_digest,
			       const struct strmap *kept_children)
{
	size_t added = 0;

	for (size_t i = 0; i < pr->tag_count; i++) {
		struct plan_tag *t = &pr->tags[i];

		if (t->subject && t->verdict == RS_KEEP && !t->reason &&
		    plan_find_deletion(pr, t->subject) && !strmap_get(kept_children, t->digest))
			t->verdict = RS_DELETE;
	}
	for (size_t i = 0; i < pr->tag_count; i++) {
		struct plan_tag *t = &pr->tags[i];
		const struct plan_tag *kept = NULL;
		size_t first = strchains_first(by_digest, t->digest);
		char **tags;
		size_t n = 0;
		struct plan_deletion *d;

		if (!t->subject || t->verdict != RS_DELETE || t->reason)
			continue;
		for (size_t j = first; j; j = by_digest->next[j - 1])
			n++;
		tags = xcalloc(n + 1, sizeof(char *));
		n = 0;
		for (size_t j = first; j; j = by_digest->next[j - 1]) {
			const struct plan_tag *u = &pr->tags[j - 1];

			if (u->verdict == RS_KEEP && !kept)
				kept = u;
			tags[n++] = u->tag;
		}
		for (size_t j = first; j; j = by_digest->next[j - 1]) {
			struct plan_tag *u = &pr->tags[j - 1];

			if (u->verdict != RS_DELETE)
				continue;
			u->verdict = kept ? RS_KEEP : RS_DELETE;
			u->reason = kept ? pool_printf(pr->pool, "shares digest with %s", kept->tag)
					 : pool_printf(pr->pool, "follows its subject %s, which is deleted",
						       u->subject ? u->subject : t->subject);
		}
		if (!kept) {
			d = plan_add_deletion(pr, t->digest, t->media_type, tags, n);
			d->follows = plan_strdup(pr, t->subject);
			d->reason = pool_printf(pr->pool, "follows its subject %s", t->subject);
			added++;
		}
		free(tags);
	}
	return added;
}

/* Untagged manifests with a subject (signatures pushed without a tag, found in storage) go
 * with their subject when nothing kept holds on to them.  Returns deletions added. */
static size_t delete_untagged_referrers(struct plan_repo *pr, const struct reg_repo *rr,
					const struct strmap *kept, const struct strchains *tagged)
{
	size_t added = 0;

	for (size_t m = 0; m < rr->manifest_count; m++) {
		const struct reg_manifest *r = &rr->manifests[m];
		struct plan_deletion *d;

		if (!r->subject || !plan_find_deletion(pr, r->subject) ||
		    plan_find_deletion(pr, r->digest) || strmap_get(kept, r->digest) ||
		    strchains_first(tagged, r->digest))
			continue;
		d = plan_add_deletion(pr, r->digest, r->media_type, NULL, 0);
		d->follows = plan_strdup(pr, r->subject);
		d->reason = pool_printf(pr->pool, "untagged referrer of %s", r->subject);
		added++;
	}
	return added;
}

void graph_kept(const struct plan_repo *pr, const struct reg_repo *rr, struct strmap *out)
{
	struct strmap children = {0};

	kept_sets(pr, rr, out, &children);
	strmap_free(&children);
}

void graph_settle(struct plan_repo *pr, const struct reg_repo *rr)
{
	/* The plan's tags by digest (only referrers need them). */
	struct strchains by_digest = {0};
	int referrers = 0;
	size_t added;

	/* Referrers wait with a KEEP and no reason until their subject is settled. */
	for (size_t i = 0; i < pr->tag_count; i++) {
		if (pr->tags[i].subject) {
			pr->tags[i].verdict = RS_KEEP;
			pr->tags[i].reason = NULL;
			referrers = 1;
		}
	}
	for (size_t m = 0; !referrers && m < rr->manifest_count; m++)
		referrers = rr->manifests[m].subject != NULL;
	plan_group_digests(pr);
	if (referrers)
		strchains_build(&by_digest, pr->tags, pr->tag_count, sizeof(*pr->tags),
				offsetof(struct plan_tag, digest));
	/* A referrer of a child, or of a referrer, settles in a later round.  Unsettled
	 * referrers count as kept: they hold on to their children until then. */
	do {
		struct strmap kept = {0}, kept_children = {0};

		kept_sets(pr, rr, &kept, &kept_children);
		added = delete_children(pr, rr, &kept) +
			delete_referrers(pr, &by_digest, &kept_children);
		added += delete_untagged_referrers(pr, rr, &kept, &by_digest);
		strmap_free(&kept);
		strmap_free(&kept_children);
	} while (added);
	for (size_t i = 0; i < pr->tag_count; i++) {
		struct plan_tag *t = &pr->tags[i];

		if (!t->subject || t->reason)
			continue;
		t->reason = registry_manifest(rr, t->subject)
				    ? pool_printf(pr->pool, "follows its subject %s, which is kept",
						  t->subject)
				    : pool_printf(pr->pool, "its subject %s is not in the repository: kept",
						  t->subject);
	}
	strchains_free(&by_digest);
}

void graph_attach_bodies(struct plan_repo *pr, const struct reg_repo *rr)
{
	for (size_t k = 0; k < pr->deletion_count; k++) {
		struct plan_deletion *d = &pr->deletions[k];
		const struct reg_manifest *m = registry_manifest(rr, d->digest);

		d->body = m ? m->body : NULL;
		d->body_len = m ? m->body_len : 0;
	}
}

/* Calls fn on every blob of manifest m, the manifest itself first (the registry stores
 * manifests as blobs too). */
static void each_blob(const struct reg_manifest *m,
		      void (*fn)(void *arg, const char *digest, int64_t size), void *arg)
{
	fn(arg, m->digest, (int64_t)m->body_len);
	for (size_t b = 0; b < m->blob_count; b++)
		fn(arg, m->blobs[b].digest, m->blobs[b].size);
}

static void mark_live(void *set, const char *digest, int64_t size)
{
	int fresh;

	(void)size;
	*strmap_slot(set, digest, &fresh) = &member;
}

struct tally {
	struct strmap *live, counted;
	int64_t bytes;
	int unknown; /* a blob's size was not given */
	/* Manifests read from their bytes: counted's keys point into them, so they live as
	 * long as the tally. */
	struct pool *pool;
};

static void count_freed(void *arg, const char *digest, int64_t size)
{
	struct tally *t = arg;
	int fresh;

	if (strmap_get(t->live, digest))
		return;
	*strmap_slot(&t->counted, digest, &fresh) = &member;
	if (!fresh)
		return;
	if (size < 0)
		t->unknown = 1;
	else
		t->bytes += size;
}

/* Counts what deleting d frees: from the graph, or from the bytes fetched for the journal
 * when the graph does not hold it (a referrer only the referrers API lists). */
static void count_deletion(const struct plan_deletion *d, const struct reg_repo *rr,
			   struct tally *t)
{
	const struct reg_manifest *m = registry_manifest(rr, d->digest);
	struct reg_manifest *parsed;

	if (m) {
		each_blob(m, count_freed, t);
		return;
	}
	parsed = pool_calloc(t->pool, 1, sizeof(*parsed));
	if (d->body && registry_manifest_from_body(t->pool, NULL, parsed, d->digest, d->body,
						   d->body_len, d->media_type) == 0)
		each_blob(parsed, count_freed, t);
	else
		t->unknown = 1;
}

void graph_estimate(struct plan *p, const struct reg_scan *scan, int partial)
{
	struct strmap live = {0};
	struct tally t = {.live = &live, .pool = pool_new()};

	p->reclaimable_upper_bound = partial;
	/* Every manifest the plan does not delete keeps its blobs, in whatever repository. */
	for (size_t i = 0; i < scan->count && i < p->repo_count; i++) {
		const struct reg_repo *rr = &scan->repos[i];
		struct plan_repo *pr = &p->repos[i];

		for (size_t m = 0; m < rr->manifest_count; m++)
			if (pr->error || !plan_find_deletion(pr, rr->manifests[m].digest))
				each_blob(&rr->manifests[m], mark_live, &live);
		/* Unscanned manifests may reference anything. */
		p->reclaimable_upper_bound |= rr->error != NULL;
	}
	for (size_t i = 0; i < scan->count && i < p->repo_count; i++) {
		const struct reg_repo *rr = &scan->repos[i];
		struct plan_repo *pr = &p->repos[i];
		int64_t before = t.bytes;

		for (size_t k = 0; !pr->error && k < pr->deletion_count; k++)
			count_deletion(&pr->deletions[k], rr, &t);
		pr->reclaimable_bytes = pr->error ? -1 : t.bytes - before;
	}
	p->reclaimable_bytes = t.bytes;
	/* Bytes not known make the figures floors, not ceilings: say nothing rather than
	 * something wrong. */
	for (size_t i = 0; t.unknown && i < p->repo_count; i++)
		p->repos[i].reclaimable_bytes = -1;
	if (t.unknown)
		p->reclaimable_bytes = -1;
	strmap_free(&t.counted);
	strmap_free(&live);
	pool_free(t.pool);
}
