/* state.h - regsweep's state directory ($XDG_STATE_HOME/regsweep, else
 * ~/.local/state/regsweep): default journals, and the lock that keeps two runs from working
 * on one registry at once. */
#ifndef RS_STATE_H
#define RS_STATE_H

#include "util.h"

/* The state directory, created (0700) when missing; caller-owned, or NULL with e set when
 * neither XDG_STATE_HOME nor HOME names an absolute directory or it cannot be made. */
char *state_dir(struct rs_err *e);

/* Takes the lock for registry url (a file in the state directory named after the URL's
 * hash, held with flock until the process ends or state_unlock).  Returns the lock's file
 * descriptor, or -1 with e set: when another process holds it, e names that process and
 * *busy is set. */
int state_lock(const char *url, int *busy, struct rs_err *e);
void state_unlock(int fd);

#endif
