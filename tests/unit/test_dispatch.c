/* test_dispatch.c - the PAM walk, table-driven over control words, bracket actions and
 * jumps, with actions built by the real control parser. */
#include <string.h>

#include "dispatch.h"
#include "stack.h"
#include "tests.h"

#define P RS_PASS
#define K RS_KEEP
#define D RS_DELETE

struct walk_case {
	const char *what;
	const char *controls[5];
	int verdicts[5];
	enum rs_verdict want;
	int want_by;
};

static const struct walk_case walks[] = {
	{"required delete, required delete", {"required", "required"}, {D, D}, D, 0},
	{"required delete, required keep", {"required", "required"}, {D, K}, K, 1},
	{"required keep then delete keeps first failure", {"required", "required"}, {K, D}, K, 0},
	{"requisite keep dies before sufficient", {"requisite", "sufficient"}, {K, D}, K, 0},
	{"sufficient delete is done", {"sufficient", "required"}, {D, K}, D, 0},
	{"sufficient after a failure does not rescue", {"required", "sufficient"}, {K, D}, K, 0},
	{"sufficient keep is ignored", {"sufficient", "required"}, {K, D}, D, 1},
	{"optional keep is ignored", {"optional", "required"}, {K, D}, D, 1},
	{"optional delete alone deletes", {"optional"}, {D}, D, 0},
	{"every module passes: keep", {"required", "optional", "sufficient"}, {P, P, P}, K, -1},
	{"requisite pass is ignored", {"requisite", "required"}, {P, D}, D, 1},
	{"requisite keep stops even after a delete", {"required", "requisite", "sufficient"},
	 {D, K, D}, K, 1},
	{"sufficient delete after a positive stops", {"required", "sufficient", "required"},
	 {D, D, K}, D, 0},
	{"bracket die", {"[delete=ok keep=die pass=ignore]", "sufficient"}, {K, D}, K, 0},
	{"bracket default bad on pass", {"[default=bad]", "required"}, {P, D}, K, 0},
	{"bracket done", {"[delete=done keep=ignore pass=ignore]", "required"}, {D, K}, D, 0},
	{"bracket jump skips one entry", {"[keep=1 delete=ok pass=ignore]", "required", "required"},
	 {K, K, D}, D, 2},
	{"bracket jump two", {"[pass=2]", "required", "requisite", "optional"}, {P, K, K, D}, D, 3},
	{"jump not taken for other verdicts", {"[pass=1 delete=ok]", "required"}, {D, K}, K, 1},
	{"bracket unnamed verdicts default to ignore", {"[delete=ok]", "required"}, {K, D}, D, 1},
	{"out-of-range verdict is a failure", {"required", "required"}, {D, 7}, K, 1},
};

static void test_walks(void)
{
	for (size_t c = 0; c < sizeof(walks) / sizeof(walks[0]); c++) {
		const struct walk_case *w = &walks[c];
		int actions[5][RS_VERDICT_MAX];
		enum rs_verdict verdicts[5];
		struct dispatch_result res;
		size_t n = 0;
		char err[256];

		for (; n < 5 && w->controls[n]; n++) {
			CU_ASSERT_EQUAL_FATAL(stack_parse_control(w->controls[n], actions[n], err,
								  sizeof(err)),
					      0);
			verdicts[n] = (enum rs_verdict)w->verdicts[n];
		}
		dispatch_walk((const int(*)[RS_VERDICT_MAX])actions, verdicts, n, &res);
		if (res.verdict != w->want || res.decided_by != w->want_by)
			fprintf(stderr, "\n  walk \"%s\": got %d by %d\n", w->what, res.verdict,
				res.decided_by);
		CU_ASSERT_EQUAL(res.verdict, w->want);
		CU_ASSERT_EQUAL(res.decided_by, w->want_by);
	}
}

static void test_empty_stack_keeps(void)
{
	struct dispatch_result res;

	dispatch_walk(NULL, NULL, 0, &res);
	CU_ASSERT_EQUAL(res.verdict, RS_KEEP);
	CU_ASSERT_EQUAL(res.decided_by, -1);
}

static void test_control_words(void)
{
	static const struct {
		const char *word;
		int pass, keep, del;
	} words[] = {
		{"required", STACK_IGNORE, STACK_BAD, STACK_OK},
		{"requisite", STACK_IGNORE, STACK_DIE, STACK_OK},
		{"sufficient", STACK_IGNORE, STACK_IGNORE, STACK_DONE},
		{"optional", STACK_IGNORE, STACK_IGNORE, STACK_OK},
		{"[delete=ok keep=die pass=ignore]", STACK_IGNORE, STACK_DIE, STACK_OK},
		{"[delete=3 keep=bad pass=done]", STACK_DONE, STACK_BAD, 3},
		{"[default=die delete=ok]", STACK_DIE, STACK_DIE, STACK_OK},
	};
	char err[256];

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		int a[RS_VERDICT_MAX];

		CU_ASSERT_EQUAL_FATAL(stack_parse_control(words[i].word, a, err, sizeof(err)), 0);
		CU_ASSERT_EQUAL(a[RS_PASS], words[i].pass);
		CU_ASSERT_EQUAL(a[RS_KEEP], words[i].keep);
		CU_ASSERT_EQUAL(a[RS_DELETE], words[i].del);
	}
}

