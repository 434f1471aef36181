/* json_agree.c - core/json.c's scanner and the scan's manifest reading against cJSON, for
 * the unit tests and the json and manifest fuzz harnesses. */
#include "json_agree.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "json.h"
#include "registry.h"

/* 0 when the reader and cJSON agreed, else -1 after printing the text to standard error. */
static int verdict(int agree, const char *reader, const char *text, size_t n)
{
	if (agree)
		return 0;
	fprintf(stderr, "%s and cJSON differ on: ", reader);
	fwrite(text, 1, n, stderr);
	fputc('\n', stderr);
	return -1;
}

static int is_literal(struct json_span v, const char *text)
{
	return v.len == strlen(text) && memcmp(v.text, text, v.len) == 0;
}

/* Whether the span v reads as cJSON's item, down to every value inside: the strings as
 * json_string_value decodes them, the numbers as json_number_value reads them, and the
 * members and elements in the order and number json_next and json_count give. */
static int same_value(struct json_span v, const cJSON *item, struct buf *b)
{
	struct json_span key, value = {NULL, 0};
	const cJSON *child;
	double d;
	int is_number = json_number_value(v, &d) == 0;

	if (!json_string_value(v, b) != !cJSON_IsString(item) || is_number != cJSON_IsNumber(item))
		return 0;
	if (cJSON_IsString(item)) /* the length too: a NUL in the text must end both */
		return b->len == strlen(item->valuestring) && strcmp(b->data, item->valuestring) == 0;
	if (is_number)
		return d == item->valuedouble || (isnan(d) && isnan(item->valuedouble));
	if (cJSON_IsTrue(item) || cJSON_IsFalse(item) || cJSON_IsNull(item))
		return is_literal(v, cJSON_IsTrue(item) ? "true" : cJSON_IsFalse(item) ? "false" : "null");
	if ((v.text[0] == '{') != cJSON_IsObject(item) ||
	    json_count(v) != (size_t)cJSON_GetArraySize(item))
		return 0;
	for (child = item->child; json_next(v, &key, &value); child = child->next) {
		if (!child || (cJSON_IsObject(item) && !(json_string_value(key, b) &&
							 b->len == strlen(child->string) &&
							 strcmp(b->data, child->string) == 0)))
			return 0;
		if (!same_value(value, child, b))
			return 0;
	}
	return !child;
}

int json_agree(const char *text, size_t n)
{
	static const char *const keys[] = {"created", "config", "a", ""};
	const char *stop = NULL;
	cJSON *doc = cJSON_ParseWithLengthOpts(text, n, &stop, 0);
	struct json_span span, found[4];
	struct buf b = {0};
	int ok = json_value_span(text, n, &span) == 0, agree = ok == (doc != NULL);

	if (agree && ok)
		agree = span.text + span.len == stop && same_value(span, doc, &b);
	if (agree && ok) {
		json_members(span, keys, 4, found);
		for (size_t i = 0; i < 4 && agree; i++) {
			cJSON *want = cJSON_IsObject(doc)
					  ? cJSON_GetObjectItemCaseSensitive(doc, keys[i])
					  : NULL;

			agree = want ? found[i].text && same_value(found[i], want, &b) : !found[i].text;
		}
	}
	buf_free(&b);
	cJSON_Delete(doc);
	return verdict(agree, "json scan", text, n);
}

/* count random edits of t, drawn from the xorshift state *rng. */
static void json_mutate(struct buf *t, uint64_t *rng, int count)
{
	static const char alphabet[] = "{}[]\",:\\u0123456789abcdefABCDEF-+eE.ntrfl \t\n\x01\xef\xbb\xbf";

	for (; count > 0 && t->len; count--) {
		uint64_t r = (*rng ^= *rng << 13, *rng ^= *rng >> 7, *rng ^= *rng << 17);
		size_t at = (size_t)(r >> 8) % t->len, n = t->len - at > 8 ? 8 : t->len - at;
		char c = (r & 7) == 7 ? (char)(r >> 40) : alphabet[(r >> 40) % (sizeof(alphabet) - 1)];
		char piece[8];

		if ((r & 3) == 0)
			t->data[at] = c;
		else if ((r & 3) == 1)
			memmove(t->data + at, t->data + at + 1, --t->len - at);
		else if ((r & 3) == 2)
			t->len = at + 1;
		else /* copied out first: the append may move t->data */
			buf_append(t, memcpy(piece, t->data + at, n), n);
	}
}

