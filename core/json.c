/* json.c - shared cJSON readers and writers, a streaming writer and reader for large
 * documents, and a scanner that reads manifests and configs without building a tree. */
#include "json.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errno.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "regsweep/module.h"
#include "util.h"

cJSON *json_time(int64_t t)
{
	char buf[32];

	if (t == RS_CREATED_UNKNOWN)
		return cJSON_CreateNull();
	util_format_rfc3339(t, buf, sizeof(buf));
	return cJSON_CreateString(buf);
}

char *json_text(const cJSON *doc, int indented)
{
	char *text = indented ? cJSON_Print(doc) : cJSON_PrintUnformatted(doc);

	if (!text) {
		fputs("regsweep: out of memory\n", stderr);
		abort();
	}
	return text;
}

const char *json_string(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

int64_t json_bytes(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > 9007199254740992.0 ||
	    v->valuedouble != (double)(int64_t)v->valuedouble)
		return -1;
	return (int64_t)v->valuedouble;
}

void json_number_text(double d, char out[JSON_NUMBER_MAX])
{
	/* cJSON keeps a clamped int beside the double and prints that when they agree. */
	int i = isnan(d) ? 0 : d >= INT_MAX ? INT_MAX : d <= (double)INT_MIN ? INT_MIN : (int)d;
	double back;

	if (isnan(d) || isinf(d)) {
		snprintf(out, JSON_NUMBER_MAX, "null");
	} else if (d == (double)i) {
		snprintf(out, JSON_NUMBER_MAX, "%d", i);
	} else {
		snprintf(out, JSON_NUMBER_MAX, "%1.15g", d);
		back = strtod(out, NULL);
		if (fabs(back - d) > fmax(fabs(back), fabs(d)) * DBL_EPSILON)
			snprintf(out, JSON_NUMBER_MAX, "%1.17g", d);
	}
}

void json_string_text(struct buf *b, const char *s)
{
	json_string_text_len(b, s, strlen(s));
}

/* How cJSON writes each byte in a string literal: 0 as itself, a letter after a backslash,
 * or 'u' for \u00XX. */
static const char escape_as[256] = {
	[0 ... 7] = 'u', ['\b'] = 'b', ['\t'] = 't', ['\n'] = 'n', [11] = 'u', ['\f'] = 'f',
	['\r'] = 'r', [14 ... 31] = 'u', ['"'] = '"', ['\\'] = '\\',
};

/* Bytes escaped a piece at a time: in place, into room for the worst case (six bytes each). */
#define JSON_ESCAPE_PIECE 4096

void json_string_text_len(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s, *end = p + n;

	*buf_grow(b, 1) = '"';
	while (p < end) {
		size_t piece = (size_t)(end - p) < JSON_ESCAPE_PIECE ? (size_t)(end - p)
								      : JSON_ESCAPE_PIECE;
		const unsigned char *stop = p + piece;
		char *start = buf_grow(b, 6 * piece), *w = start;

		for (; p < stop; p++) {
			char e = escape_as[*p];

			if (!e) {
				*w++ = (char)*p;
			} else if (e != 'u') {
				w[0] = '\\', w[1] = e, w += 2;
			} else {
				memcpy(w, "\\u00", 4);
				w[4] = hex[*p >> 4], w[5] = hex[*p & 15], w += 6;
			}
		}
		b->len -= 6 * piece - (size_t)(w - start);
		b->data[b->len] = '\0';
	}
	*buf_grow(b, 1) = '"';
}

/* Pretty text is handed to the sink in pieces of about this size. */
#define JW_FLUSH_AT (64 * 1024)

void jw_init(struct jw *w, int (*sink)(void *arg, const char *p, size_t n), void *arg)
{
	memset(w, 0, sizeof(*w));
	w->sink = sink;
	w->arg = arg;
	w->md = EVP_MD_CTX_new();
	if (!w->md || !EVP_DigestInit_ex(w->md, EVP_sha256(), NULL)) {
		fputs("regsweep: sha256 failed\n", stderr);
		abort();
	}
}

/* Pretty text, kept only when there is a sink to take it. */
static void jw_put(struct jw *w, const char *text, size_t n)
{
	if (w->sink)
		buf_append(&w->pending, text, n);
}

