/* test_plan.c - digest grouping (the shared-digest rule), plan JSON round trip, and
 * rejection of malformed plan files. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "json.h"
#include "plan.h"
#include "tests.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

static void add_tag(struct plan_repo *r, const char *tag, const char *digest,
		    enum rs_verdict v)
{
	struct plan_tag *t;

	r->tags = xrealloc(r->tags, (r->tag_count + 1) * sizeof(*r->tags));
	t = &r->tags[r->tag_count++];
	memset(t, 0, sizeof(*t));
	t->tag = plan_strdup(r, tag);
	t->digest = plan_strdup(r, digest);
	t->media_type = plan_strdup_shared(r, "application/vnd.docker.distribution.manifest.v2+json");
	t->created = 1714558830;
	t->verdict = v;
	t->reason = plan_strdup_shared(r, "test");
}

static void sample(struct plan *p)
{
	struct plan_repo *r;

	memset(p, 0, sizeof(*p));
	p->registry = xstrdup("http://127.0.0.1:5000");
	p->created = 1714558830;
	p->guards = (struct plan_guards){.max_delete_percent = 90, .min_keep = 1};
	r = plan_add_repo(p, "team/app");
	add_tag(r, "a", D1, RS_DELETE);
	add_tag(r, "b", D1, RS_KEEP);
	add_tag(r, "c", D2, RS_DELETE);
	add_tag(r, "d", D2, RS_DELETE);
	add_tag(r, "e", NULL, RS_DELETE);
	add_tag(r, "f", D3, RS_KEEP);
	plan_group_digests(r);
}

static void test_grouping(void)
{
	struct plan p;
	struct plan_repo *r;
	struct plan_totals t;

	sample(&p);
	r = &p.repos[0];
	CU_ASSERT_EQUAL(r->tags[0].verdict, RS_KEEP);
	CU_ASSERT_STRING_EQUAL(r->tags[0].reason, "shares digest with b");
	CU_ASSERT_EQUAL(r->tags[4].verdict, RS_KEEP);
	CU_ASSERT_STRING_EQUAL(r->tags[4].reason, "digest unknown: cannot be deleted safely");
	CU_ASSERT_EQUAL(r->tags[2].verdict, RS_DELETE);
	CU_ASSERT_EQUAL(r->tags[3].verdict, RS_DELETE);
	CU_ASSERT_EQUAL_FATAL(r->deletion_count, 1);
	CU_ASSERT_STRING_EQUAL(r->deletions[0].digest, D2);
	CU_ASSERT_EQUAL_FATAL(r->deletions[0].tag_count, 2);
	CU_ASSERT_STRING_EQUAL(r->deletions[0].tags[0], "c");
	CU_ASSERT_STRING_EQUAL(r->deletions[0].tags[1], "d");
	plan_totals(&p, &t);
	CU_ASSERT_EQUAL(t.tags, 6);
	CU_ASSERT_EQUAL(t.deleted, 2);
	CU_ASSERT_EQUAL(t.kept, 4);
	CU_ASSERT_EQUAL(t.manifests, 1);
	plan_free(&p);
}

static void test_json_round_trip(void)
{
	struct plan p, back;
	struct rs_err e = {{0}};
	char *json, *path;

	sample(&p);
	json = plan_to_json(&p, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"verdict\":\t\"keep\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"reason\":\t\"shares digest with b\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"created\":\t\"2024-05-01T10:20:30Z\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"manifests_deleted\":\t1"));
	path = tests_write_file("plan.json", json);
	CU_ASSERT_EQUAL_FATAL(plan_read_file(path, &back, &e), 0);
	CU_ASSERT_STRING_EQUAL(back.registry, "http://127.0.0.1:5000");
	CU_ASSERT_EQUAL(back.created, 1714558830);
	CU_ASSERT_EQUAL_FATAL(back.repo_count, 1);
	CU_ASSERT_STRING_EQUAL(back.repos[0].name, "team/app");
	CU_ASSERT_EQUAL_FATAL(back.repos[0].deletion_count, 1);
	CU_ASSERT_STRING_EQUAL(back.repos[0].deletions[0].digest, D2);
	CU_ASSERT_EQUAL(back.repos[0].deletions[0].tag_count, 2);
	CU_ASSERT_EQUAL_FATAL(back.repos[0].tag_count, 6);
	CU_ASSERT_STRING_EQUAL(back.repos[0].tags[0].reason, "shares digest with b");
	CU_ASSERT_EQUAL(back.repos[0].tags[2].verdict, RS_DELETE);
	CU_ASSERT_EQUAL(back.guards.max_delete_percent, 90);
	plan_free(&back);
	plan_free(&p);
	free(json);
	free(path);
}

/* plan_read_file refuses path (taken over) with an error that says want. */
static void refused(char *path, const char *want)
{
	struct rs_err e = {{0}};
	struct plan p;

	CU_ASSERT_EQUAL(plan_read_file(path, &p, &e), -1);
	if (!strstr(e.msg, want))
		fprintf(stderr, "\n  %s: got \"%s\"\n", path, e.msg);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, want));
	plan_free(&p);
	free(path);
}

