/* test_report.c - the report's byte figures on hand-built scans (blobs shared between
 * repositories and between manifests of one repository), its order, --top, unknown times,
 * the text table and the JSON. */
#define _GNU_SOURCE /* open_memstream */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "report.h"
#include "tests.h"

#define T0 1714558830 /* 2024-05-01T10:20:30Z */
#define DAY 86400

/* Hex digits are enough to tell digests apart: report.c only compares them. */
#define DG(x) "sha256:" x

static struct reg_repo *add_repo(struct reg_scan *s, const char *name)
{
	struct reg_repo *r;

	s->repos = xrealloc(s->repos, (s->count + 1) * sizeof(*s->repos));
	r = &s->repos[s->count++];
	memset(r, 0, sizeof(*r));
	if (!s->pool)
		s->pool = pool_new();
	r->name = pool_strdup(s->pool, name);
	return r;
}

static void add_tag(struct reg_scan *s, struct reg_repo *r, const char *tag, int64_t created)
{
	struct reg_image *img;

	r->images = xrealloc(r->images, (r->count + 1) * sizeof(*r->images));
	img = &r->images[r->count++];
	memset(img, 0, sizeof(*img));
	img->tag = pool_strdup(s->pool, tag);
	img->created = created;
	img->size = -1;
}

/* A manifest of body_len bytes with nblobs (digest, size) pairs after it: config, layers.
 * Callers add manifests in digest order, as the scan keeps them. */
static void add_manifest(struct reg_scan *s, struct reg_repo *r, const char *digest,
			 size_t body_len, size_t nblobs, ...)
{
	struct reg_manifest *m;
	va_list ap;

	r->manifests = xrealloc(r->manifests, (r->manifest_count + 1) * sizeof(*r->manifests));
	m = &r->manifests[r->manifest_count++];
	memset(m, 0, sizeof(*m));
	m->digest = pool_strdup(s->pool, digest);
	m->body_len = body_len;
	m->blob_count = nblobs;
	m->blobs = pool_calloc(s->pool, nblobs, sizeof(*m->blobs));
	va_start(ap, nblobs);
	for (size_t i = 0; i < nblobs; i++) {
		m->blobs[i].digest = pool_strdup(s->pool, va_arg(ap, const char *));
		m->blobs[i].size = va_arg(ap, int64_t);
	}
	va_end(ap);
}

/*
 * a: 3 tags (one time unknown); m1 and m2 share layer l1 (counted once), m1 holds layer
 *    ls, which b holds too.  total 100+10+1000+5000 + 200+20 = 6330, unique 6330-5000.
 * b: 1 tag, time unknown; m3 with ls.  total 50+30+5000 = 5080, unique 80.
 * c: scan failed: counts nowhere.
 * d, e: 12 bytes each, all unique: the tie goes by name.
 * The registry: 6330 + 80 + 12 + 12 = 6434.
 */
static void sample(struct reg_scan *s)
{
	struct reg_repo *r;

	memset(s, 0, sizeof(*s));
	r = add_repo(s, "e");
	add_tag(s, r, "y", T0);
	add_manifest(s, r, DG("e5"), 10, 2, DG("c5"), (int64_t)1, DG("f5"), (int64_t)1);
	r = add_repo(s, "c");
	add_tag(s, r, "z", T0);
	r->error = xstrdup("team/c: tags/list: HTTP 500");
	r = add_repo(s, "a");
	add_tag(s, r, "t1", T0 - 10 * DAY);
	add_tag(s, r, "t2", T0);
	add_tag(s, r, "t3", RS_CREATED_UNKNOWN);
	add_manifest(s, r, DG("a1"), 100, 3, DG("c1"), (int64_t)10, DG("f1"), (int64_t)1000,
		     DG("f9"), (int64_t)5000);
	add_manifest(s, r, DG("a2"), 200, 2, DG("c2"), (int64_t)20, DG("f1"), (int64_t)1000);
	r = add_repo(s, "d");
	add_tag(s, r, "y", T0 - DAY);
	add_manifest(s, r, DG("d4"), 10, 2, DG("c4"), (int64_t)1, DG("f4"), (int64_t)1);
	r = add_repo(s, "b");
	add_tag(s, r, "x", RS_CREATED_UNKNOWN);
	add_manifest(s, r, DG("b3"), 50, 2, DG("c3"), (int64_t)30, DG("f9"), (int64_t)5000);
}

