/* test_modules.c - the shipped modules, loaded through the real loader and called as a run
 * would: policy modules with a repository view, gc_distribution with a run summary. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
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

static int verifier_calls, verifier_fails;

/* Stands in for the core's re-scan of what the run kept. */
static int fake_verifier(void *arg, char *err, size_t errlen)
{
	(void)arg;
	verifier_calls++;
	if (!verifier_fails)
		return 0;
	snprintf(err, errlen, "team/app:v2: HEAD /v2/team/app/blobs/sha256:00: HTTP 404");
	return -1;
}

/* before, the collector and after append their names to $GC_ORDER and exit with these. */
#define GC_ARGS(b, c, a)                                                                  \
	"before = [\"sh\", \"-c\", \"echo before >>$GC_ORDER; exit " b "\"]; "                \
	"command = [\"sh\", \"-c\", \"echo gc >>$GC_ORDER; exit " c "\"]; "                   \
	"after = [\"sh\", \"-c\", \"echo after >>$GC_ORDER; exit " a "\"];"

static void test_gc_distribution(void)
{
	static const struct {
		const char *args;
		int verifier_fails;
		enum rs_status status;
		const char *err; /* found in the message; "" for none */
		const char *order;
		int verified;
	} cases[] = {
		{GC_ARGS("0", "0", "0"), 0, RS_OK, "", "before gc after ", 1},
		{GC_ARGS("3", "0", "0"), 0, RS_ERR_FAILED, "before command exited with status 3",
		 "before ", 0},
		{GC_ARGS("0", "5", "0"), 0, RS_ERR_FAILED, "garbage-collect exited with status 5",
		 "before gc after ", 0},
		{GC_ARGS("0", "0", "4"), 0, RS_ERR_FAILED, "after command exited with status 4",
		 "before gc after ", 0},
		{GC_ARGS("0", "0", "0"), 1, RS_ERR_FAILED,
		 "post-GC validation failed: team/app:v2: HEAD /v2/team/app/blobs/sha256:00: HTTP 404",
		 "before gc after ", 1},
		{GC_ARGS("0", "0", "0") " verify = false;", 1, RS_OK, "", "before gc after ", 0},
		{"command = [\"/nonexistent/gc\"];", 0, RS_ERR_IO,
		 "garbage-collect: cannot run /nonexistent/gc: No such file or directory", "", 0},
		{"command = [\"true\"]; before = [\"sh\", \"-c\", \"registry garbage-collect "
		 "--delete-untagged c.yml\"];",
		 0, RS_ERR_ARGS, "before must not use --delete-untagged", "", 0},
	};
	char *order = tests_write_file("gc-order", "");

	setenv("GC_ORDER", order, 1);
	host_set_verifier(fake_verifier, NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = xasprintf("policy = ( { module = \"keep_last\"; control = "
				       "\"required\"; args = { count = 1; }; } );\n"
				       "after = ( { module = \"gc_distribution\"; args = { %s }; } );\n",
				       cases[i].args);
		char *path = tests_write_file("gc.stack", text), err[512] = "";
		struct rs_run_summary sum = {.registry = "http://127.0.0.1:1",
					     .reclaimable_bytes = -1};
		struct buf got = {0};
		enum rs_status st = RS_ERR_ARGS;
		struct stack s;
		struct rs_err e = {{0}};

		free(tests_write_file("gc-order", ""));
		verifier_calls = 0;
		verifier_fails = cases[i].verifier_fails;
		if (stack_load(path, &s, &e) || loader_load(&s, RS_MODULE_BUILD_DIR, &e))
			snprintf(err, sizeof(err), "%s", e.msg);
		else
			st = s.after[0].desc->after(&s.after[0].ctx, s.after[0].state, &sum, err,
						    sizeof(err));
		CU_ASSERT_EQUAL(st, cases[i].status);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, cases[i].err));
		CU_ASSERT_EQUAL(verifier_calls, cases[i].verified);
		CU_ASSERT_EQUAL(buf_read_file(&got, order), 0);
		for (size_t k = 0; k < got.len; k++)
			got.data[k] = got.data[k] == '\n' ? ' ' : got.data[k];
		CU_ASSERT_STRING_EQUAL(got.data ? got.data : "", cases[i].order);
		buf_free(&got);
		loader_unload(&s);
		stack_free(&s);
		free(path);
		free(text);
	}
	host_set_verifier(NULL, NULL);
	unsetenv("GC_ORDER");
	free(order);
}

void suite_modules(void)
{
	static const struct test_case cases[] = {
		{"keep_last by created", test_keep_last_created},
		{"keep_last orders", test_keep_last_orders},
		{"keep_last match", test_keep_last_match},
		{"age", test_age},
		{"regex", test_regex},
		{"gc_distribution", test_gc_distribution},
		{NULL, NULL},
	};
	tests_add_suite("modules", cases);
}
