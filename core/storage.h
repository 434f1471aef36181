/* storage.h - facts the v2 API does not give: when each tag was pushed, and the manifests
 * no tag reaches.  A push-time source is a table of calls so that another registry's API
 * (Harbor's push_time, GitLab's created_at) can stand behind it; today there is one,
 * distribution's filesystem layout under `registry.storage_root`. */
#ifndef RS_STORAGE_H
#define RS_STORAGE_H

#include <stdint.h>

#include "registry.h"
#include "util.h"

/* One manifest a repository holds, tagged or not. */
struct push_revision {
	char digest[72]; /* "sha256:<hex>" */
	int64_t pushed;  /* first push into the repository; RS_TIME_UNKNOWN */
};

struct push_source_ops {
	/* When repo:tag was last pushed; RS_TIME_UNKNOWN when the source cannot say. */
	int64_t (*tag_pushed)(void *impl, const char *repo, const char *tag);
	/* Every manifest repo holds, at most max: *out caller-owned.  0, or -1 with e set. */
	int (*revisions)(void *impl, const char *repo, size_t max, struct push_revision **out,
			 size_t *count, struct rs_err *e);
	void (*close)(void *impl);
};

struct push_source {
	const struct push_source_ops *ops;
	void *impl;
};

/* Opens distribution's filesystem layout under root (the directory holding docker/).
 * Returns 0, or -1 with e set ("where: storage_root ...: what"). */
int storage_open_fs(const char *root, const char *where, struct push_source *out,
		    struct rs_err *e);
void storage_close(struct push_source *src);

/* Fills every scanned tag's push time and, with untagged, each repository's untagged
 * manifests (reg_repo.untagged), reading the ones the scan did not hold through reg so
 * their children and subjects are known.  A repository whose manifests cannot all be
 * listed or read gets no untagged entries (a warning says why): nothing is deleted on a
 * partial picture. */
void storage_attach(struct push_source *src, struct registry *reg, struct reg_scan *scan,
		    int untagged);

/* Deletes each manifest as distribution's DELETE /v2/<repo>/manifests/<digest> does, but in
 * the storage under root, for a maintenance window in which the registry is stopped or
 * read-only: the revision link goes, and every tag whose current link names the digest
 * goes whole (distribution untags them the same way); blobs are left to the garbage
 * collector.  A manifest whose revision link is already gone counts as deleted, as a 404
 * does.  Fills each entry's ok and error (http_status stays 0); returns how many failed. */
size_t storage_delete(const char *root, struct reg_delete *dels, size_t count);

#endif
