/* dispatch.c - the PAM stack walk (Linux-PAM's _pam_dispatch_aux, verdicts for returns). */
#include "dispatch.h"

#include <stdlib.h>

#include "stack.h"
#include "util.h"

enum impression { UNDEF, POSITIVE, NEGATIVE };

void dispatch_begin(struct dispatch_state *w)
{
	*w = (struct dispatch_state){.impression = UNDEF, .decided_by = -1};
}

void dispatch_step(struct dispatch_state *w, const int actions[RS_VERDICT_MAX],
		   enum rs_verdict v)
{
	size_t i = w->next;
	int action = (unsigned)v >= RS_VERDICT_MAX ? STACK_BAD : actions[v];

	w->next = i + 1;
	if (action > 0) {
		w->next += (size_t)action;
		return;
	}
	switch (action) {
	case STACK_OK:
	case STACK_DONE:
		if (w->impression == UNDEF) {
			w->impression = POSITIVE;
			w->decided_by = (int)i;
		}
		if (w->impression == POSITIVE && action == STACK_DONE)
			w->finished = 1;
		break;
	case STACK_BAD:
	case STACK_DIE:
		if (w->impression != NEGATIVE) {
			w->impression = NEGATIVE;
			w->decided_by = (int)i;
		}
		if (action == STACK_DIE)
			w->finished = 1;
		break;
	default: /* STACK_IGNORE */
		break;
	}
}

void dispatch_end(const struct dispatch_state *w, struct dispatch_result *out)
{
	out->verdict = w->impression == POSITIVE ? RS_DELETE : RS_KEEP;
	out->decided_by = w->decided_by;
}

void dispatch_walk(const int (*actions)[RS_VERDICT_MAX], const enum rs_verdict *verdicts,
		   size_t count, struct dispatch_result *out)
{
	struct dispatch_state w;

	dispatch_begin(&w);
	while (!w.finished && w.next < count)
		dispatch_step(&w, actions[w.next], verdicts[w.next]);
	dispatch_end(&w, out);
}

int dispatch_run(const int (*actions)[RS_VERDICT_MAX], size_t entries, size_t images,
		 const struct dispatch_ops *ops, void *arg, struct dispatch_result *out)
{
	struct dispatch_state *w = xcalloc(images + 1, sizeof(*w));
	size_t *reach = xcalloc(images + 1, sizeof(*reach));
	int *verdicts = xcalloc(images + 1, sizeof(*verdicts)), rc = 0;

	for (size_t k = 0; k < images; k++)
		dispatch_begin(&w[k]);
	for (size_t i = 0; i < entries && rc == 0; i++) {
		size_t n = 0;

		for (size_t k = 0; k < images; k++)
			if (!w[k].finished && w[k].next == i)
				reach[n++] = k;
		if (ops->decide(arg, i, reach, n, verdicts)) {
			rc = -1;
			break;
		}
		for (size_t j = 0; j < n; j++) {
			struct dispatch_state *s = &w[reach[j]];
			int before = s->decided_by;

			if (verdicts[j] == DISPATCH_UNSEEN) {
				s->next = i + 1;
				continue;
			}
			dispatch_step(s, actions[i], (enum rs_verdict)verdicts[j]);
			if (s->decided_by != before && ops->decided)
				ops->decided(arg, i, reach[j]);
		}
	}
	for (size_t k = 0; k < images; k++)
		dispatch_end(&w[k], &out[k]);
	free(verdicts);
	free(reach);
	free(w);
	return rc;
}