static void test_control_errors(void)
{
	static const struct {
		const char *word, *msg;
	} bad[] = {
		{"mandatory", "unknown control \"mandatory\""},
		{"[delete=ok", "missing closing ']'"},
		{"[delete=maybe]", "unknown action \"maybe\""},
		{"[frob=ok]", "unknown verdict \"frob\""},
		{"[delete]", "\"delete\" is not verdict=action"},
		{"[delete=0]", "unknown action \"0\""},
		{"[delete=-1]", "unknown action \"-1\""},
	};
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int a[RS_VERDICT_MAX];

		err[0] = '\0';
		CU_ASSERT_EQUAL(stack_parse_control(bad[i].word, a, err, sizeof(err)), -1);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, bad[i].msg));
	}
}

/* A stack run entry by entry over 6 images.  An entry is either a fixed verdict per image
 * (a regex, say) or RANK n: a ranking module that keeps the first n of the images it is
 * shown and deletes the rest, so what it decides depends on who reaches it.  Image 5 is
 * untagged: only an entry marked SEES_UNTAGGED is shown it. */
#define IMAGES 6
#define RANK(n) (100 + (n))
#define SEES_UNTAGGED 1000

struct run_case {
	const char *what;
	const char *controls[4];
	int entries[4][IMAGES]; /* verdicts; or entries[i][0] = RANK(n) */
	const char *want;       /* K or D per image */
	const char *shown;      /* per entry, the images it was asked about, as digits */
};

static const struct run_case runs[] = {
	{"requisite keep ends the walk: ranking counts only the rest",
	 {"requisite", "required"},
	 {{K, K, P, P, P, P}, {RANK(2)}},
	 "KKKKDK",
	 "01234|234"},
	{"sufficient delete is done: ranking never sees it",
	 {"sufficient", "required"},
	 {{D, P, P, P, P, P}, {RANK(2)}},
	 "DKKDDK",
	 "01234|1234"},
	{"optional keep does not end the walk",
	 {"optional", "required"},
	 {{K, K, P, P, P, P}, {RANK(2)}},
	 "KKDDDK",
	 "01234|01234"},
	{"required keep does not end the walk either",
	 {"required", "required"},
	 {{K, P, P, P, P, P}, {RANK(3)}},
	 "KKKDDK",
	 "01234|01234"},
	{"a jump skips the ranking for the images that take it",
	 {"[keep=1 delete=ok pass=ignore]", "required", "required"},
	 {{K, K, P, P, P, P}, {RANK(1)}, {D, D, D, D, D, D}},
	 "DDKDDK",
	 "01234|234|01234"},
	{"two rankings: the second sees what the first let through",
	 {"requisite", "requisite", "required"},
	 {{K, P, P, P, P, P}, {RANK(2)}, {RANK(1)}},
	 "KKKKDK",
	 "01234|1234|34"},
	{"untagged images reach only the entries that see them",
	 {"required", "sufficient"},
	 {{RANK(1)}, {SEES_UNTAGGED, D, D, D, D, D}},
	 "KDDDDD",
	 "01234|012345"},
};

struct run_state {
	const struct run_case *c;
	char shown[64];
};

static int run_decide(void *arg, size_t entry, const size_t *images, size_t n, int *verdicts)
{
	struct run_state *st = arg;
	const int *e = st->c->entries[entry];
	size_t kept = 0, len = strlen(st->shown);

	if (entry)
		st->shown[len++] = '|';
	for (size_t j = 0; j < n; j++) {
		size_t k = images[j];

		if (k == IMAGES - 1 && e[0] != SEES_UNTAGGED) {
			verdicts[j] = DISPATCH_UNSEEN;
			continue;
		}
		st->shown[len++] = (char)('0' + k);
		if (e[0] >= RANK(0) && e[0] < SEES_UNTAGGED)
			verdicts[j] = kept++ < (size_t)(e[0] - RANK(0)) ? K : D;
		else
			verdicts[j] = e[0] == SEES_UNTAGGED && k == 0 ? P : e[k];
	}
	st->shown[len] = '\0';
	return 0;
}

static void test_runs(void)
{
	static const struct dispatch_ops ops = {run_decide, NULL};

	for (size_t c = 0; c < sizeof(runs) / sizeof(runs[0]); c++) {
		const struct run_case *r = &runs[c];
		int actions[4][RS_VERDICT_MAX];
		struct dispatch_result res[IMAGES];
		struct run_state st = {r, ""};
		char got[IMAGES + 1] = "", err[256];
		size_t n = 0;

		for (; n < 4 && r->controls[n]; n++)
			CU_ASSERT_EQUAL_FATAL(stack_parse_control(r->controls[n], actions[n], err,
								  sizeof(err)),
					      0);
		CU_ASSERT_EQUAL(dispatch_run((const int(*)[RS_VERDICT_MAX])actions, n, IMAGES, &ops,
					     &st, res),
				0);
		for (size_t k = 0; k < IMAGES; k++)
			got[k] = res[k].verdict == RS_DELETE ? 'D' : 'K';
		if (strcmp(got, r->want) || strcmp(st.shown, r->shown))
			fprintf(stderr, "\n  run \"%s\": got %s, shown %s\n", r->what, got, st.shown);
		CU_ASSERT_STRING_EQUAL(got, r->want);
		CU_ASSERT_STRING_EQUAL(st.shown, r->shown);
	}
}

void suite_dispatch(void)
{
	static const struct test_case cases[] = {
		{"walks", test_walks},
		{"empty stack keeps", test_empty_stack_keeps},
		{"stack runs entry by entry", test_runs},
		{"control words", test_control_words},
		{"control errors", test_control_errors},
		{NULL, NULL},
	};
	tests_add_suite("dispatch", cases);
}
