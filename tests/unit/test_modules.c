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

/* One image: its tags (space-separated; "" for an untagged manifest), created and pushed
 * (0: unknown). */
struct img {
	const char *tags;
	int64_t created;
	int64_t pushed;
};

#define MAX_TAGS 4

/* Loads `policy = ( ENTRY );`, runs decide over imgs and writes one letter per image into
 * got: K(eep), D(elete) or P(ass).  Copies the first image's reason into reason0. */
static void decide(const char *entry, const struct img *imgs, size_t n, char *got,
		   char *reason0)
{
	char *text = xasprintf("policy = ( %s );\n", entry);
	char *path = tests_write_file("module.stack", text);
	struct rs_image *view_imgs = xcalloc(n, sizeof(*view_imgs));
	const struct rs_image **ptrs = xcalloc(n, sizeof(*ptrs));
	struct rs_tag *tags = xcalloc(n * MAX_TAGS, sizeof(*tags));
	const struct rs_tag **tagp = xcalloc(n * MAX_TAGS, sizeof(*tagp));
	char **names = xcalloc(n, sizeof(char *));
	struct rs_decision *out = xcalloc(n, sizeof(*out));
	struct rs_decision **outp = xcalloc(n, sizeof(*outp));
	struct rs_repo_view view = {.name = "team/app", .images = ptrs, .count = n, .now = NOW};
	struct stack s;
	struct rs_err e = {{0}};

	for (size_t i = 0; i < n; i++) {
		const struct img *im = &imgs[i];
		size_t t = 0;
		char *save = NULL;

		names[i] = xstrdup(im->tags);
		for (char *tok = strtok_r(names[i], " ", &save); tok && t < MAX_TAGS;
		     tok = strtok_r(NULL, " ", &save), t++) {
			tags[i * MAX_TAGS + t] =
			    (struct rs_tag){tok, im->pushed ? im->pushed : RS_TIME_UNKNOWN};
			tagp[i * MAX_TAGS + t] = &tags[i * MAX_TAGS + t];
		}
		view_imgs[i] = (struct rs_image){
		    .tags = &tagp[i * MAX_TAGS],
		    .tag_count = t,
		    .created = im->created ? im->created : UNKNOWN,
		    .pushed = im->pushed ? im->pushed : UNKNOWN,
		    .digest = "sha256:00",
		    .size = -1};
		ptrs[i] = &view_imgs[i];
		outp[i] = &out[i];
	}
	if (stack_load(path, &s, &e) || loader_load(&s, RS_MODULE_BUILD_DIR, &e)) {
		fprintf(stderr, "\n  %s\n", e.msg);
		CU_FAIL("module did not load");
		got[0] = '\0';
	} else {
		struct stack_entry *en = &s.policies[0].entries[0];

		CU_ASSERT_EQUAL(en->desc->decide(&en->ctx, en->state, &view, outp), RS_OK);
		for (size_t i = 0; i < n; i++)
			got[i] = "PKD"[out[i].verdict];
		got[n] = '\0';
		if (reason0)
			strcpy(reason0, out[0].reason);
	}
	loader_unload(&s);
	stack_free(&s);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(outp);
	free(out);
	free(tagp);
	free(tags);
	free(ptrs);
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
		{"b3", NOW - 3 * DAY, 0}, {"b1", NOW - 9 * DAY, 0}, {"b5", NOW - 1 * DAY, 0},
		{"b2", NOW - 5 * DAY, 0}, {"b4", NOW - 2 * DAY, 0}, {"x", UNKNOWN, 0},
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
	CU_ASSERT_STRING_EQUAL(reason, "b3 rank 4 of 6 images by created; keeps 2");
}

