/* test_modules.c - the shipped policy modules, loaded through the real loader and called
 * with a repository view, as a run would. */
#include <stdlib.h>
#include <string.h>

#include "loader.h"
#include "stack.h"
#include "tests.h"

#define DAY 86400
#define NOW 1714558830 /* 2024-05-01T10:20:30Z */
#define UNKNOWN RS_CREATED_UNKNOWN

struct img {
	const char *tag;
	int64_t created;
};

/* Loads `policy = ( ENTRY );`, runs decide over imgs and writes one letter per image into
 * got: K(eep), D(elete) or P(ass).  Returns the first reason for reason checks. */
static void decide(const char *entry, const struct img *imgs, size_t n, char *got,
		   char *reason0)
{
	char *text = xasprintf("policy = ( %s );\n", entry);
	char *path = tests_write_file("module.stack", text);
	struct rs_image *view_imgs = xcalloc(n, sizeof(*view_imgs));
	struct rs_decision *out = xcalloc(n, sizeof(*out));
	struct rs_repo_view view = {.name = "team/app", .images = view_imgs, .count = n,
				    .now = NOW};
	struct stack s;
	struct rs_err e = {{0}};

	for (size_t i = 0; i < n; i++)
		view_imgs[i] = (struct rs_image){.tag = imgs[i].tag, .created = imgs[i].created,
						 .digest = "sha256:00", .size = -1};
	if (stack_load(path, &s, &e) || loader_load(&s, RS_MODULE_BUILD_DIR, &e)) {
		fprintf(stderr, "\n  %s\n", e.msg);
		CU_FAIL("module did not load");
		got[0] = '\0';
	} else {
		CU_ASSERT_EQUAL(s.policy[0].desc->decide(&s.policy[0].ctx, s.policy[0].state,
							 &view, out),
				RS_OK);
		for (size_t i = 0; i < n; i++)
			got[i] = "PKD"[out[i].verdict];
		got[n] = '\0';
		if (reason0)
			strcpy(reason0, out[0].reason);
	}
	loader_unload(&s);
	stack_free(&s);
	free(out);
	free(view_imgs);
	free(path);
	free(text);
}

#define DECIDE(entry, imgs, got) \
	decide(entry, imgs, sizeof(imgs) / sizeof(imgs[0]), got, NULL)

static void test_keep_last_created(void)
{
	/* List order is not age order; an unknown time ranks as the newest. */
	static const struct img imgs[] = {
		{"b3", NOW - 3 * DAY}, {"b1", NOW - 9 * DAY}, {"b5", NOW - 1 * DAY},
		{"b2", NOW - 5 * DAY}, {"b4", NOW - 2 * DAY}, {"x", UNKNOWN},
	};
	char got[16], reason[RS_REASON_MAX];

	DECIDE("{ module = \"keep_last\"; control = \"required\"; args = { count = 2; }; }", imgs,
	       got);
	CU_ASSERT_STRING_EQUAL(got, "DDKDDK");
	DECIDE("{ module = \"keep_last\"; control = \"required\"; args = { count = 3; order = "
	       "\"created\"; }; }",
	       imgs, got);
	CU_ASSERT_STRING_EQUAL(got, "DDKDKK");
	DECIDE("{ module = \"keep_last\"; control = \"required\"; args = { count = 0; }; }", imgs,
	       got);
	CU_ASSERT_STRING_EQUAL(got, "DDDDDD");
	decide("{ module = \"keep_last\"; control = \"required\"; args = { count = 2; }; }", imgs,
	       6, got, reason);
	CU_ASSERT_STRING_EQUAL(reason, "rank 4 of 6 by created; keeps 2");
}