/* Writes the sample plan with `from` replaced by `to` in its text. */
static char *tampered(const char *name, const char *from, const char *to)
{
	struct plan p;
	char *json, *at, *text, *path;

	sample(&p);
	json = plan_to_json(&p, 0);
	at = strstr(json, from);
	CU_ASSERT_PTR_NOT_NULL_FATAL(at);
	*at = '\0';
	text = xasprintf("%s%s%s", json, to, at + strlen(from));
	path = tests_write_file(name, text);
	free(text);
	free(json);
	plan_free(&p);
	return path;
}

static void test_bad_plans(void)
{
	static const struct {
		const char *from, *to, *msg;
	} bad[] = {
		/* A reviewed plan must be the applied plan: any edit breaks the seal. */
		{"\"verdict\":\t\"keep\"", "\"verdict\":\t\"delete\"",
		 "plan_sha256 does not match: the plan was changed"},
		{D2, D3, "plan_sha256 does not match"},
		{"\"version\":\t1", "\"version\":\t2", "not a version 1 regsweep plan"},
		{"{", "[", "not valid JSON"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char name[32];

		snprintf(name, sizeof(name), "bad-%zu.json", i);
		refused(tampered(name, bad[i].from, bad[i].to), bad[i].msg);
	}
}

/* text sealed as cJSON would seal it (the hash of its compact print without the seal),
 * with the seal as the first member when seal_first, printed indented. */
static char *sealed_by_cjson(const char *text, int seal_first)
{
	cJSON *root = cJSON_Parse(text), *old, *seal;
	char hash[UTIL_SHA256_LEN], *compact, *out;

	CU_ASSERT_PTR_NOT_NULL_FATAL(root);
	while ((old = cJSON_DetachItemFromObjectCaseSensitive(root, "plan_sha256")))
		cJSON_Delete(old);
	compact = json_text(root, 0);
	util_sha256(compact, strlen(compact), hash);
	free(compact);
	seal = cJSON_CreateString(hash);
	if (seal_first) {
		seal->string = xstrdup("plan_sha256");
		cJSON_InsertItemInArray(root, 0, seal);
	} else {
		cJSON_AddItemToObject(root, "plan_sha256", seal);
	}
	out = json_text(root, 1);
	cJSON_Delete(root);
	return out;
}

/* The streaming reader: the seal anywhere at the top, escapes decoded before hashing,
 * nothing after the document, bounded nesting, a directory is not a plan. */
static void test_plan_reader(void)
{
	struct plan p, back;
	struct rs_err e = {{0}};
	char *json, *text, *path, *at;

	sample(&p);
	p.repos[0].tags[5].reason = plan_strdup(&p.repos[0], "caf\xc3\xa9 \"q\" \\ \x01 /");
	json = plan_to_json(&p, 0);
	plan_free(&p);

	text = sealed_by_cjson(json, 1);
	path = tests_write_file("reader-first.json", text);
	CU_ASSERT_EQUAL(plan_read_file(path, &back, &e), 0);
	CU_ASSERT_EQUAL_FATAL(back.repo_count, 1);
	CU_ASSERT_EQUAL_FATAL(back.repos[0].tag_count, 6);
	CU_ASSERT_STRING_EQUAL(back.repos[0].tags[5].reason, "caf\xc3\xa9 \"q\" \\ \x01 /");
	plan_free(&back);
	free(path);

	/* The same strings written with escapes cJSON does not use: the same plan. */
	at = strstr(text, "caf\xc3\xa9");
	CU_ASSERT_PTR_NOT_NULL_FATAL(at);
	free(json);
	json = xasprintf("%.*scaf\\u00e9 \\\"q\\\" \\\\ \\u0001 \\/%s", (int)(at - text), text,
			 at + strlen("caf\xc3\xa9 \\\"q\\\" \\\\ \\u0001 /"));
	CU_ASSERT_PTR_NOT_NULL(strstr(json, "caf\\u00e9 \\\"q\\\" \\\\ \\u0001 \\/"));
	path = tests_write_file("reader-escapes.json", json);
	e = (struct rs_err){{0}};
	CU_ASSERT_EQUAL(plan_read_file(path, &back, &e), 0);
	if (e.msg[0])
		fprintf(stderr, "\n  escapes: %s\n", e.msg);
	plan_free(&back);
	free(path);

	free(json);
	json = xasprintf("%s x", text);
	refused(tests_write_file("reader-trailing.json", json), "reader-trailing.json: not valid JSON");
	free(json);
	json = xasprintf("{\"deep\":%.*s%.*s,%s", 40, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", 40,
			 "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", text + 1);
	refused(tests_write_file("reader-deep.json", json), "reader-deep.json: not valid JSON");
	path = tests_write_file("reader-dir.json", "");
	*strrchr(path, '/') = '\0';
	refused(path, ": cannot read the plan file");
	free(json);
	free(text);
}

static void test_guards(void)
{
	struct plan p;
	struct plan_repo *r;

	sample(&p);
	/* team/app deletes 2 of 6 tags (33%). */
	CU_ASSERT_EQUAL(plan_check_guards(&p), 0);
	p.guards.max_delete_percent = 30;
	CU_ASSERT_EQUAL(plan_check_guards(&p), 1);
	CU_ASSERT_STRING_EQUAL(p.repos[0].guard, "would delete 2 of 6 tags (33%), more than "
						 "max_delete_percent = 30");
	p.guards.max_delete_percent = 100;
	p.guards.min_keep = 5;
	CU_ASSERT_EQUAL(plan_check_guards(&p), 1);
	CU_ASSERT_STRING_EQUAL(p.repos[0].guard, "would keep 4 tags, fewer than min_keep = 5");
	p.guards.min_keep = 4;
	CU_ASSERT_EQUAL(plan_check_guards(&p), 0);
	CU_ASSERT_PTR_NULL(p.repos[0].guard);
	/* A repository losing nothing never trips min_keep. */
	r = plan_add_repo(&p, "empty/app");
	(void)r;
	p.guards.min_keep = 10;
	CU_ASSERT_EQUAL(plan_check_guards(&p), 1);
	CU_ASSERT_PTR_NULL(p.repos[1].guard);
	plan_free(&p);
}

static void add_referrer(struct plan_repo *r, const char *tag, const char *subject,
			 enum rs_verdict v)
{
	add_tag(r, tag, D3, v);
	r->tags[r->tag_count - 1].subject = plan_strdup(r, subject);
}

/* Signature tags follow their image: they neither dilute max_delete_percent nor, kept for
 * an image that is gone, count as what min_keep asks to keep. */
static void test_guards_count_images(void)
{
	struct plan p = {0};
	struct plan_repo *r;

	p.guards = (struct plan_guards){.max_delete_percent = 90, .min_keep = 1};
	r = plan_add_repo(&p, "signed/app");
	add_tag(r, "old", D1, RS_DELETE);
	add_tag(r, "older", D2, RS_DELETE);
	add_referrer(r, "sha256-1.sig", D1, RS_DELETE);
	add_referrer(r, "sha256-2.sig", D2, RS_DELETE);
	add_referrer(r, "sha256-9.sig", "sha256:9", RS_KEEP);
	add_referrer(r, "sha256-8.sig", "sha256:8", RS_KEEP);
	add_referrer(r, "sha256-7.sig", "sha256:7", RS_KEEP);
	/* Counting every tag: 4 of 7 (57%) and 3 kept, both allowed. */
	CU_ASSERT_EQUAL(plan_check_guards(&p), 1);
	CU_ASSERT_STRING_EQUAL(p.repos[0].guard, "would delete 2 of 2 tags (100%), more than "
						 "max_delete_percent = 90");
	p.guards.max_delete_percent = 100;
	CU_ASSERT_EQUAL(plan_check_guards(&p), 1);
	CU_ASSERT_STRING_EQUAL(p.repos[0].guard, "would keep 0 tags, fewer than min_keep = 1");
	add_tag(r, "new", D3, RS_KEEP);
	CU_ASSERT_EQUAL(plan_check_guards(&p), 0);
	plan_free(&p);
}

void suite_plan(void)
{
	static const struct test_case cases[] = {
		{"shared digests", test_grouping},
		{"json round trip", test_json_round_trip},
		{"bad plan files", test_bad_plans},
		{"plan reader", test_plan_reader},
		{"guards", test_guards},
		{"guards count image tags", test_guards_count_images},
		{NULL, NULL},
	};
	tests_add_suite("plan", cases);
}
