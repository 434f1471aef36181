/* json.c - shared cJSON readers and writers, and a streaming writer for large documents. */
#include "json.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	const unsigned char *p = (const unsigned char *)s, *run = p;

	buf_append(b, "\"", 1);
	for (; *p; p++) {
		char esc[8];

		if (*p >= 32 && *p != '"' && *p != '\\')
			continue;
		buf_append(b, run, (size_t)(p - run));
		run = p + 1;
		switch (*p) {
		case '"': buf_append(b, "\\\"", 2); break;
		case '\\': buf_append(b, "\\\\", 2); break;
		case '\b': buf_append(b, "\\b", 2); break;
		case '\f': buf_append(b, "\\f", 2); break;
		case '\n': buf_append(b, "\\n", 2); break;
		case '\r': buf_append(b, "\\r", 2); break;
		case '\t': buf_append(b, "\\t", 2); break;
		default:
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			buf_append(b, esc, 6);
		}
	}
	buf_append(b, run, (size_t)(p - run));
	buf_append(b, "\"", 1);
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
		buf_append(&w->pending, "\t", 1);
}

/* What goes before a value: the separator from the previous one and the member's key. */
static void jw_before(struct jw *w, const char *key)
{
	unsigned d = w->depth;

	if (d == 0)
		return;
	if (w->members[d - 1]) {
		jw_hash(w, ",", 1);
		buf_append(&w->pending, w->in_object[d - 1] ? ",\n" : ", ", 2);
	}
	w->members[d - 1] = 1;
	if (!w->in_object[d - 1])
		return;
	w->scratch.len = 0;
	json_string_text(&w->scratch, key ? key : "");
	buf_append(&w->scratch, ":", 1);
	jw_hash(w, w->scratch.data, w->scratch.len);
	jw_tabs(w, d);
	buf_append(&w->pending, w->scratch.data, w->scratch.len);
	buf_append(&w->pending, "\t", 1);
}

/* A scalar's text after jw_before, the same compact and pretty. */
static void jw_text(struct jw *w, const char *text, size_t n)
{
	jw_hash(w, text, n);
	buf_append(&w->pending, text, n);
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
	buf_append(&w->pending, object ? "{\n" : "[", object ? 2 : 1);
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
			buf_append(&w->pending, "\n", 1);
		jw_tabs(w, w->depth);
	}
	buf_append(&w->pending, object ? "}" : "]", 1);
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
	memcpy(out, "sha256:", 7);
	for (unsigned int i = 0; i < n; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", sum[i]);
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
