/* dispatch.h - the PAM stack walk: each image's verdicts through the control actions, run
 * entry by entry so that a module is asked only about the images whose walk reaches it. */
#ifndef RS_DISPATCH_H
#define RS_DISPATCH_H

#include <stddef.h>

#include "regsweep/module.h"

struct dispatch_result {
	enum rs_verdict verdict; /* RS_DELETE only when the walk ended positive, else RS_KEEP */
	int decided_by;          /* index of the entry that set the outcome; -1 if none did */
};

/* Where one image's walk stands. */
struct dispatch_state {
	int impression; /* none, positive or negative so far */
	int decided_by;
	size_t next;  /* the entry it reaches next */
	int finished; /* done or die ended it */
};

void dispatch_begin(struct dispatch_state *w);

/* Entry i (w->next), with action table actions, gave verdict v: Linux-PAM's
 * _pam_dispatch_aux.  ok/done make a positive impression unless it is already negative,
 * done then stops; bad/die make it negative keeping the first failure, die then stops;
 * ignore does nothing; N > 0 skips the next N entries.  An out-of-range verdict is a module
 * bug and counts as bad, as PAM treats an out-of-range return. */
void dispatch_step(struct dispatch_state *w, const int actions[RS_VERDICT_MAX],
		   enum rs_verdict v);

/* The outcome: a walk that ends with no impression (every entry passed) keeps. */
void dispatch_end(const struct dispatch_state *w, struct dispatch_result *out);

/* Walk count entries with verdicts known in advance: entry i has actions[i] and gave
 * verdicts[i].  (The stack itself runs through dispatch_run.) */
void dispatch_walk(const int (*actions)[RS_VERDICT_MAX], const enum rs_verdict *verdicts,
		   size_t count, struct dispatch_result *out);

/* The verdict of an entry that does not see an image (an untagged manifest, for a module
 * that did not ask for them): the entry is skipped, as if it were not in the stack. */
#define DISPATCH_UNSEEN (-1)

struct dispatch_ops {
	/* Entry `entry` decides for images[0..n) (indexes into the caller's images, those
	 * whose walk reaches it) and writes verdicts[j] (an rs_verdict or DISPATCH_UNSEEN).
	 * Returns 0, or -1 to stop the whole run (the module failed). */
	int (*decide)(void *arg, size_t entry, const size_t *images, size_t n, int *verdicts);
	/* Optional: entry `entry` now sets image's outcome (for its reason). */
	void (*decided)(void *arg, size_t entry, size_t image);
};

/* Walks `images` images through `entries` entries, entry by entry: each entry is asked once,
 * about exactly the images still walking at it (jumps only go forward, so that set is known
 * once the entries before it have answered).  Fills out[images].  Returns 0, or -1 when
 * ops->decide failed. */
int dispatch_run(const int (*actions)[RS_VERDICT_MAX], size_t entries, size_t images,
		 const struct dispatch_ops *ops, void *arg, struct dispatch_result *out);

#endif