/* An image with several tags is one place; unit = "tags" gives each tag a place. */
static void test_keep_last_images(void)
{
	static const struct img imgs[] = {
		{"build-7", NOW - 3 * DAY, 0}, {"latest build-9", NOW - 1 * DAY, 0},
		{"build-8", NOW - 2 * DAY, 0},
	};
	char got[16], reason[RS_REASON_MAX];

	DECIDE("{ module = \"keep_last\"; control = \"required\"; args = { count = 2; }; }", imgs,
	       got);
	CU_ASSERT_STRING_EQUAL(got, "DKK");
	DECIDE("{ module = \"keep_last\"; control = \"required\"; args = { count = 2; unit = "
	       "\"tags\"; }; }",
	       imgs, got);
	CU_ASSERT_STRING_EQUAL(got, "DKD");
	/* Under name an image ranks by its best tag: build-9, not latest. */
	decide("{ module = \"keep_last\"; control = \"required\"; args = { count = 1; order = "
	       "\"name\"; match = \"build-.*\"; }; }",
	       imgs, 3, got, reason);
	CU_ASSERT_STRING_EQUAL(got, "DKD");
	CU_ASSERT_STRING_EQUAL(reason, "build-7 rank 3 of 3 images by name; keeps 1");
	/* A deleted rank with a tag outside match passes: that tag is not the module's. */
	DECIDE("{ module = \"keep_last\"; control = \"required\"; args = { count = 0; match = "
	       "\"build-.*\"; }; }",
	       imgs, got);
	CU_ASSERT_STRING_EQUAL(got, "DPD");
}

/* order = "pushed" ranks by push time, whatever created says. */
static void test_keep_last_pushed(void)
{
	static const struct img imgs[] = {
		{"a", NOW - 1 * DAY, NOW - 9 * DAY}, {"b", NOW - 9 * DAY, NOW - 1 * DAY},
		{"c", NOW - 5 * DAY, NOW - 5 * DAY}, {"d", NOW - 2 * DAY, 0},
	};
	char got[16];

	DECIDE("{ module = \"keep_last\"; control = \"required\"; args = { count = 2; order = "
	       "\"pushed\"; }; }",
	       imgs, got);
	CU_ASSERT_STRING_EQUAL(got, "DKDK"); /* unknown push time ranks newest */
	DECIDE("{ module = \"keep_last\"; control = \"required\"; args = { count = 2; }; }", imgs,
	       got);
	CU_ASSERT_STRING_EQUAL(got, "KDDK");
}

static void test_keep_last_orders(void)
{
	static const struct img names[] = {
		{"build-9", 0, 0}, {"build-10", 0, 0}, {"build-2", 0, 0}, {"build-100", 0, 0},
	};
	static const struct img semver[] = {
		{"v1.2.3", 0, 0}, {"v1.10.0", 0, 0}, {"v1.10.0-rc.1", 0, 0}, {"2.0.0", 0, 0}, {"latest", 0, 0},
		{"v1.10.0-rc.2", 0, 0},
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
		{"b1", NOW - 9 * DAY, 0}, {"stable", NOW - 20 * DAY, 0}, {"b2", NOW - 5 * DAY, 0},
		{"b3", NOW - 1 * DAY, 0}, {"b33x", NOW - 30 * DAY, 0},
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
		{"old", NOW - 31 * DAY, NOW}, {"young", NOW - 29 * DAY, NOW - 40 * DAY},
		{"unknown", 0, NOW - 40 * DAY}, {"edge", NOW - 30 * DAY, 0},
	};
	char got[16], reason[RS_REASON_MAX];

	decide("{ module = \"age\"; control = \"required\"; args = { older_than = \"30d\"; }; }",
	       imgs, 4, got, reason);
	CU_ASSERT_STRING_EQUAL(got, "DKKK");
	CU_ASSERT_STRING_EQUAL(reason, "created 2024-03-31T10:20:30Z, older than 30d");
	DECIDE("{ module = \"age\"; control = \"required\"; args = { older_than = \"4w\"; }; }",
	       imgs, got);
	CU_ASSERT_STRING_EQUAL(got, "DDKD");
	decide("{ module = \"age\"; control = \"required\"; args = { older_than = \"1d12h\"; by = "
	       "\"pushed\"; }; }",
	       imgs, 4, got, reason);
	CU_ASSERT_STRING_EQUAL(got, "KDDK");
	CU_ASSERT_STRING_EQUAL(reason, "pushed 2024-05-01T10:20:30Z, within 1d12h");
	DECIDE("{ module = \"age\"; control = \"required\"; args = { older_than = \"0s\"; }; }",
	       imgs, got);
	CU_ASSERT_STRING_EQUAL(got, "DDKD");
}