static void jw_flush(struct jw *w)
{
	if (!w->failed && w->pending.len && w->sink(w->arg, w->pending.data, w->pending.len))
		w->failed = 1;
	w->pending.len = 0;
}

static void jw_hash(struct jw *w, const char *p, size_t n)
{
	if (!EVP_DigestUpdate(w->md, p, n)) {
		fputs("regsweep: sha256 failed\n", stderr);
		abort();
	}
}

static void jw_tabs(struct jw *w, unsigned n)
{
	while (n--)
		jw_put(w, "\t", 1);
}

/* What goes before a value: the separator from the previous one and the member's key. */
static void jw_before(struct jw *w, const char *key)
{
	unsigned d = w->depth;

	if (d == 0)
		return;
	if (w->members[d - 1]) {
		jw_hash(w, ",", 1);
		jw_put(w, w->in_object[d - 1] ? ",\n" : ", ", 2);
	}
	w->members[d - 1] = 1;
	if (!w->in_object[d - 1])
		return;
	w->scratch.len = 0;
	json_string_text(&w->scratch, key ? key : "");
	buf_append(&w->scratch, ":", 1);
	jw_hash(w, w->scratch.data, w->scratch.len);
	jw_tabs(w, d);
	jw_put(w, w->scratch.data, w->scratch.len);
	jw_put(w, "\t", 1);
}

/* A scalar's text after jw_before, the same compact and pretty. */
static void jw_text(struct jw *w, const char *text, size_t n)
{
	jw_hash(w, text, n);
	jw_put(w, text, n);
	if (w->pending.len >= JW_FLUSH_AT)
		jw_flush(w);
}

static void jw_scalar(struct jw *w, const char *key, const char *text, size_t n)
{
	jw_before(w, key);
	jw_text(w, text, n);
}

static void jw_open(struct jw *w, const char *key, int object)
{
	jw_before(w, key);
	jw_hash(w, object ? "{" : "[", 1);
	jw_put(w, object ? "{\n" : "[", object ? 2 : 1);
	if (w->depth == JW_DEPTH_MAX) {
		w->failed = 1;
		return;
	}
	w->in_object[w->depth] = (unsigned char)object;
	w->members[w->depth++] = 0;
}

void jw_object(struct jw *w, const char *key)
{
	jw_open(w, key, 1);
}

void jw_array(struct jw *w, const char *key)
{
	jw_open(w, key, 0);
}

void jw_end(struct jw *w)
{
	int object;

	if (w->depth == 0)
		return;
	object = w->in_object[--w->depth];
	jw_hash(w, object ? "}" : "]", 1);
	if (object) {
		if (w->members[w->depth])
			jw_put(w, "\n", 1);
		jw_tabs(w, w->depth);
	}
	jw_put(w, object ? "}" : "]", 1);
}

void jw_string(struct jw *w, const char *key, const char *s)
{
	if (!s) {
		jw_scalar(w, key, "null", 4);
		return;
	}
	jw_before(w, key);
	w->scratch.len = 0;
	json_string_text(&w->scratch, s);
	jw_text(w, w->scratch.data, w->scratch.len);
}

void jw_number(struct jw *w, const char *key, double v)
{
	char text[JSON_NUMBER_MAX];

	json_number_text(v, text);
	jw_scalar(w, key, text, strlen(text));
}

void jw_bool(struct jw *w, const char *key, int v)
{
	jw_scalar(w, key, v ? "true" : "false", v ? 4 : 5);
}

void jw_time(struct jw *w, const char *key, int64_t t)
{
	char text[32];

	if (t == RS_CREATED_UNKNOWN) {
		jw_string(w, key, NULL);
		return;
	}
	util_format_rfc3339(t, text, sizeof(text));
	jw_string(w, key, text);
}

void jw_cjson(struct jw *w, const char *key, const cJSON *item)
{
	const cJSON *c;

	if (cJSON_IsObject(item) || cJSON_IsArray(item)) {
		jw_open(w, key, cJSON_IsObject(item));
		cJSON_ArrayForEach(c, item)
			jw_cjson(w, c->string, c);
		jw_end(w);
	} else if (cJSON_IsString(item)) {
		jw_string(w, key, item->valuestring);
	} else if (cJSON_IsNumber(item)) {
		jw_number(w, key, item->valuedouble);
	} else if (cJSON_IsBool(item)) {
		jw_bool(w, key, cJSON_IsTrue(item));
	} else {
		jw_string(w, key, NULL);
	}
}

