/* keep_last.c - keep the `count` newest images of each repository and delete the rest. */

/*
 * The unit is the image (a digest with all its tags): an image tagged `latest` and
 * `build-9` takes one place.  With unit = "tags" every tag takes a place of its own
 * (GitLab's keep_n) and an image stays when any of its tags does.
 *
 * "Newest" follows `order`:
 *   created  config blob creation time (times before 1980 are unknown)
 *   pushed   when the tag was last pushed (needs registry.storage_root)
 *   name     natural order: digit runs compare by value, so build-10 is newer than build-9
 *   semver   semantic version precedence, with an optional leading "v"
 *   lexical  plain byte order
 * An image ranks by its best tag among those the module ranks.  Ties fall to the natural
 * tag order, then bytes, then list position, so the ranking never depends on qsort.
 *
 * What this module cannot rank it never deletes:
 *   - tags outside `match`, and non-versions under order=semver, are not ranked; an image
 *     with no ranked tag passes, and one whose other tags are not ranked passes instead of
 *     being deleted (those tags are not this module's to judge);
 *   - under created or pushed an unknown time ranks as the newest: whatever cannot be
 *     dated is never the one deleted for being old.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regsweep/module.h"

enum order { ORDER_CREATED, ORDER_PUSHED, ORDER_NAME, ORDER_SEMVER, ORDER_LEXICAL, ORDER_MAX };

static const char *const order_names[ORDER_MAX] = {"created", "pushed", "name", "semver",
						   "lexical"};

struct keep_last {
	const struct rs_host_api *host;
	struct rs_pattern *match; /* empty: every tag is ranked */
	long long count;
	enum order order;
	int by_tag; /* unit = "tags" */
};

/* One place in the ranking: an image, or with unit = "tags" one tag of it. */
struct candidate {
	const struct keep_last *kl;
	size_t image;    /* into repo->images and out */
	const char *tag; /* the best ranked tag (unit images) or the tag itself */
	int64_t time;    /* created or pushed; INT64_MAX when unknown (ranks newest) */
};

static int sign(int c)
{
	return (c > 0) - (c < 0);
}

static enum rs_tag_order tag_order(enum order o)
{
	return o == ORDER_SEMVER ? RS_ORDER_SEMVER
	       : o == ORDER_LEXICAL ? RS_ORDER_LEXICAL
				    : RS_ORDER_NAME;
}

/* qsort: newest first. */
static int newest_first(const void *x, const void *y)
{
	const struct candidate *a = x, *b = y;
	const struct rs_host_api *host = a->kl->host;
	int c = 0;

	if (a->kl->order == ORDER_CREATED || a->kl->order == ORDER_PUSHED)
		c = (a->time > b->time) - (a->time < b->time);
	if (!c)
		c = sign(host->tag_compare(tag_order(a->kl->order), a->tag, b->tag));
	if (!c)
		c = (a->image < b->image) - (a->image > b->image);
	return -c;
}

static int ranked(const struct keep_last *kl, const char *tag)
{
	if (kl->host->pattern_count(kl->match) && !kl->host->pattern_match(kl->match, tag))
		return 0;
	return kl->order != ORDER_SEMVER || kl->host->tag_rankable(RS_ORDER_SEMVER, tag);
}

static int64_t known(int64_t t)
{
	return t == RS_TIME_UNKNOWN ? INT64_MAX : t;
}

/* The candidate for tag t of image i; under pushed a tag ranks by its own push. */
static struct candidate candidate_of(const struct keep_last *kl, const struct rs_image *img,
				     size_t i, const struct rs_tag *t)
{
	return (struct candidate){kl, i, t->name,
				  known(kl->order == ORDER_PUSHED ? t->pushed : img->created)};
}

static void kl_fini(void *state)
{
	struct keep_last *kl = state;

	if (!kl)
		return;
	if (kl->match)
		kl->host->pattern_free(kl->match);
	free(kl);
}

static enum rs_status kl_init(const struct rs_ctx *ctx, const struct rs_host_api *host,
			      void **state, char *err, size_t errlen)
{
	const char *order = "created", *unit = "images";
	long long count;
	struct keep_last *kl;
	int o = 0;

	if (!host->arg_int(ctx, "count", &count)) {
		snprintf(err, errlen, "count is required");
		return RS_ERR_ARGS;
	}
	if (count < 0) {
		snprintf(err, errlen, "count must be >= 0, got %lld", count);
		return RS_ERR_ARGS;
	}
	host->arg_string(ctx, "order", &order);
	while (o < ORDER_MAX && strcmp(order, order_names[o]) != 0)
		o++;
	if (o == ORDER_MAX) {
		snprintf(err, errlen,
			 "order must be one of created, pushed, name, semver, lexical, got \"%s\"",
			 order);
		return RS_ERR_ARGS;
	}
	host->arg_string(ctx, "unit", &unit);
	if (strcmp(unit, "images") && strcmp(unit, "tags")) {
		snprintf(err, errlen, "unit must be images or tags, got \"%s\"", unit);
		return RS_ERR_ARGS;
	}
	kl = calloc(1, sizeof(*kl));
	if (!kl) {
		snprintf(err, errlen, "out of memory");
		return RS_ERR_NOMEM;
	}
	kl->host = host;
	kl->count = count;
	kl->order = (enum order)o;
	kl->by_tag = strcmp(unit, "tags") == 0;
	kl->match = host->pattern_compile(ctx, "match", err, errlen);
	if (!kl->match) {
		kl_fini(kl);
		return RS_ERR_ARGS;
	}
	if (kl->order == ORDER_PUSHED)
		host->need(ctx, RS_NEED_PUSHED);
	*state = kl;
	return RS_OK;
}