static void test_bytes_and_order(void)
{
	static const char *const order[] = {"a", "b", "d", "e", "c"};
	struct reg_scan s;
	struct report rep;

	sample(&s);
	report_build(&s, "http://127.0.0.1:5000", &rep);
	CU_ASSERT_EQUAL_FATAL(rep.count, 5);
	for (size_t i = 0; i < 5; i++)
		CU_ASSERT_STRING_EQUAL(rep.repos[i].name, order[i]);
	CU_ASSERT_EQUAL(rep.repos[0].total_bytes, 6330);
	CU_ASSERT_EQUAL(rep.repos[0].unique_bytes, 1330);
	CU_ASSERT_EQUAL(rep.repos[0].tags, 3);
	CU_ASSERT_EQUAL(rep.repos[0].manifests, 2);
	CU_ASSERT_EQUAL(rep.repos[1].total_bytes, 5080);
	CU_ASSERT_EQUAL(rep.repos[1].unique_bytes, 80);
	CU_ASSERT_EQUAL(rep.repos[2].total_bytes, 12);
	CU_ASSERT_EQUAL(rep.repos[2].unique_bytes, 12);
	CU_ASSERT_EQUAL(rep.repos[3].unique_bytes, 12);
	CU_ASSERT_PTR_NOT_NULL(rep.repos[4].error);
	CU_ASSERT_EQUAL(rep.repos[4].total_bytes, 0);
	CU_ASSERT_EQUAL(rep.repos[4].tags, 0);
	CU_ASSERT_EQUAL(rep.failed, 1);
	CU_ASSERT_EQUAL(rep.tags, 6);
	CU_ASSERT_EQUAL(rep.manifests, 5);
	CU_ASSERT_EQUAL(rep.total_bytes, 6434);
	report_free(&rep);
	registry_scan_free(&s);
}

static void test_times(void)
{
	struct reg_scan s;
	struct report rep;

	sample(&s);
	report_build(&s, "http://127.0.0.1:5000", &rep);
	/* an unknown time neither widens nor hides the known ones */
	CU_ASSERT_EQUAL(rep.repos[0].oldest, T0 - 10 * DAY);
	CU_ASSERT_EQUAL(rep.repos[0].newest, T0);
	CU_ASSERT_EQUAL(rep.repos[1].oldest, RS_CREATED_UNKNOWN);
	CU_ASSERT_EQUAL(rep.repos[1].newest, RS_CREATED_UNKNOWN);
	CU_ASSERT_EQUAL(rep.repos[4].oldest, RS_CREATED_UNKNOWN);
	report_free(&rep);
	registry_scan_free(&s);
}

/* One manifest in two repositories (a cross-repository push): neither frees it alone.  A
 * descriptor without a size counts for nothing, and disagreeing sizes take the largest. */
static void test_shared_manifest(void)
{
	struct reg_scan s = {0};
	struct report rep;
	struct reg_repo *r;

	r = add_repo(&s, "f");
	add_tag(&s, r, "1", T0);
	add_manifest(&s, r, DG("a6"), 7, 2, DG("c6"), (int64_t)3, DG("f6"), (int64_t)4);
	r = add_repo(&s, "g");
	add_tag(&s, r, "1", T0);
	add_tag(&s, r, "2", T0);
	add_manifest(&s, r, DG("a6"), 7, 2, DG("c6"), (int64_t)3, DG("f6"), (int64_t)4);
	add_manifest(&s, r, DG("a7"), 5, 2, DG("c7"), (int64_t)-1, DG("f7"), (int64_t)6);
	add_manifest(&s, r, DG("a8"), 5, 1, DG("f7"), (int64_t)9);
	report_build(&s, "http://127.0.0.1:5000", &rep);
	CU_ASSERT_STRING_EQUAL(rep.repos[0].name, "g");
	CU_ASSERT_EQUAL(rep.repos[0].total_bytes, 14 + 5 + 5 + 9);
	CU_ASSERT_EQUAL(rep.repos[0].unique_bytes, 5 + 5 + 9);
	CU_ASSERT_EQUAL(rep.repos[1].total_bytes, 14);
	CU_ASSERT_EQUAL(rep.repos[1].unique_bytes, 0);
	CU_ASSERT_EQUAL(rep.total_bytes, 14 + 5 + 5 + 9);
	report_free(&rep);
	registry_scan_free(&s);
}

static void test_empty(void)
{
	struct reg_scan s = {0};
	struct report rep;

	report_build(&s, "http://127.0.0.1:5000", &rep);
	CU_ASSERT_EQUAL(rep.count, 0);
	CU_ASSERT_EQUAL(rep.total_bytes, 0);
	report_free(&rep);
}

static char *text_of(const struct report *rep, size_t top)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	report_print_text(rep, top, f);
	fclose(f);
	return text;
}

