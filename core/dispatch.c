/* dispatch.c - the PAM stack walk (Linux-PAM's _pam_dispatch_aux, verdicts for returns). */
#include "dispatch.h"

#include "stack.h"

enum impression { UNDEF, POSITIVE, NEGATIVE };

void dispatch_walk(const int (*actions)[RS_VERDICT_MAX], const enum rs_verdict *verdicts,
		   size_t count, struct dispatch_result *out)
{
	enum impression imp = UNDEF;
	int by = -1;

	for (size_t i = 0; i < count; i++) {
		enum rs_verdict v = verdicts[i];
		int action;

		/* An out-of-range verdict is a module bug: treat it as PAM treats an
		 * out-of-range return, as a failure. */
		if ((unsigned)v >= RS_VERDICT_MAX) {
			action = STACK_BAD;
		} else {
			action = actions[i][v];
		}
		if (action > 0) {
			i += (size_t)action;
			continue;
		}
		switch (action) {
		case STACK_OK:
		case STACK_DONE:
			if (imp == UNDEF) {
				imp = POSITIVE;
				by = (int)i;
			}
			if (imp == POSITIVE && action == STACK_DONE)
				goto decided;
			break;
		case STACK_BAD:
		case STACK_DIE:
			if (imp != NEGATIVE) {
				imp = NEGATIVE;
				by = (int)i;
			}
			if (action == STACK_DIE)
				goto decided;
			break;
		default: /* STACK_IGNORE */
			break;
		}
	}
decided:
	out->verdict = imp == POSITIVE ? RS_DELETE : RS_KEEP;
	out->decided_by = by;
}