/* Untagged manifests by push time after a grace period; tagged images pass. */
static void test_untagged(void)
{
	static const struct img imgs[] = {
		{"", 0, NOW - 2 * 3600}, {"", 0, NOW - 1800}, {"v1", 0, NOW - 9 * DAY}, {"", 0, 0},
	};
	char got[16], reason[RS_REASON_MAX];

	decide("{ module = \"untagged\"; control = \"required\"; }", imgs, 4, got, reason);
	CU_ASSERT_STRING_EQUAL(got, "DKPK");
	CU_ASSERT_STRING_EQUAL(reason, "pushed 2024-05-01T08:20:30Z, older than 1h");
	DECIDE("{ module = \"untagged\"; control = \"required\"; args = { older_than = \"3h\"; }; "
	       "}",
	       imgs, got);
	CU_ASSERT_STRING_EQUAL(got, "KKPK");
}

static void test_regex(void)
{
	static const struct img imgs[] = {
		{"latest", 0, 0}, {"v1.2", 0, 0}, {"v1.2-hotfix", 0, 0}, {"pr-17", 0, 0},
		{"main", 0, 0},   {"pr-18 v1.2-rc", 0, 0}, {"pr-19 pr-20", 0, 0},
	};
	char got[16];

	DECIDE("{ module = \"regex\"; control = \"required\"; args = { keep = [ \"latest\", "
	       "\"v[0-9]+\\\\.[0-9]+\" ]; }; }",
	       imgs, got);
	CU_ASSERT_STRING_EQUAL(got, "KKPPPPP");
	DECIDE("{ module = \"regex\"; control = \"required\"; args = { delete = [ \"pr-.*\", "
	       "\"v.*\" ]; keep = \"v1\\\\.2\"; others = \"keep\"; }; }",
	       imgs, got);
	CU_ASSERT_STRING_EQUAL(got, "KKDDKDD");
	DECIDE("{ module = \"regex\"; control = \"required\"; args = { keep = \"main\"; others = "
	       "\"delete\"; }; }",
	       imgs, got);
	CU_ASSERT_STRING_EQUAL(got, "DDDDKDD");
	/* An image is deleted only when every tag is: a passing tag makes it pass. */
	DECIDE("{ module = \"regex\"; control = \"required\"; args = { delete = \"pr-.*\"; }; }",
	       imgs, got);
	CU_ASSERT_STRING_EQUAL(got, "PPPDPPD");
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
		/* The shorthand inside a shell script: the words of "sh -c" are read too. */
		{"command = [\"sh\", \"-c\", \"exec docker-registry garbage-collect -m c.yml\"];", 0,
		 RS_ERR_ARGS, "command must not use --delete-untagged", "", 0},
		{"command = [\"sh\", \"-c\", \"registry garbage-collect c.yml;echo done -m\"];", 0,
		 RS_ERR_ARGS, "command must not use --delete-untagged", "", 0},
		{"command = [\"sh\", \"-c\", \"echo gc >>$GC_ORDER; : -m\"];", 0, RS_OK, "",
		 "gc ", 1},
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
		{"keep_last counts images", test_keep_last_images},
		{"keep_last by push time", test_keep_last_pushed},
		{"untagged", test_untagged},
		{"age", test_age},
		{"regex", test_regex},
		{"gc_distribution", test_gc_distribution},
		{NULL, NULL},
	};
	tests_add_suite("modules", cases);
}