static void test_text(void)
{
	struct reg_scan s;
	struct report rep;
	char *all, *top;

	sample(&s);
	report_build(&s, "http://127.0.0.1:5000", &rep);
	all = text_of(&rep, 0);
	CU_ASSERT_STRING_EQUAL(all,
			       /* one row in two literals: name and counts, then sizes and days */
			       "REPOSITORY                                 TAGS MANIFESTS"
			       "       TOTAL      UNIQUE OLDEST     NEWEST\n"
			       "a                                             3         2"
			       "     6.2 KiB     1.3 KiB 2024-04-21 2024-05-01\n"
			       "b                                             1         1"
			       "     5.0 KiB        80 B -          -\n"
			       "d                                             1         1"
			       "        12 B        12 B 2024-04-30 2024-04-30\n"
			       "e                                             1         1"
			       "        12 B        12 B 2024-05-01 2024-05-01\n"
			       "c                                             -         -"
			       "           -           - -          -\n"
			       "  not scanned: team/c: tags/list: HTTP 500\n"
			       "total: 5 repositories, 6 tags, 5 manifests, 6.3 KiB;"
			       " 1 not scanned\n");
	/* --top cuts the ranking but never hides a repository that could not be scanned */
	top = text_of(&rep, 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(top, "\nb "));
	CU_ASSERT_PTR_NULL(strstr(top, "\nd "));
	CU_ASSERT_PTR_NOT_NULL(
		strstr(top, "\n... 2 more repositories, 24 B unique between them\nc "));
	CU_ASSERT_PTR_NOT_NULL(
		strstr(top, "\ntotal: 5 repositories, 6 tags, 5 manifests, 6.3 KiB"));
	free(all);
	free(top);
	/* a --top at or above the count shows everything */
	all = text_of(&rep, 4);
	CU_ASSERT_PTR_NULL(strstr(all, "more repositor"));
	free(all);
	report_free(&rep);
	registry_scan_free(&s);
}

static double number(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	CU_ASSERT_TRUE(cJSON_IsNumber(v));
	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static void test_json(void)
{
	struct reg_scan s;
	struct report rep;
	char *text;
	cJSON *root, *repos, *a, *b, *c, *sum;

	sample(&s);
	report_build(&s, "http://127.0.0.1:5000", &rep);
	text = report_to_json(&rep, 2);
	root = cJSON_Parse(text);
	CU_ASSERT_PTR_NOT_NULL_FATAL(root);
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(root, "registry")->valuestring,
			       "http://127.0.0.1:5000");
	repos = cJSON_GetObjectItem(root, "repositories");
	CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(repos), 3);
	a = cJSON_GetArrayItem(repos, 0);
	b = cJSON_GetArrayItem(repos, 1);
	c = cJSON_GetArrayItem(repos, 2);
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(a, "name")->valuestring, "a");
	CU_ASSERT_EQUAL(number(a, "tags"), 3);
	CU_ASSERT_EQUAL(number(a, "manifests"), 2);
	CU_ASSERT_EQUAL(number(a, "total_bytes"), 6330);
	CU_ASSERT_EQUAL(number(a, "unique_bytes"), 1330);
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(a, "oldest")->valuestring,
			       "2024-04-21T10:20:30Z");
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(a, "newest")->valuestring,
			       "2024-05-01T10:20:30Z");
	CU_ASSERT_PTR_NULL(cJSON_GetObjectItem(a, "error"));
	CU_ASSERT_TRUE(cJSON_IsNull(cJSON_GetObjectItem(b, "oldest")));
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(c, "name")->valuestring, "c");
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(c, "error")->valuestring,
			       "team/c: tags/list: HTTP 500");
	CU_ASSERT_TRUE(cJSON_IsNull(cJSON_GetObjectItem(c, "total_bytes")));
	sum = cJSON_GetObjectItem(root, "summary");
	CU_ASSERT_EQUAL(number(sum, "repositories"), 5);
	CU_ASSERT_EQUAL(number(sum, "not_scanned"), 1);
	CU_ASSERT_EQUAL(number(sum, "tags"), 6);
	CU_ASSERT_EQUAL(number(sum, "manifests"), 5);
	CU_ASSERT_EQUAL(number(sum, "total_bytes"), 6434);
	cJSON_Delete(root);
	free(text);
	report_free(&rep);
	registry_scan_free(&s);
}

/* Past 32 bits, the JSON still carries every byte. */
static void test_json_large(void)
{
	struct reg_scan s = {0};
	struct report rep;
	struct reg_repo *r = add_repo(&s, "big");
	char *text;

	add_tag(&s, r, "1", T0);
	add_manifest(&s, r, DG("a1"), 1, 1, DG("f1"), (int64_t)1234567890123);
	report_build(&s, "http://127.0.0.1:5000", &rep);
	text = report_to_json(&rep, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"total_bytes\":\t1234567890124"));
	free(text);
	report_free(&rep);
	registry_scan_free(&s);
}

void suite_report(void)
{
	static const struct test_case cases[] = {
		{"bytes and order", test_bytes_and_order},
		{"oldest and newest", test_times},
		{"a manifest in two repositories", test_shared_manifest},
		{"empty scan", test_empty},
		{"text table and --top", test_text},
		{"json", test_json},
		{"json keeps large counts exact", test_json_large},
		{NULL, NULL},
	};

	tests_add_suite("report", cases);
}