static void test_keep_last_orders(void)
{
	static const struct img names[] = {
		{"build-9", 0}, {"build-10", 0}, {"build-2", 0}, {"build-100", 0},
	};
	static const struct img semver[] = {
		{"v1.2.3", 0}, {"v1.10.0", 0}, {"v1.10.0-rc.1", 0}, {"2.0.0", 0}, {"latest", 0},
		{"v1.10.0-rc.2", 0},
	};
	char got[16];

	DECIDE("{ module = \"keep_last\"; control = \"required\"; args = { count = 2; order = "
	       "\"name\"; }; }",
	       names, got);
	CU_ASSERT_STRING_EQUAL(got, "DKDK");
	DECIDE("{ module = \"keep_last\"; control = \"required\"; args = { count = 2; order = "
	       "\"lexical\"; }; }",
	       names, got);
	CU_ASSERT_STRING_EQUAL(got, "KDKD");
	DECIDE("{ module = \"keep_last\"; control = \"required\"; args = { count = 3; order = "
	       "\"semver\"; }; }",
	       semver, got);
	CU_ASSERT_STRING_EQUAL(got, "DKDKPK");
}

static void test_keep_last_match(void)
{
	static const struct img imgs[] = {
		{"b1", NOW - 9 * DAY}, {"stable", NOW - 20 * DAY}, {"b2", NOW - 5 * DAY},
		{"b3", NOW - 1 * DAY}, {"b33x", NOW - 30 * DAY},
	};
	char got[16];

	DECIDE("{ module = \"keep_last\"; control = \"required\"; args = { count = 1; match = [ "
	       "\"b[0-9]\" ]; }; }",
	       imgs, got);
	/* Anchored: "b33x" is not matched by b[0-9] and passes. */
	CU_ASSERT_STRING_EQUAL(got, "DPDKP");
}

static void test_age(void)
{
	static const struct img imgs[] = {
		{"old", NOW - 31 * DAY}, {"young", NOW - 29 * DAY}, {"unknown", UNKNOWN},
		{"edge", NOW - 30 * DAY},
	};
	char got[16], reason[RS_REASON_MAX];

	decide("{ module = \"age\"; control = \"required\"; args = { older_than = \"30d\"; }; }",
	       imgs, 4, got, reason);
	CU_ASSERT_STRING_EQUAL(got, "DKKK");
	CU_ASSERT_PTR_NOT_NULL(strstr(reason, "older than 30d"));
	DECIDE("{ module = \"age\"; control = \"required\"; args = { older_than = \"4w\"; }; }",
	       imgs, got);
	CU_ASSERT_STRING_EQUAL(got, "DDKD");
}

static void test_regex(void)
{
	static const struct img imgs[] = {
		{"latest", 0}, {"v1.2", 0}, {"v1.2-hotfix", 0}, {"pr-17", 0}, {"main", 0},
	};
	char got[16];

	DECIDE("{ module = \"regex\"; control = \"required\"; args = { keep = [ \"latest\", "
	       "\"v[0-9]+\\\\.[0-9]+\" ]; }; }",
	       imgs, got);
	CU_ASSERT_STRING_EQUAL(got, "KKPPP");
	DECIDE("{ module = \"regex\"; control = \"required\"; args = { delete = [ \"pr-.*\", "
	       "\"v.*\" ]; keep = \"v1\\\\.2\"; others = \"keep\"; }; }",
	       imgs, got);
	CU_ASSERT_STRING_EQUAL(got, "KKDDK");
	DECIDE("{ module = \"regex\"; control = \"required\"; args = { keep = \"main\"; others = "
	       "\"delete\"; }; }",
	       imgs, got);
	CU_ASSERT_STRING_EQUAL(got, "DDDDK");
}

void suite_modules(void)
{
	static const struct test_case cases[] = {
		{"keep_last by created", test_keep_last_created},
		{"keep_last orders", test_keep_last_orders},
		{"keep_last match", test_keep_last_match},
		{"age", test_age},
		{"regex", test_regex},
		{NULL, NULL},
	};
	tests_add_suite("modules", cases);
}
