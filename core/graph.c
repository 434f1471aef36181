/* graph.c - referrers, index children and the reclaimable-space estimate of a plan. */
#include "graph.h"

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

/* Children of deleted indexes that nothing kept references, deleted with their index.
 * Returns how many were added. */
static size_t delete_children(struct plan_repo *pr, const struct reg_repo *rr,
			      struct strmap *deleted)
{
	struct strmap kept = {0};
	size_t added = 0;

	/* Unsettled referrers count as kept: they hold on to their children until then. */
	for (size_t i = 0; i < pr->tag_count; i++)
		if (pr->tags[i].verdict == RS_KEEP && pr->tags[i].digest)
			add_closure(&kept, rr, pr->tags[i].digest);
	/* The array grows as children are added: those are walked too (nested indexes). */
	for (size_t k = 0; k < pr->deletion_count; k++) {
		const struct reg_manifest *m = registry_manifest(rr, pr->deletions[k].digest);

		for (size_t c = 0; m && c < m->child_count; c++) {
			const struct reg_manifest *child = registry_manifest(rr, m->children[c]);
			struct plan_deletion *d;
			int fresh;

			if (strmap_get(&kept, m->children[c]) || strmap_get(deleted, m->children[c]))
				continue;
			d = plan_add_deletion(pr, m->children[c], child ? child->media_type : NULL,
					      NULL, 0);
			/* plan_add_deletion may move the array: m->children stays valid. */
			d->follows = xstrdup(pr->deletions[k].digest);
			d->reason = xasprintf("child of deleted index %s", d->follows);
			*strmap_slot(deleted, d->digest, &fresh) = &member;
			added++;
		}
	}
	strmap_free(&kept);
	return added;
}

/* Deletes the referrer tags whose subject is deleted, one deletion per digest all of whose
 * tags go; a referrer sharing its digest with a kept tag stays.  Returns deletions added. */
static size_t delete_referrers(struct plan_repo *pr, struct strmap *deleted)
{
	size_t added = 0;

	for (size_t i = 0; i < pr->tag_count; i++) {
		struct plan_tag *t = &pr->tags[i];

		if (t->subject && t->verdict == RS_KEEP && !t->reason && strmap_get(deleted, t->subject))
			t->verdict = RS_DELETE;
	}
	for (size_t i = 0; i < pr->tag_count; i++) {
		struct plan_tag *t = &pr->tags[i];
		const struct plan_tag *kept = NULL;
		char **tags;
		size_t n = 0;
		struct plan_deletion *d;
		int fresh;

		if (!t->subject || t->verdict != RS_DELETE || t->reason)
			continue;
		tags = xcalloc(pr->tag_count, sizeof(char *));
		for (size_t j = 0; j < pr->tag_count; j++) {
			const struct plan_tag *u = &pr->tags[j];

			if (!u->digest || strcmp(u->digest, t->digest))
				continue;
			if (u->verdict == RS_KEEP && !kept)
				kept = u;
			tags[n++] = u->tag;
		}
		for (size_t j = 0; j < pr->tag_count; j++) {
			struct plan_tag *u = &pr->tags[j];

			if (!u->digest || strcmp(u->digest, t->digest) || u->verdict != RS_DELETE)
				continue;
			u->verdict = kept ? RS_KEEP : RS_DELETE;
			u->reason = kept ? xasprintf("shares digest with %s", kept->tag)
					 : xasprintf("follows its subject %s, which is deleted",
						     u->subject ? u->subject : t->subject);
		}
		if (!kept) {
			d = plan_add_deletion(pr, t->digest, t->media_type, tags, n);
			d->follows = xstrdup(t->subject);
			d->reason = xasprintf("follows its subject %s", t->subject);
			*strmap_slot(deleted, d->digest, &fresh) = &member;
			added++;
		}
		free(tags);
	}
	return added;
}

void graph_settle(struct plan_repo *pr, const struct reg_repo *rr)
{
	struct strmap deleted = {0};
	int fresh;

	/* Referrers wait with a KEEP and no reason until their subject is settled. */
	for (size_t i = 0; i < pr->tag_count; i++) {
		if (pr->tags[i].subject) {
			pr->tags[i].verdict = RS_KEEP;
			free(pr->tags[i].reason);
			pr->tags[i].reason = NULL;
		}
	}
	plan_group_digests(pr);
	for (size_t k = 0; k < pr->deletion_count; k++)
		*strmap_slot(&deleted, pr->deletions[k].digest, &fresh) = &member;
	/* A referrer of a child, or of a referrer, settles in a later round. */
	while (delete_children(pr, rr, &deleted) + delete_referrers(pr, &deleted))
		;
	for (size_t i = 0; i < pr->tag_count; i++) {
		struct plan_tag *t = &pr->tags[i];

		if (!t->subject || t->reason)
			continue;
		t->reason = registry_manifest(rr, t->subject)
				    ? xasprintf("follows its subject %s, which is kept", t->subject)
				    : xasprintf("its subject %s is not in the repository: kept",
						t->subject);
	}
	strmap_free(&deleted);
}

void graph_attach_bodies(struct plan_repo *pr, const struct reg_repo *rr)
{
	for (size_t k = 0; k < pr->deletion_count; k++) {
		struct plan_deletion *d = &pr->deletions[k];
		const struct reg_manifest *m = registry_manifest(rr, d->digest);

		free(d->body);
		d->body = m ? xstrndup(m->body, m->body_len) : NULL;
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
	struct reg_manifest parsed = {0};

	if (m)
		each_blob(m, count_freed, t);
	else if (d->body && registry_manifest_from_body(&parsed, d->digest, d->body,
							 d->body_len, d->media_type) == 0)
		each_blob(&parsed, count_freed, t);
	else
		t->unknown = 1;
	registry_manifest_free(&parsed);
}

void graph_estimate(struct plan *p, const struct reg_scan *scan, int partial)
{
	struct strmap live = {0}, deleted = {0};
	struct tally t = {.live = &live};
	int fresh;

	p->reclaimable_upper_bound = partial;
	/* Every manifest the plan does not delete keeps its blobs, in whatever repository. */
	for (size_t i = 0; i < scan->count && i < p->repo_count; i++) {
		const struct reg_repo *rr = &scan->repos[i];
		const struct plan_repo *pr = &p->repos[i];

		strmap_free(&deleted);
		for (size_t k = 0; !pr->error && k < pr->deletion_count; k++)
			*strmap_slot(&deleted, pr->deletions[k].digest, &fresh) = &member;
		for (size_t m = 0; m < rr->manifest_count; m++)
			if (!strmap_get(&deleted, rr->manifests[m].digest))
				each_blob(&rr->manifests[m], mark_live, &live);
		/* Unscanned manifests may reference anything. */
		p->reclaimable_upper_bound |= rr->error != NULL;
	}
	strmap_free(&deleted);
	for (size_t i = 0; i < scan->count && i < p->repo_count; i++) {
		const struct reg_repo *rr = &scan->repos[i];
		struct plan_repo *pr = &p->repos[i];
		int64_t before = t.bytes;

		for (size_t k = 0; !pr->error && k < pr->deletion_count; k++)
			count_deletion(&pr->deletions[k], rr, &t);
		pr->reclaimable_bytes = t.bytes - before;
	}
	p->reclaimable_bytes = t.bytes;
	/* Bytes not known make the figure a floor, not a ceiling: say nothing rather than
	 * something wrong. */
	if (t.unknown)
		p->reclaimable_bytes = -1;
	strmap_free(&t.counted);
	strmap_free(&live);
}