void jw_digest(const struct jw *w, char out[UTIL_SHA256_LEN])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char sum[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (!md || !EVP_MD_CTX_copy_ex(md, w->md)) {
		fputs("regsweep: sha256 failed\n", stderr);
		abort();
	}
	for (unsigned d = w->depth; d > 0; d--)
		EVP_DigestUpdate(md, w->in_object[d - 1] ? "}" : "]", 1);
	if (!EVP_DigestFinal_ex(md, sum, &n) || n != 32) {
		fputs("regsweep: sha256 failed\n", stderr);
		abort();
	}
	EVP_MD_CTX_free(md);
	util_digest_text("sha256", sum, n, out);
}

int jw_finish(struct jw *w)
{
	int failed;

	jw_flush(w);
	failed = w->failed;
	buf_free(&w->pending);
	buf_free(&w->scratch);
	EVP_MD_CTX_free(w->md);
	memset(w, 0, sizeof(*w));
	return failed ? -1 : 0;
}

/* --- the reader --- */

void jr_init(struct jr *r, int fd)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	jw_init(&r->hash, NULL, NULL);
}

void jr_free(struct jr *r)
{
	buf_free(&r->str);
	buf_free(&r->key);
	jw_finish(&r->hash);
}

void jr_digest(const struct jr *r, char out[UTIL_SHA256_LEN])
{
	jw_digest(&r->hash, out);
}

void jr_unhashed(struct jr *r)
{
	r->unhashed_at = r->depth + 1;
}

/* The next byte, or -1 at the end of the file or on a read error (r->failed). */
static int jr_byte(struct jr *r)
{
	if (r->at == r->len) {
		ssize_t n;

		do
			n = read(r->fd, r->in, sizeof(r->in));
		while (n < 0 && errno == EINTR);
		if (n <= 0) {
			r->read_error |= n < 0;
			r->failed |= n < 0;
			return -1;
		}
		r->at = 0;
		r->len = (size_t)n;
	}
	return (unsigned char)r->in[r->at++];
}

static void jr_unread(struct jr *r)
{
	r->at--; /* only ever right after jr_byte returned a byte */
}

static int jr_skip_space(struct jr *r)
{
	int c;

	while ((c = jr_byte(r)) == ' ' || c == '\t' || c == '\n' || c == '\r')
		;
	return c;
}

static int jr_hex4(struct jr *r, unsigned *out)
{
	*out = 0;
	for (int i = 0; i < 4; i++) {
		int c = jr_byte(r);

		if (c >= '0' && c <= '9')
			*out = *out * 16 + (unsigned)(c - '0');
		else if ((c | 32) >= 'a' && (c | 32) <= 'f')
			*out = *out * 16 + (unsigned)((c | 32) - 'a' + 10);
		else
			return -1;
	}
	return 0;
}

