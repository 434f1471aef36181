/* fuzz_stack.c - stack files (libconfig): stack_load, then what a run asks of the result. */
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "pattern.h"
#include "stack.h"

/* libconfig 1.5 (Debian 12) leaks the string tokens a syntax error leaves behind:
 * config_read_file then config_destroy on a file holding just "" leaks them.  That is
 * libconfig's leak, not the core's, so LeakSanitizer ignores what libconfig allocates (its
 * frames end the stack: it is built without frame pointers).  The unit tests, run under
 * ASan by scripts/test, still see a config_t the core forgets to destroy. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libconfig.so\n";
}

/* libconfig's @include reads any file the input names (/dev/zero, a FIFO): not the
 * parser's input, so such inputs are left out of the corpus. */
static int names_include(const uint8_t *data, size_t size)
{
	for (size_t i = 0; i + 8 <= size; i++)
		if (data[i] == '@' && strncasecmp((const char *)data + i + 1, "include", 7) == 0)
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const repos[] = {"library/app", "base/debian", "team/x/y", ""};
	struct rs_err e = {{0}};
	struct stack s;

	if (names_include(data, size))
		return -1;
	if (stack_load(fuzz_file(data, size), &s, &e) == 0) {
		for (size_t i = 0; i < sizeof(repos) / sizeof(repos[0]); i++) {
			const struct stack_policy *p = stack_policy_for(&s, repos[i]);

			if (s.include)
				pattern_match(s.include, repos[i]);
			if (s.exclude)
				pattern_match(s.exclude, repos[i]);

			for (size_t k = 0; p && k < p->count; k++)
				stack_entry_arg(&p->entries[k], "keep");
		}
	}
	pattern_failures_reset();
	stack_free(&s);
	fuzz_file_done();
	return 0;
}
