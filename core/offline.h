/* offline.h - images described in a JSON file instead of scanned: what `regsweep decide`
 * runs a stack over, so a policy or a module can be tried without a registry. */
#ifndef RS_OFFLINE_H
#define RS_OFFLINE_H

#include <stdint.h>

#include "registry.h"
#include "util.h"

/* Reads an images file into *out as a scan would fill it (caller-owned: registry_scan_free,
 * also after a failure), and *now from its "now" (left alone when absent).  The file is one
 * of
 *   [ IMAGE, ... ]                                  (repository default_repo)
 *   { "repository": NAME, "now": TIME, "images": [ IMAGE, ... ] }
 *   { "now": TIME, "repositories": [ { "name": NAME, "images": [ ... ] }, ... ] }
 * where IMAGE is { "tags": [ "a", { "name": "b", "pushed": TIME } ], "digest": "sha256:...",
 * "created": TIME, "pushed": TIME, "labels": { "k": "v" } }: every member optional, times
 * RFC 3339, an image with no tags untagged.  Returns 0, or -1 with "file: what" in e. */
int offline_read(const char *path, const char *default_repo, struct reg_scan *out,
		 int64_t *now, struct rs_err *e);

#endif