/* Adds image i's places to cand: every ranked tag (unit tags) or its best one. */
static size_t add_candidates(const struct keep_last *kl, const struct rs_image *img, size_t i,
			     struct candidate *cand)
{
	size_t n = 0;

	for (size_t t = 0; t < img->tag_count; t++) {
		struct candidate c;

		if (!ranked(kl, img->tags[t]->name))
			continue;
		c = candidate_of(kl, img, i, img->tags[t]);
		if (kl->by_tag || n == 0)
			cand[n++] = c;
		else if (newest_first(&c, &cand[0]) < 0)
			cand[0] = c;
	}
	return n;
}

/* The first tag of img the module does not rank, or NULL. */
static const char *unranked_tag(const struct keep_last *kl, const struct rs_image *img)
{
	for (size_t t = 0; t < img->tag_count; t++)
		if (!ranked(kl, img->tags[t]->name))
			return img->tags[t]->name;
	return NULL;
}

static enum rs_status kl_decide(const struct rs_ctx *ctx, void *state,
				const struct rs_repo_view *repo, struct rs_decision *const *out)
{
	const struct keep_last *kl = state;
	const char *unit = kl->by_tag ? "tags" : "images";
	struct candidate *cand;
	size_t n = 0, places = 0;

	(void)ctx;
	for (size_t i = 0; i < repo->count; i++)
		places += kl->by_tag ? repo->images[i]->tag_count : 1;
	cand = calloc(places + 1, sizeof(*cand));
	if (!cand)
		return RS_ERR_NOMEM;
	for (size_t i = 0; i < repo->count; i++) {
		size_t added = add_candidates(kl, repo->images[i], i, cand + n);

		n += added;
		if (added)
			out[i]->verdict = RS_DELETE; /* until one of its places is kept */
		else
			snprintf(out[i]->reason, RS_REASON_MAX, "%s; not ranked",
				 kl->host->pattern_count(kl->match) ? "outside match"
								    : "not a semantic version");
	}
	if (n > 1)
		qsort(cand, n, sizeof(*cand), newest_first);
	/* From the oldest up, so an image's reason is that of its best place. */
	for (size_t r = n; r-- > 0;) {
		struct rs_decision *d = out[cand[r].image];
		const char *other = unranked_tag(kl, repo->images[cand[r].image]);

		if ((unsigned long long)r < (unsigned long long)kl->count)
			d->verdict = RS_KEEP;
		else if (other && d->verdict == RS_DELETE)
			d->verdict = RS_PASS;
		snprintf(d->reason, RS_REASON_MAX, "%s rank %zu of %zu %s by %s; keeps %lld%s%s",
			 cand[r].tag, r + 1, n, unit, order_names[kl->order], kl->count,
			 d->verdict == RS_PASS ? "; not ranked: " : "",
			 d->verdict == RS_PASS ? other : "");
	}
	free(cand);
	return RS_OK;
}

static const struct rs_arg_spec kl_args[] = {
	{"count", RS_ARG_INT, 1, "how many of the newest images to keep (>= 0)"},
	{"order", RS_ARG_STRING, 0,
	 "newest by: created (default), pushed (needs storage_root), name, semver, lexical"},
	{"match", RS_ARG_STRING_LIST, 0, "rank only tags matching one of these patterns"},
	{"unit", RS_ARG_STRING, 0,
	 "images (default: an image with several tags is one place) or tags (each tag is one)"},
	{NULL, 0, 0, NULL},
};

RS_MODULE_EXPORT const struct rs_module regsweep_module = {
	RS_MODULE_HEADER,
	.name = "keep_last",
	.summary = "keep the N newest images (by created, pushed, name, semver or lexical "
		   "order), delete the rest",
	.kind = RS_KIND_POLICY,
	.args = kl_args,
	.needs = RS_NEED_DIGEST | RS_NEED_CREATED,
	.init = kl_init,
	.decide = kl_decide,
	.fini = kl_fini,
};
