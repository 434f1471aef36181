/* tagorder.c - tag orders: natural (digit runs by value), Semantic Versioning 2.0.0
 * precedence, and plain bytes. */
#include "tagorder.h"

#include <string.h>

#define DIGITS "0123456789"
#define IDENT_CHARS DIGITS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-"

/* A parsed semantic version, pointing into the tag it came from. */
struct semver {
	const char *num[3]; /* major, minor, patch: digit runs without leading zeros */
	size_t len[3];
	const char *pre; /* pre-release identifiers after '-', NULL for a release */
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

static int cmp_semver(const char *a, const char *b)
{
	struct semver x, y;

	if (parse_semver(a, &x) || parse_semver(b, &y))
		return 0;
	for (int i = 0; i < 3; i++) {
		int c = cmp_digits(x.num[i], x.len[i], y.num[i], y.len[i]);

		if (c)
			return c;
	}
	if (!x.pre || !y.pre)
		return (!x.pre) - (!y.pre); /* a release outranks its pre-releases */
	return cmp_prerelease(x.pre, y.pre);
}

int tagorder_rankable(enum rs_tag_order order, const char *tag)
{
	struct semver sv;

	switch (order) {
	case RS_ORDER_NAME:
	case RS_ORDER_LEXICAL:
		return 1;
	case RS_ORDER_SEMVER:
		return parse_semver(tag, &sv) == 0;
	}
	return 0;
}

int tagorder_compare(enum rs_tag_order order, const char *a, const char *b)
{
	int c = 0;

	if (order == RS_ORDER_SEMVER)
		c = cmp_semver(a, b);
	if (!c && order != RS_ORDER_LEXICAL)
		c = cmp_natural(a, b);
	return c ? c : sign(strcmp(a, b));
}
