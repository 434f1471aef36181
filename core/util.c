/* util.c - allocation, buffers, first-error-wins text, time parsing. */
#define _GNU_SOURCE
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

static void oom(void)
{
	fputs("regsweep: out of memory\n", stderr);
	abort();
}

void *xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);
	if (!p)
		oom();
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom();
	return p;
}

void *xrealloc(void *p, size_t size)
{
	void *q = realloc(p, size ? size : 1);
	if (!q)
		oom();
	return q;
}

void util_heap_trim(void)
{
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* Chunks grow from one page to 256 KiB: a pool that keeps a few strings (a tag list's
 * pager, one per repository) costs a page, not 256 KiB. */
#define POOL_CHUNK (256 * 1024 - sizeof(struct pool_chunk))
#define POOL_FIRST (4096 - sizeof(struct pool_chunk))
#define POOL_ALIGN _Alignof(max_align_t)

/* Chunks are mapped with their pages populated: one system call instead of a page fault
 * per 4 KiB page as the scan first writes them, which on a virtual machine costs more
 * than the copying. */
struct pool_chunk {
	struct pool_chunk *next;
	size_t used, size; /* size: of data */
	max_align_t data[];
};

struct pool {
	struct pool_chunk *head; /* the one allocations come from; older ones after it */
	size_t next;             /* the size of the next chunk; 0: POOL_FIRST */
};

struct pool *pool_new(void)
{
	return xcalloc(1, sizeof(struct pool));
}

void pool_free(struct pool *p)
{
	struct pool_chunk *c, *next;

	if (!p)
		return;
	for (c = p->head; c; c = next) {
		next = c->next;
		munmap(c, sizeof(*c) + c->size);
	}
	free(p);
}

size_t pool_mapped(const struct pool *p)
{
	size_t n = 0;

	for (const struct pool_chunk *c = p ? p->head : NULL; c; c = c->next)
		n += sizeof(*c) + c->size;
	return n;
}

static struct pool_chunk *pool_chunk(size_t size)
{
	struct pool_chunk *c = mmap(NULL, sizeof(*c) + size, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	if (c == MAP_FAILED)
		oom();
	c->size = size;
	return c;
}

static void *pool_raw(struct pool *p, size_t n, size_t align)
{
	struct pool_chunk *c = p->head;
	size_t at = c ? (c->used + align - 1) & ~(align - 1) : 0;
	int own;

	if (n > SIZE_MAX / 2)
		oom();
	if (c && at <= c->size && c->size - at >= n) {
		c->used = at + n;
		return (char *)c->data + at;
	}
	if (!p->next)
		p->next = POOL_FIRST;
	/* A large object gets a chunk of its own, behind the current one, which stays in use. */
	own = n > p->next / 4;
	c = pool_chunk(own ? n : p->next);
	c->used = n;
	if (own && p->head) {
		c->next = p->head->next;
		p->head->next = c;
	} else {
		c->next = p->head;
		p->head = c;
	}
	if (!own) /* mappings of 4, 8, 16 ... 256 KiB */
		p->next = p->next + sizeof(*c) > (POOL_CHUNK + sizeof(*c)) / 2
				  ? POOL_CHUNK
				  : 2 * (p->next + sizeof(*c)) - sizeof(*c);
	return c->data;
}

/* No memset: chunks are fresh anonymous mappings, zero already, and a pool never hands out
 * the same bytes twice. */
void *pool_calloc(struct pool *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		oom();
	return pool_raw(p, n * size, POOL_ALIGN);
}

char *pool_strndup(struct pool *p, const char *s, size_t n)
{
	char *r = pool_raw(p, n + 1, 1);

	memcpy(r, s, n);
	r[n] = '\0';
	return r;
}

char *pool_strdup(struct pool *p, const char *s)
{
	return pool_strndup(p, s, strlen(s));
}

char *pool_printf(struct pool *p, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *r;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom();
	r = pool_raw(p, (size_t)n + 1, 1);
	va_start(ap, fmt);
	vsnprintf(r, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return r;
}

void pool_adopt(struct pool *into, struct pool *from)
{
	struct pool_chunk *last = from ? from->head : NULL;

	if (last) {
		while (last->next)
			last = last->next;
		/* Behind into's current chunk, which allocations keep coming from. */
		if (into->head) {
			last->next = into->head->next;
			into->head->next = from->head;
		} else {
			into->head = from->head;
			into->next = from->next;
		}
	}
	free(from);
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		oom();
	va_end(ap);
	return s;
}

void err_set(struct rs_err *e, const char *fmt, ...)
{
	va_list ap;

	if (!e || e->msg[0])
		return;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	if (!e->msg[0]) /* an empty message must still count as an error */
		snprintf(e->msg, sizeof(e->msg), "unknown error");
}

int err_isset(const struct rs_err *e)
{
	return e->msg[0] != '\0';
}

static void buf_reserve(struct buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;

	if (need <= b->cap)
		return;
	b->cap = b->cap ? b->cap : 256;
	while (b->cap < need)
		b->cap *= 2;
	b->data = xrealloc(b->data, b->cap);
}

void buf_append(struct buf *b, const void *data, size_t len)
{
	buf_reserve(b, len);
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

char *buf_grow(struct buf *b, size_t n)
{
	char *at;

	buf_reserve(b, n);
	at = b->data + b->len;
	b->len += n;
	b->data[b->len] = '\0';
	return at;
}

void buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list again;
	int n;

	va_copy(again, ap);
	n = vsnprintf(NULL, 0, fmt, ap);
	if (n >= 0) {
		buf_reserve(b, (size_t)n);
		vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
		b->len += (size_t)n;
	}
	va_end(again);
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

int buf_read_file(struct buf *b, const char *path)
{
	FILE *f = fopen(path, "r");
	char chunk[65536];
	size_t n;
	int failed;

	if (!f)
		return -1;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(b, chunk, n);
	failed = ferror(f);
	fclose(f);
	return failed ? -1 : 0;
}

static const struct {
	char unit;
	int64_t seconds;
} duration_units[] = {{'w', 604800}, {'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};

#define DURATION_UNITS (sizeof(duration_units) / sizeof(duration_units[0]))

int util_parse_duration(const char *text, int64_t *seconds)
{
	const char *p = text;
	int64_t total = 0;

	if (!text || !*text)
		return -1;
	while (*p) {
		int64_t n = 0, part;
		size_t i = 0;

		if (*p < '0' || *p > '9')
			return -1;
		for (; *p >= '0' && *p <= '9'; p++) {
			if (n > (INT64_MAX - 9) / 10)
				return -1;
			n = n * 10 + (*p - '0');
		}
		while (i < DURATION_UNITS && duration_units[i].unit != *p)
			i++;
		if (i == DURATION_UNITS || __builtin_mul_overflow(n, duration_units[i].seconds, &part) ||
		    __builtin_add_overflow(total, part, &total))
			return -1;
		p++;
	}
	*seconds = total;
	return 0;
}

/* Reads exactly `width` digits. */
static int digits(const char **p, int width, int *out)
{
	int v = 0;

	for (int i = 0; i < width; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (c - '0');
	}
	*p += width;
	*out = v;
	return 0;
}

static int expect(const char **p, const char *set)
{
	if (!**p || !strchr(set, **p))
		return -1;
	(*p)++;
	return 0;
}

int util_parse_rfc3339(const char *text, int64_t *seconds)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	const char *p = text;
	int y, mo, d, h, mi, s, oh = 0, om = 0, sign = 0;
	struct tm tm;

	if (!text || digits(&p, 4, &y) || expect(&p, "-") || digits(&p, 2, &mo) ||
	    expect(&p, "-") || digits(&p, 2, &d) || expect(&p, "Tt ") || digits(&p, 2, &h) ||
	    expect(&p, ":") || digits(&p, 2, &mi) || expect(&p, ":") || digits(&p, 2, &s))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || s > 60)
		return -1;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '-' ? -1 : 1;
		p++;
		if (digits(&p, 2, &oh) || expect(&p, ":") || digits(&p, 2, &om) || oh > 23 ||
		    om > 59)
			return -1;
	} else {
		return -1;
	}
	if (*p)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	*seconds = (int64_t)timegm(&tm) - sign * (int64_t)(oh * 3600 + om * 60);
	return 0;
}

void util_format_rfc3339(int64_t seconds, char *out, size_t outlen)
{
	time_t t = (time_t)seconds;
	struct tm tm;

	/* %04d rather than strftime's %Y: RFC 3339 wants four digits for every year. */
	if (!gmtime_r(&t, &tm) || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900)
		snprintf(out, outlen, "?");
	else
		snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static int alnum_lower(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int util_valid_repo_name(const char *name)
{
	if (strlen(name) > 255)
		return 0;
	for (const char *p = name;; p++) {
		if (!alnum_lower(*p))
			return 0; /* components and separator runs both end on an alphanumeric */
		while (alnum_lower(p[1]))
			p++;
		if (p[1] == '\0')
			return 1;
		p++;
		if (*p == '_' && p[1] == '_')
			p++;
		else if (*p == '-')
			while (p[1] == '-')
				p++;
		else if (*p != '.' && *p != '_' && *p != '/')
			return 0;
	}
}

/* The OCI digest grammar by byte: algorithm [a-z0-9+._-]+, encoded [a-zA-Z0-9=_-]+.  A
 * table: this runs for every descriptor read. */
enum { DIGEST_ALGORITHM = 1, DIGEST_ENCODED = 2 };
static const unsigned char digest_byte[256] = {
	['a' ... 'z'] = DIGEST_ALGORITHM | DIGEST_ENCODED,
	['0' ... '9'] = DIGEST_ALGORITHM | DIGEST_ENCODED,
	['A' ... 'Z'] = DIGEST_ENCODED,
	['_'] = DIGEST_ALGORITHM | DIGEST_ENCODED,
	['-'] = DIGEST_ALGORITHM | DIGEST_ENCODED,
	['+'] = DIGEST_ALGORITHM,
	['.'] = DIGEST_ALGORITHM,
	['='] = DIGEST_ENCODED,
};

int util_valid_digest(const char *digest)
{
	const unsigned char *p = (const unsigned char *)digest, *enc;

	while (digest_byte[*p] & DIGEST_ALGORITHM)
		p++;
	if (p == (const unsigned char *)digest || *p != ':')
		return 0;
	for (enc = ++p; digest_byte[*p] & DIGEST_ENCODED; p++)
		;
	return p > enc && *p == '\0';
}

const char *util_untrusted(const struct stat *st)
{
	if (st->st_uid != 0 && st->st_uid != geteuid())
		return "owned by another user";
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return "writable by group or others";
	return NULL;
}

int atomic_open(struct atomic_file *f, const char *path, struct rs_err *e)
{
	char *copy, *base;
	struct stat st;

	f->path = path;
	f->tmp = NULL;
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		f->fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
		if (f->fd >= 0)
			return 0;
		err_set(e, "%s: cannot write there: %s", path, strerror(errno));
		return -1;
	}
	copy = xstrdup(path);
	base = xstrdup(path);
	f->tmp = xasprintf("%s/.%s.XXXXXX", dirname(copy), basename(base));
	f->fd = mkstemp(f->tmp);
	free(copy);
	free(base);
	if (f->fd >= 0 && fchmod(f->fd, 0644) == 0)
		return 0;
	err_set(e, "%s: cannot write there: %s", path, strerror(errno));
	atomic_abort(f);
	return -1;
}

void atomic_abort(struct atomic_file *f)
{
	if (f->fd >= 0) {
		close(f->fd);
		if (f->tmp)
			unlink(f->tmp);
	}
	f->fd = -1;
	free(f->tmp);
	f->tmp = NULL;
}

int atomic_commit(struct atomic_file *f, const char *data, size_t len, struct rs_err *e)
{
	/* In place there is nothing to sync (a pipe cannot be) and nothing to rename. */
	int ok = util_write_all(f->fd, data, len) == 0 && util_write_all(f->fd, "\n", 1) == 0 &&
		 (!f->tmp || fsync(f->fd) == 0);

	ok = close(f->fd) == 0 && ok;
	f->fd = -1;
	if (ok && f->tmp && rename(f->tmp, f->path) != 0)
		ok = 0;
	if (!ok) {
		err_set(e, "%s: cannot write it: %s", f->path, strerror(errno));
		if (f->tmp)
			unlink(f->tmp);
	}
	free(f->tmp);
	f->tmp = NULL;
	return ok ? 0 : -1;
}

int util_write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w == 0)
			errno = EIO;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

double util_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int util_same_url(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	while (la && a[la - 1] == '/')
		la--;
	while (lb && b[lb - 1] == '/')
		lb--;
	return la == lb && strncmp(a, b, la) == 0;
}

int util_valid_tag(const char *tag)
{
	size_t n = strspn(tag, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-");

	return n >= 1 && n <= 128 && tag[n] == '\0' && tag[0] != '.' && tag[0] != '-';
}

void util_sha256(const void *data, size_t len, char out[UTIL_SHA256_LEN])
{
	/* Fetched once for the process: an implicit fetch on every call costs about as much
	 * as hashing a manifest. */
	static EVP_MD *sha256;
	static EVP_MD_CTX *ctx;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!sha256 && (sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) != NULL)
		ctx = EVP_MD_CTX_new();
	if (!ctx || !EVP_DigestInit_ex2(ctx, sha256, NULL) || !EVP_DigestUpdate(ctx, data, len) ||
	    !EVP_DigestFinal_ex(ctx, md, &mdlen) || mdlen != 32) {
		fputs("regsweep: sha256 failed\n", stderr);
		abort();
	}
	util_digest_text("sha256", md, mdlen, out);
}

void util_digest_text(const char *algorithm, const unsigned char *raw, size_t n, char *out)
{
	/* A table, not snprintf: this runs for every manifest and config read. */
	static const char hex[] = "0123456789abcdef";
	size_t len = strlen(algorithm);

	memcpy(out, algorithm, len);
	out += len;
	*out++ = ':';
	for (size_t i = 0; i < n; i++) {
		*out++ = hex[raw[i] >> 4];
		*out++ = hex[raw[i] & 15];
	}
	*out = '\0';
}

/* No hash is kept: 16 bytes a slot instead of 24, for maps of 100,000 digests. */
struct strmap_slot {
	const char *key;
	void *value;
};

size_t util_hash(const char *s)
{
	size_t n = strlen(s);
	uint64_t h = 0x9E3779B97F4A7C15u ^ n, w;

	/* Keys are digests of 71 bytes and more: a byte at a time was most of a lookup. */
	for (; n >= 8; n -= 8, s += 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * 0xBF58476D1CE4E5B9u;
		h ^= h >> 31;
	}
	w = 0;
	memcpy(&w, s, n);
	h = (h ^ w) * 0x94D049BB133111EBu;
	return (size_t)(h ^ h >> 29);
}

static struct strmap_slot *strmap_find(const struct strmap *m, const char *key, size_t hash)
{
	size_t i = hash & (m->size - 1);

	for (; m->slots[i].key; i = (i + 1) & (m->size - 1))
		if (strcmp(m->slots[i].key, key) == 0)
			break;
	return &m->slots[i];
}

void **strmap_slot(struct strmap *m, const char *key, int *fresh)
{
	size_t hash = util_hash(key);
	struct strmap_slot *s;

	if ((m->count + 1) * 2 > m->size) {
		struct strmap bigger = {xcalloc(m->size ? m->size * 2 : 64, sizeof(*s)),
					m->size ? m->size * 2 : 64, m->count};

		for (size_t i = 0; i < m->size; i++)
			if (m->slots[i].key)
				*strmap_find(&bigger, m->slots[i].key,
					     util_hash(m->slots[i].key)) = m->slots[i];
		free(m->slots);
		*m = bigger;
	}
	s = strmap_find(m, key, hash);
	*fresh = !s->key;
	if (!s->key) {
		*s = (struct strmap_slot){key, NULL};
		m->count++;
	}
	return &s->value;
}

void *strmap_get(const struct strmap *m, const char *key)
{
	return m->size ? strmap_find(m, key, util_hash(key))->value : NULL;
}

void strmap_free(struct strmap *m)
{
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

void strchains_build(struct strchains *c, const void *base, size_t n, size_t stride,
		     size_t key_offset)
{
	int fresh;

	memset(c, 0, sizeof(*c));
	c->next = xcalloc(n + 1, sizeof(size_t));
	for (size_t i = n; i-- > 0;) {
		const char *key;
		void **slot;

		memcpy(&key, (const char *)base + i * stride + key_offset, sizeof(key));
		if (!key)
			continue;
		slot = strmap_slot(&c->head, key, &fresh);
		c->next[i] = (uintptr_t)*slot;
		*slot = (void *)(uintptr_t)(i + 1);
	}
}

size_t strchains_first(const struct strchains *c, const char *key)
{
	return key ? (uintptr_t)strmap_get(&c->head, key) : 0;
}

void strchains_free(struct strchains *c)
{
	strmap_free(&c->head);
	free(c->next);
	memset(c, 0, sizeof(*c));
}

void util_format_size(int64_t bytes, char *out, size_t outlen)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	double v = (double)bytes / 1024;
	size_t u = 0;

	if (bytes < 1024) {
		snprintf(out, outlen, "%lld B", (long long)bytes);
		return;
	}
	/* Move up while one decimal would round to 1024.0 of this unit. */
	while (v >= 1023.95 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	snprintf(out, outlen, "%.1f %s", v, units[u]);
}

int util_printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < ' ' || *s == 0x7f)
			return 0;
	return 1;
}