/* A descriptor's digest as cJSON reads it, NULL when it is not valid. */
static const char *cjson_digest(const cJSON *desc)
{
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(desc, "digest");

	return cJSON_IsString(d) && util_valid_digest(d->valuestring) ? d->valuestring : NULL;
}

/* Whether m's next blob (*i, then counted) is desc's digest and size. */
static int blob_agrees(const struct reg_manifest *m, size_t *i, const cJSON *desc)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(desc, "size");
	int64_t size = cJSON_IsNumber(s) && s->valuedouble >= 0 &&
			       s->valuedouble <= 9007199254740992.0
			   ? (int64_t)s->valuedouble
			   : -1;
	const struct reg_blob *b = *i < m->blob_count ? &m->blobs[(*i)++] : NULL;

	return b && strcmp(b->digest, cjson_digest(desc)) == 0 && b->size == size;
}

/* Whether m's media type is what the manifest's mediaType member mt, else the Content-Type
 * up to its parameters, says. */
static int media_type_agrees(const struct reg_manifest *m, const cJSON *mt,
			     const char *content_type)
{
	if (cJSON_IsString(mt))
		return m->media_type && strcmp(m->media_type, mt->valuestring) == 0;
	if (content_type)
		return m->media_type && strlen(m->media_type) == strcspn(content_type, "; ") &&
		       strncmp(m->media_type, content_type, strlen(m->media_type)) == 0;
	return !m->media_type;
}

int manifest_agree(const char *body, size_t len, const char *content_type)
{
	struct pool *pool = pool_new();
	struct reg_manifest m = {0};
	cJSON *doc = cJSON_ParseWithLength(body, len);
	const cJSON *children = cJSON_GetObjectItemCaseSensitive(doc, "manifests");
	const cJSON *config = cJSON_GetObjectItemCaseSensitive(doc, "config");
	const cJSON *layers = cJSON_GetObjectItemCaseSensitive(doc, "layers");
	const cJSON *subject = cJSON_GetObjectItemCaseSensitive(doc, "subject"), *v;
	int rc = registry_manifest_from_body(pool, pool, &m, "sha256:0", body, len, content_type);
	int bad = !cJSON_IsObject(doc) || (subject && !cjson_digest(subject)), agree;
	size_t i = 0;

	/* Refused when a descriptor it reads has no valid digest. */
	if (cJSON_IsArray(children)) {
		cJSON_ArrayForEach(v, children) bad |= !cjson_digest(v);
	} else if (cJSON_IsObject(config)) {
		bad |= !cjson_digest(config);
		cJSON_ArrayForEach(v, layers) bad |= !cjson_digest(v);
	}
	agree = rc == (bad ? -1 : 0);
	if (agree && !bad) {
		agree = media_type_agrees(&m, cJSON_GetObjectItemCaseSensitive(doc, "mediaType"),
					  content_type) &&
			(subject ? m.subject && strcmp(m.subject, cjson_digest(subject)) == 0
				 : !m.subject) &&
			m.body_len == len && memcmp(m.body, body, len) == 0;
		if (cJSON_IsArray(children)) {
			agree = agree && !m.blob_count &&
				m.child_count == (size_t)cJSON_GetArraySize(children);
			cJSON_ArrayForEach(v, children) agree =
			    agree && strcmp(m.children[i++], cjson_digest(v)) == 0;
		} else if (cJSON_IsObject(config)) {
			agree = agree && !m.child_count && blob_agrees(&m, &i, config);
			cJSON_ArrayForEach(v, layers) agree = agree && blob_agrees(&m, &i, v);
			agree = agree && i == m.blob_count;
		} else {
			agree = agree && !m.child_count && !m.blob_count;
		}
	}
	cJSON_Delete(doc);
	pool_free(pool);
	return verdict(agree, "manifest reading", body, len);
}

int json_mutations(const char *const *seeds, size_t nseeds, int rounds, int max_edits,
		   uint64_t rng, int (*check)(const char *text, size_t n, int round))
{
	struct buf t = {0};
	int differ = 0;

	for (int round = 0; round < rounds && differ < 5; round++) {
		const char *seed = seeds[(size_t)round % nseeds];

		t.len = 0;
		buf_append(&t, seed, strlen(seed));
		json_mutate(&t, &rng, round % (max_edits + 1));
		differ += check(t.data, t.len, round) != 0;
	}
	buf_free(&t);
	return differ;
}
