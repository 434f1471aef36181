/* keep_last.c - keep the `count` newest tags of each repository and delete the rest. */

/*
 * "Newest" follows `order`:
 *   created  config blob creation time; equal times fall back to the natural tag order.
 *   name     natural order: digit runs compare by value, so build-10 is newer than build-9.
 *   semver   semantic version precedence, with an optional leading "v" (v1.2.3, 1.2.0-rc.1).
 *   lexical  plain byte order (strcmp).
 * The greater tag is the newer one, and every order ends on the tag bytes, so the ranking
 * is a total order that never depends on the registry's list order or on qsort.
 *
 * Tags this module cannot rank are never deleted by it:
 *   - not matched by `match`: PASS, they are outside the module's scope;
 *   - not semantic versions under order=semver (latest, main, sha-1a2b...): PASS, since
 *     there is no way to tell how old they are, and ranking them as the oldest would
 *     delete exactly the floating tags people pull;
 * Under order=created an unknown creation time ranks as the newest: whatever cannot be
 * dated is never the one deleted for being old.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regsweep/module.h"

#define DIGITS "0123456789"
#define IDENT_CHARS DIGITS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-"

enum order { ORDER_CREATED, ORDER_NAME, ORDER_SEMVER, ORDER_LEXICAL, ORDER_MAX };

static const char *const order_names[ORDER_MAX] = {"created", "name", "semver", "lexical"};

struct keep_last {
	const struct rs_host_api *host;
	struct rs_pattern *match; /* empty: every tag is ranked */
	long long count;
	enum order order;
};

/* A parsed semantic version, pointing into the tag it came from. */
struct semver {
	const char *num[3]; /* major, minor, patch: digit runs without leading zeros */
	size_t len[3];
	const char *pre; /* pre-release identifiers after '-', NULL for a release */
};

struct candidate {
	const struct rs_image *img;
	size_t index; /* into repo->images and out */
	struct semver sv;
};

static int sign(int c)
{
	return (c > 0) - (c < 0);
}

/* Two digit runs by value, without converting (tags may hold numbers of any length). */
static int cmp_digits(const char *a, size_t alen, const char *b, size_t blen)
{
	while (alen > 1 && *a == '0')
		a++, alen--;
	while (blen > 1 && *b == '0')
		b++, blen--;
	if (alen != blen)
		return alen < blen ? -1 : 1;
	return sign(memcmp(a, b, alen));
}

static int cmp_natural(const char *a, const char *b)
{
	while (*a && *b) {
		size_t alen = strspn(a, DIGITS), blen = strspn(b, DIGITS);

		if (alen && blen) {
			int c = cmp_digits(a, alen, b, blen);

			if (c)
				return c;
			a += alen;
			b += blen;
		} else if (*a != *b) {
			return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
		} else {
			a++;
			b++;
		}
	}
	return (*a != '\0') - (*b != '\0');
}

/* Length of a semver numeric identifier at s: digits, no leading zero; 0 when there is
 * none. */
static size_t numeric_len(const char *s)
{
	size_t n = strspn(s, DIGITS);

	return n > 1 && s[0] == '0' ? 0 : n;
}

/* Semantic Versioning 2.0.0 without build metadata, which a tag cannot carry ('+' is not
 * allowed in tags).  Returns 0 and fills sv, or -1. */
static int parse_semver(const char *tag, struct semver *sv)
{
	const char *s = tag + (tag[0] == 'v');

	for (int i = 0; i < 3; i++) {
		sv->num[i] = s;
		sv->len[i] = numeric_len(s);
		if (!sv->len[i])
			return -1;
		s += sv->len[i];
		if (i < 2 && *s++ != '.')
			return -1;
	}
	sv->pre = NULL;
	if (*s == '\0')
		return 0;
	if (*s++ != '-')
		return -1;
	sv->pre = s;
	for (;;) {
		size_t n = strspn(s, IDENT_CHARS);

		if (!n || (strspn(s, DIGITS) == n && !numeric_len(s)))
			return -1;
		s += n;
		if (*s == '\0')
			return 0;
		if (*s++ != '.')
			return -1;
	}
}

/* Pre-release precedence (semver item 11): identifier by identifier, numeric ones by
 * value and below alphanumeric ones, and a shorter list below a longer one it prefixes. */
static int cmp_prerelease(const char *a, const char *b)
{
	for (;;) {
		size_t alen = strcspn(a, "."), blen = strcspn(b, ".");
		int anum = strspn(a, DIGITS) == alen, bnum = strspn(b, DIGITS) == blen;
		int c;

		if (anum && bnum) {
			c = cmp_digits(a, alen, b, blen);
		} else if (anum != bnum) {
			c = anum ? -1 : 1;
		} else {
			c = sign(memcmp(a, b, alen < blen ? alen : blen));
			if (!c)
				c = (alen > blen) - (alen < blen);
		}
		if (c)
			return c;
		a += alen;
		b += blen;
		if (*a == '\0' || *b == '\0')
			return (*a != '\0') - (*b != '\0');
		a++;
		b++;
	}
}