/* A \u escape (the "\u" read) as UTF-8, surrogate pairs joined, as cJSON decodes it. */
static int jr_unicode(struct jr *r)
{
	unsigned cp, lo;
	char out[4];
	size_t n;

	if (jr_hex4(r, &cp) || (cp >= 0xDC00 && cp <= 0xDFFF))
		return -1;
	if (cp >= 0xD800 && cp <= 0xDBFF) {
		if (jr_byte(r) != '\\' || jr_byte(r) != 'u' || jr_hex4(r, &lo) || lo < 0xDC00 ||
		    lo > 0xDFFF)
			return -1;
		cp = 0x10000 + (((cp & 0x3FF) << 10) | (lo & 0x3FF));
	}
	if (cp < 0x80) {
		out[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		out[0] = (char)(0xF0 | (cp >> 18));
		out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	buf_append(&r->str, out, n);
	return 0;
}

/* A string's contents (the opening quote read) into r->str. */
static int jr_string(struct jr *r)
{
	static const char from[] = "bfnrt\"\\/", to[] = "\b\f\n\r\t\"\\/";
	int c;

	r->str.len = 0;
	while ((c = jr_byte(r)) != '"') {
		char ch = (char)c;
		const char *esc;

		if (c <= 0) /* a NUL ends cJSON's input too */
			return -1;
		if (c == '\\') {
			if ((c = jr_byte(r)) == 'u') {
				if (jr_unicode(r))
					return -1;
				continue;
			}
			if (c <= 0 || !(esc = strchr(from, c)))
				return -1;
			ch = to[esc - from];
		}
		buf_append(&r->str, &ch, 1);
	}
	buf_append(&r->str, "", 1);
	r->text = r->str.data;
	return 0;
}

/* A number (its first byte c read), with the characters cJSON takes for one. */
static int jr_number(struct jr *r, int c)
{
	char text[64], *end;
	size_t n = 0;

	while (c >= 0 && strchr("0123456789+-eE.", c) && c) {
		if (n == sizeof(text) - 1)
			return -1;
		text[n++] = (char)c;
		c = jr_byte(r);
	}
	if (c >= 0)
		jr_unread(r);
	text[n] = '\0';
	r->number = strtod(text, &end);
	return n && end == text + n ? 0 : -1;
}

static enum jr_token jr_took(struct jr *r, enum jr_token t);

/* true, false or null, its first byte c read. */
static enum jr_token jr_literal(struct jr *r, int c)
{
	const char *rest = c == 't' ? "rue" : c == 'f' ? "alse" : "ull";

	for (; *rest; rest++) {
		if (jr_byte(r) != *rest) {
			r->failed = 1;
			return JR_ERROR;
		}
	}
	return jr_took(r, c == 't' ? JR_TRUE : c == 'f' ? JR_FALSE : JR_NULL);
}

/* Gives the token to the hash (unless it is in a value left out) and keeps the nesting. */
static enum jr_token jr_took(struct jr *r, enum jr_token t)
{
	int hashed = r->unhashed_at == 0;
	const char *key = r->keyed ? r->key.data : NULL;

	switch (t) {
	case JR_OBJECT:
	case JR_ARRAY:
		if (r->depth == JW_DEPTH_MAX) {
			r->failed = 1;
			return JR_ERROR;
		}
		if (hashed)
			(t == JR_OBJECT ? jw_object : jw_array)(&r->hash, key);
		r->in_object[r->depth] = t == JR_OBJECT;
		r->members[r->depth++] = 0;
		break;
	case JR_OBJECT_END:
	case JR_ARRAY_END:
		r->depth--;
		if (hashed)
			jw_end(&r->hash);
		break;
	case JR_STRING:
		if (hashed)
			jw_string(&r->hash, key, r->text);
		break;
	case JR_NUMBER:
		if (hashed)
			jw_number(&r->hash, key, r->number);
		break;
	case JR_TRUE:
	case JR_FALSE:
		if (hashed)
			jw_bool(&r->hash, key, t == JR_TRUE);
		break;
	case JR_NULL:
		if (hashed)
			jw_string(&r->hash, key, NULL);
		break;
	default:
		break;
	}
	if (t != JR_OBJECT && t != JR_ARRAY && r->unhashed_at == r->depth + 1)
		r->unhashed_at = 0; /* the value left out is complete */
	r->keyed = 0;
	if (r->depth == 0)
		r->done = 1;
	return t;
}

enum jr_token jr_next(struct jr *r)
{
	int c;

	if (r->failed)
		return JR_ERROR;
	c = jr_skip_space(r);
	if (r->done) {
		if (c < 0 && !r->failed)
			return JR_END;
		r->failed = 1;
		return JR_ERROR;
	}
	if (r->depth && !r->after_key) {
		unsigned d = r->depth - 1;
		int close = r->in_object[d] ? '}' : ']';

		if (c == close)
			return jr_took(r, r->in_object[d] ? JR_OBJECT_END : JR_ARRAY_END);
		if (r->members[d] && c != ',')
			goto bad;
		if (r->members[d])
			c = jr_skip_space(r);
		r->members[d] = 1;
		if (r->in_object[d]) {
			if (c != '"' || jr_string(r) || jr_skip_space(r) != ':')
				goto bad;
			r->key.len = 0; /* reused: no allocation per member */
			buf_append(&r->key, r->text, r->str.len);
			r->keyed = 1;
			r->after_key = 1;
			return JR_KEY;
		}
	}
	r->after_key = 0;
	switch (c) {
	case '{': return jr_took(r, JR_OBJECT);
	case '[': return jr_took(r, JR_ARRAY);
	case '"':
		if (jr_string(r))
			goto bad;
		return jr_took(r, JR_STRING);
	case 't':
	case 'f':
	case 'n':
		return jr_literal(r, c);
	default:
		if (c == '-' || (c >= '0' && c <= '9')) {
			if (jr_number(r, c))
				goto bad;
			return jr_took(r, JR_NUMBER);
		}
	}
bad:
	r->failed = 1;
	return JR_ERROR;
}

cJSON *jr_value(struct jr *r, enum jr_token t)
{
	cJSON *v, *item;
	enum jr_token end = t == JR_OBJECT ? JR_OBJECT_END : JR_ARRAY_END;

	switch (t) {
	case JR_STRING: return cJSON_CreateString(r->text);
	case JR_NUMBER: return cJSON_CreateNumber(r->number);
	case JR_TRUE: return cJSON_CreateTrue();
	case JR_FALSE: return cJSON_CreateFalse();
	case JR_NULL: return cJSON_CreateNull();
	case JR_OBJECT:
	case JR_ARRAY: break;
	default: return NULL;
	}
	v = t == JR_OBJECT ? cJSON_CreateObject() : cJSON_CreateArray();
	while ((t = jr_next(r)) != end) {
		char *key = NULL;

		if (t == JR_KEY) {
			key = xstrdup(r->text);
			t = jr_next(r);
		}
		if (!(item = jr_value(r, t))) {
			free(key);
			cJSON_Delete(v);
			return NULL;
		}
		if (key)
			cJSON_AddItemToObject(v, key, item);
		else
			cJSON_AddItemToArray(v, item);
		free(key);
	}
	return v;
}

/* The scanner below walks text by the grammar of cJSON 1.7.15 as Debian 12 patches it
 * (CVE-2023-26819, CVE-2023-53154), which is looser than RFC 8259 in places a broken
 * registry could reach: any byte up to 32 is white space, a \u escape with bad hex digits
 * reads as U+0000, raw control bytes may stand in strings, a number is the longest run of
 * [0-9+-eE.] that strtod takes a prefix of.  The unit tests and fuzz_json hold it to the
 * cJSON it is built with. */
#define JSON_NESTING_MAX 1000 /* cJSON's CJSON_NESTING_LIMIT */

typedef const unsigned char *jtext;

static jtext js_space(jtext p, jtext end)
{
	while (p < end && *p <= 32)
		p++;
	return p;
}

/* cJSON's parse_hex4: 0 for anything that is not four hex digits. */
static unsigned js_hex4(jtext p)
{
	unsigned h = 0;

	for (int i = 0; i < 4; i++) {
		int c = p[i] | 32;

		if (p[i] >= '0' && p[i] <= '9')
			h = h * 16 + (unsigned)(p[i] - '0');
		else if (c >= 'a' && c <= 'f')
			h = h * 16 + (unsigned)(c - 'a' + 10);
		else
			return 0;
	}
	return h;
}

/* The closing quote of the string whose text starts at p (past its opening quote), a
 * backslash taking the byte after it; end when there is none. */
static jtext js_close_quote(jtext p, jtext end)
{
	jtext quote = memchr(p, '"', (size_t)(end - p));

	/* Most strings (digests, media types) hold no escape: two vector scans. */
	if (!quote || !memchr(p, '\\', (size_t)(quote - p)))
		return quote ? quote : end;
	while (p < end && *p != '"') {
		if (*p == '\\' && ++p == end)
			return end;
		p++;
	}
	return p;
}

/* Past the string whose opening quote is at p, or NULL. */
static jtext js_string(jtext p, jtext end)
{
	jtext close = js_close_quote(p + 1, end);

	if (close >= end)
		return NULL;
	/* Then its escapes, from the first. */
	for (p = memchr(p + 1, '\\', (size_t)(close - p - 1)); p && p < close; p++) {
		if (*p != '\\')
			continue;
		if (p[1] == 'u') {
			unsigned code;

			if (close - p < 6 || ((code = js_hex4(p + 2)) >= 0xDC00 && code <= 0xDFFF))
				return NULL;
			if (code >= 0xD800 && code <= 0xDBFF) {
				if (close - (p + 6) < 6 || p[6] != '\\' || p[7] != 'u' ||
				    (code = js_hex4(p + 8)) < 0xDC00 || code > 0xDFFF)
					return NULL;
				p += 6;
			}
			p += 5;
		} else if (p[1] && strchr("bfnrt\"\\/", p[1])) {
			p++;
		} else {
			return NULL;
		}
	}
	return close + 1;
}

/* strtod of the n bytes at p, as cJSON calls it: the number in *out, and how many bytes
 * it took (0: none). */
static size_t js_strtod(jtext p, size_t n, double *out)
{
	char small[64], *text = small, *stop;
	size_t took;

	/* strtod wants a NUL-terminated copy: the text goes on where the run ends. */
	if (n >= sizeof(small))
		text = xmalloc(n + 1);
	memcpy(text, p, n);
	text[n] = '\0';
	*out = strtod(text, &stop);
	took = (size_t)(stop - text);
	if (text != small)
		free(text);
	return took;
}

/* The bytes cJSON takes into a number before it calls strtod. */
static const unsigned char number_byte[256] = {
	['0' ... '9'] = 1, ['+'] = 1, ['-'] = 1, ['e'] = 1, ['E'] = 1, ['.'] = 1,
};

/* Whether the n bytes at p are [-]digits, which strtod takes whole (sizes are). */
static int js_plain_integer(jtext p, size_t n)
{
	size_t i = n && *p == '-';

	if (i == n)
		return 0;
	while (i < n && p[i] >= '0' && p[i] <= '9')
		i++;
	return i == n;
}

static jtext js_number(jtext p, jtext end)
{
	size_t n = 0;
	double ignored;

	while (p + n < end && number_byte[p[n]])
		n++;
	if (!js_plain_integer(p, n))
		n = js_strtod(p, n, &ignored);
	return n ? p + n : NULL;
}

/* Past the value at p (before end) in text json_value_span has checked: only brackets and
 * the ends of strings matter there. */
static jtext js_skip(jtext p, jtext end)
{
	unsigned depth = 0;

	do {
		if (*p == '"') {
			jtext close = js_close_quote(p + 1, end);

			p = close < end ? close + 1 : end;
		} else if (*p == '{' || *p == '[') {
			depth++, p++;
		} else if (*p == '}' || *p == ']') {
			depth--, p++;
		} else if (depth) {
			p++;
		} else { /* a number or a literal */
			while (p < end && *p > 32 && *p != ',' && *p != ']' && *p != '}')
				p++;
		}
	} while (depth && p < end);
	return p;
}

static jtext js_value(jtext p, jtext end, unsigned depth);

/* Past the array or object at p ('[' or '{'), or NULL. */
static jtext js_container(jtext p, jtext end, unsigned depth)
{
	int object = *p == '{';
	char close = object ? '}' : ']';

	if (depth >= JSON_NESTING_MAX)
		return NULL;
	p = js_space(p + 1, end);
	if (p < end && *p == close)
		return p + 1;
	for (;;) {
		if (object) {
			if (p >= end || *p != '"' || !(p = js_string(p, end)))
				return NULL;
			p = js_space(p, end);
			if (p >= end || *p != ':')
				return NULL;
			p = js_space(p + 1, end);
		}
		if (!(p = js_value(p, end, depth + 1)))
			return NULL;
		p = js_space(p, end);
		if (p < end && *p == ',') {
			p = js_space(p + 1, end);
			continue;
		}
		return p < end && *p == close ? p + 1 : NULL;
	}
}

/* Past the value at p, or NULL. */
static jtext js_value(jtext p, jtext end, unsigned depth)
{
	size_t left = (size_t)(end - p);

	if (left >= 4 && (memcmp(p, "null", 4) == 0 || memcmp(p, "true", 4) == 0))
		return p + 4;
	if (left >= 5 && memcmp(p, "false", 5) == 0)
		return p + 5;
	if (!left)
		return NULL;
	if (*p == '"')
		return js_string(p, end);
	if (*p == '-' || (*p >= '0' && *p <= '9'))
		return js_number(p, end);
	if (*p == '[' || *p == '{')
		return js_container(p, end, depth);
	return NULL;
}

int json_value_span(const char *text, size_t n, struct json_span *value)
{
	jtext p = (jtext)text, end, past;

	if (!text || !n)
		return -1;
	end = p + n;
	if (n > 4 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
		p += 3;
	p = js_space(p, end);
	if (!(past = js_value(p, end, 0)))
		return -1;
	value->text = (const char *)p;
	value->len = (size_t)(past - p);
	return 0;
}

const char *json_string_value(struct json_span v, struct buf *b)
{
	const char *text, *nul;
	size_t n;
	cJSON *decoded;
	int ok;

	b->len = 0;
	buf_append(b, "", 0); /* b->data is a string, empty, whatever follows */
	if (!v.text || v.len < 2 || v.text[0] != '"')
		return NULL;
	text = v.text + 1;
	n = v.len - 2;
	if (!memchr(text, '\\', n)) {
		/* cJSON's valuestring is a C string: a NUL in the text ends it. */
		buf_append(b, text, (nul = memchr(text, '\0', n)) ? (size_t)(nul - text) : n);
		return b->data;
	}
	decoded = cJSON_ParseWithLength(v.text, v.len);
	if ((ok = cJSON_IsString(decoded)))
		buf_append(b, decoded->valuestring, strlen(decoded->valuestring));
	cJSON_Delete(decoded);
	return ok ? b->data : NULL;
}

int json_number_value(struct json_span v, double *out)
{
	jtext p = (jtext)v.text;

	if (!p || !v.len || (*p != '-' && (*p < '0' || *p > '9')))
		return -1;
	/* Up to 15 digits, a double holds the integer exactly, as strtod gives it. */
	if (js_plain_integer(p, v.len) && v.len - (*p == '-') <= 15) {
		double x = 0;

		for (size_t i = *p == '-'; i < v.len; i++)
			x = x * 10 + (p[i] - '0');
		*out = *p == '-' ? -x : x;
		return 0;
	}
	return js_strtod(p, v.len, out) ? 0 : -1;
}

int json_next(struct json_span container, struct json_span *key, struct json_span *value)
{
	jtext p = (jtext)container.text, end, name = NULL, past;

	if (!p || !container.len || (*p != '{' && *p != '['))
		return 0;
	end = p + container.len;
	if (!value->text) {
		p = js_space(p + 1, end);
	} else {
		p = js_space((jtext)value->text + value->len, end);
		if (p >= end || *p != ',')
			return 0;
		p = js_space(p + 1, end);
	}
	/* The text was checked as a whole already: only its structure is walked. */
	if (*container.text == '{') {
		if (p >= end || *p != '"')
			return 0;
		past = js_skip(name = p, end);
		if (key)
			*key = (struct json_span){(const char *)name, (size_t)(past - name)};
		p = js_space(past, end);
		if (p >= end || *p != ':')
			return 0;
		p = js_space(p + 1, end);
	}
	if (p >= end || *p == ']' || *p == '}')
		return 0;
	past = js_skip(p, end);
	*value = (struct json_span){(const char *)p, (size_t)(past - p)};
	return 1;
}

size_t json_count(struct json_span container)
{
	struct json_span v = {NULL, 0};
	size_t n = 0;

	while (json_next(container, NULL, &v))
		n++;
	return n;
}

/* Whether the member name key (a string literal holding an escape or a NUL) is name once
 * decoded, compared as cJSON compares member names (strcmp: a NUL in the key ends it). */
static int js_key_is(struct json_span key, const char *name)
{
	struct buf decoded = {0};
	int is = json_string_value(key, &decoded) && strcmp(decoded.data, name) == 0;

	buf_free(&decoded);
	return is;
}

void json_members(struct json_span object, const char *const *keys, size_t count,
		  struct json_span *values)
{
	struct json_span key, value = {NULL, 0};
	size_t missing = count;

	for (size_t i = 0; i < count; i++)
		values[i] = (struct json_span){NULL, 0};
	if (!object.text || !object.len || *object.text != '{')
		return;
	/* Only the first member of a name counts: the walk ends when each has been seen. */
	while (missing && json_next(object, &key, &value)) {
		const char *name = key.text + 1;
		size_t len = key.len - 2;
		int plain = !memchr(name, '\\', len) && !memchr(name, '\0', len);

		for (size_t i = 0; i < count; i++) {
			if (values[i].text)
				continue;
			if (plain ? strncmp(keys[i], name, len) == 0 && keys[i][len] == '\0'
				  : js_key_is(key, keys[i])) {
				values[i] = value;
				missing--;
			}
		}
	}
}