static int cmp_semver(const struct semver *a, const struct semver *b)
{
	for (int i = 0; i < 3; i++) {
		int c = cmp_digits(a->num[i], a->len[i], b->num[i], b->len[i]);

		if (c)
			return c;
	}
	if (!a->pre || !b->pre)
		return (!a->pre) - (!b->pre); /* a release outranks its pre-releases */
	return cmp_prerelease(a->pre, b->pre);
}

/* qsort result for "newest first" given c > 0 when a is newer; ties fall to the natural
 * tag order, then bytes, then list position, so the ranking is total. */
static int newest_first(int c, const struct candidate *a, const struct candidate *b)
{
	if (!c)
		c = cmp_natural(a->img->tag, b->img->tag);
	if (!c)
		c = sign(strcmp(a->img->tag, b->img->tag));
	if (!c)
		c = (a->index < b->index) - (a->index > b->index);
	return -c;
}

/* Unknown creation time (RS_CREATED_UNKNOWN, the smallest value) sorts as the newest. */
static int64_t created_key(const struct rs_image *img)
{
	return img->created == RS_CREATED_UNKNOWN ? INT64_MAX : img->created;
}

static int by_created(const void *x, const void *y)
{
	const struct candidate *a = x, *b = y;
	int64_t ka = created_key(a->img), kb = created_key(b->img);

	return newest_first((ka > kb) - (ka < kb), a, b);
}

static int by_name(const void *x, const void *y)
{
	return newest_first(0, x, y);
}

static int by_semver(const void *x, const void *y)
{
	const struct candidate *a = x, *b = y;

	return newest_first(cmp_semver(&a->sv, &b->sv), a, b);
}

static int by_lexical(const void *x, const void *y)
{
	const struct candidate *a = x, *b = y;

	return newest_first(sign(strcmp(a->img->tag, b->img->tag)), a, b);
}

static int (*const sorters[ORDER_MAX])(const void *, const void *) = {
	by_created, by_name, by_semver, by_lexical};

static void kl_fini(void *state)
{
	struct keep_last *kl = state;

	if (!kl)
		return;
	kl->host->pattern_free(kl->match);
	free(kl);
}

static enum rs_status kl_init(const struct rs_ctx *ctx, const struct rs_host_api *host,
			      void **state, char *err, size_t errlen)
{
	const char *order = "created";
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
			 "order must be one of created, name, semver, lexical, got \"%s\"", order);
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
	kl->match = host->pattern_compile(ctx, "match", err, errlen);
	if (!kl->match) {
		free(kl);
		return RS_ERR_ARGS;
	}
	*state = kl;
	return RS_OK;
}

static enum rs_status kl_decide(const struct rs_ctx *ctx, void *state,
				const struct rs_repo_view *repo, struct rs_decision *out)
{
	const struct keep_last *kl = state;
	int filtered = kl->host->pattern_count(kl->match) > 0;
	struct candidate *cand;
	size_t n = 0;

	(void)ctx;
	cand = calloc(repo->count ? repo->count : 1, sizeof(*cand));
	if (!cand)
		return RS_ERR_NOMEM;
	for (size_t i = 0; i < repo->count; i++) {
		const struct rs_image *img = &repo->images[i];

		if (filtered && !kl->host->pattern_match(kl->match, img->tag)) {
			snprintf(out[i].reason, RS_REASON_MAX, "outside match; not ranked");
			continue;
		}
		if (kl->order == ORDER_SEMVER && parse_semver(img->tag, &cand[n].sv) != 0) {
			snprintf(out[i].reason, RS_REASON_MAX, "not a semantic version; not ranked");
			continue;
		}
		cand[n].img = img;
		cand[n].index = i;
		n++;
	}
	if (n > 1)
		qsort(cand, n, sizeof(*cand), sorters[kl->order]);
	for (size_t r = 0; r < n; r++) {
		struct rs_decision *d = &out[cand[r].index];

		d->verdict = (unsigned long long)r < (unsigned long long)kl->count ? RS_KEEP
										    : RS_DELETE;
		snprintf(d->reason, sizeof(d->reason), "rank %zu of %zu by %s; keeps %lld", r + 1,
			 n, order_names[kl->order], kl->count);
	}
	free(cand);
	return RS_OK;
}

static const struct rs_arg_spec kl_args[] = {
	{"count", RS_ARG_INT, 1, "how many of the newest tags to keep (>= 0)"},
	{"order", RS_ARG_STRING, 0, "newest by: created (default), name, semver, lexical"},
	{"match", RS_ARG_STRING_LIST, 0, "rank only tags matching one of these patterns"},
	{NULL, 0, 0, NULL},
};

RS_MODULE_EXPORT const struct rs_module regsweep_module = {
	RS_MODULE_HEADER,
	.name = "keep_last",
	.summary = "keep the N newest tags (by created, name, semver or lexical order), delete "
		   "the rest",
	.kind = RS_KIND_POLICY,
	.args = kl_args,
	.needs = RS_NEED_DIGEST | RS_NEED_CREATED,
	.init = kl_init,
	.decide = kl_decide,
	.fini = kl_fini,
};
