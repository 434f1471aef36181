/* registry.h - the registry v2 API client: catalog, tag lists, manifests, config blobs and
 * manifest deletion, all issued through the concurrent executor in http.c. */
#ifndef RS_REGISTRY_H
#define RS_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "netopts.h"
#include "regsweep/module.h"
#include "util.h"

struct registry_opts {
	const char *url; /* base URL, "http://127.0.0.1:5000"; no trailing slash needed */
	int concurrency; /* requests in flight at once, >= 1 */
	/* TLS, credentials, timeouts, retries, pacing; read by registry_open only; NULL:
	 * netopts_init's defaults */
	const struct net_opts *net;
	unsigned want; /* AUTH_WANT_* bits: token scopes ask for delete or push too */
};

/* One tag as scanned.  Every string lives in the scan's pool (registry_scan_free). */
struct reg_image {
	char *tag;
	char *digest;     /* NULL when not fetched or on error */
	char *media_type; /* NULL when not fetched or on error */
	int64_t created;  /* RS_CREATED_UNKNOWN when not fetched or absent */
	int64_t size;     /* -1 when not fetched */
	struct rs_label *labels; /* in the scan's pool, shared by the tags of one config */
	size_t label_count;
	int64_t pushed; /* from a push-time source (storage.h); RS_TIME_UNKNOWN otherwise */
	/* The registry listed a name outside the tag grammar (a control character, "../"):
	 * the image it names is never deleted, nor any tag on it. */
	int invalid_name;
};

/* A manifest no tag reaches, listed by a push-time source (storage.h). */
struct reg_untagged {
	char *digest; /* in the scan's pool */
	int64_t pushed;
};

/* A blob a manifest references: its config, then its layers. */
struct reg_blob {
	char *digest;
	int64_t size; /* from the descriptor; -1 when absent */
};

/* One node of a repository's image graph: a manifest some tag names, or a child of an index
 * that is in the graph.  Filled only when the scan asks for REG_NEED_GRAPH.  Its strings and
 * arrays live in a pool: the scan's, or the one given to registry_manifest_from_body; its
 * body in the scan's bodies pool (which a plan may have adopted) or the one given. */
struct reg_manifest {
	char *digest;
	char *media_type; /* the body's mediaType, else the Content-Type; NULL when neither */
	char *body;       /* the exact bytes served (NUL-terminated), for the journal and undo;
			   * NULL when the scan did not ask for REG_NEED_BODIES */
	size_t body_len;
	char **children; /* index / manifest list: the child manifests' digests, in order */
	size_t child_count;
	struct reg_blob *blobs; /* image manifest: config first, then layers; none unless
				 * the scan asked for REG_NEED_LAYERS or REG_NEED_BLOBS */
	size_t blob_count;
	char *subject; /* OCI 1.1 "subject" digest: this manifest refers to another; NULL */
};

struct reg_repo {
	char *name; /* in the scan's pool */
	struct reg_image *images; /* in tags/list order; malloc()ed, freed with the scan */
	size_t count;
	struct reg_manifest *manifests; /* REG_NEED_GRAPH: sorted by digest, each once;
					 * malloc()ed, freed with the scan */
	size_t manifest_count;
	char *error; /* non-NULL: some fact of this repository could not be fetched; the plan
		      * must leave the repository untouched.  malloc()ed, freed with the scan */
	struct reg_untagged *untagged; /* storage_attach: manifests no tag, no index reached
					* from a tag and no other untagged index lists, and
					* that refer to no subject; malloc()ed, freed with the
					* scan */
	size_t untagged_count;
};

/* Scan needs beyond the SDK's RS_NEED_* bits, for the core alone. */
#define REG_NEED_GRAPH (1u << 16) /* GET every tag's manifest and every index child, keep
				   * their children and subject */
#define REG_NEED_BLOBS (1u << 17) /* with GRAPH: HEAD every blob; one that does not answer
				   * 200 is a repository error (post-GC validation) */
#define REG_NEED_BODIES (1u << 18) /* with GRAPH: keep every manifest's exact bytes (what
				    * a journal records); without it body is NULL and only
				    * body_len is kept */
#define REG_NEED_LAYERS (1u << 19) /* with GRAPH: keep each image manifest's blobs (config,
				    * layers), which the reclaimable estimate and the report
				    * count; BLOBS implies it.  Without it blob_count is 0 */
#define REG_GRAPH_REFS (1u << 20) /* with GRAPH, and neither BODIES nor LAYERS: keep only
				   * the manifests that list children or name a subject, all
				   * that apply's re-read asks of the graph */

struct reg_scan {
	struct reg_repo *repos;
	size_t count;
	size_t requests;   /* HTTP requests sent */
	struct pool *pool; /* the strings, labels and graph nodes of repos */
	/* The manifests' bytes (REG_NEED_BODIES), apart: a plan that borrows them takes this
	 * pool over (pool_adopt, then NULL here) and lets the rest of the scan go. */
	struct pool *bodies;
};

/* One DELETE /v2/<repo>/manifests/<digest>; repo and digest borrowed from the caller, the
 * rest written by registry_delete. */
struct reg_delete {
	const char *repo;
	const char *digest;
	long http_status; /* 0 when no response */
	int ok;           /* 1 when the manifest is gone (2xx, or 404: already gone, error "") */
	char error[256];  /* one line when !ok */
};

struct registry;

/* Returns a client owned by the caller (free with registry_close), or NULL with e set: also
 * for a URL with credentials in it, or credentials auth_new refuses. */
struct registry *registry_open(const struct registry_opts *opts, struct rs_err *e);
void registry_close(struct registry *r);

/* GET /v2/ to check that the registry answers as a v2 registry.  0 or -1 with e set
 * ("cannot reach http://127.0.0.1:1/v2/: Couldn't connect to server", "http://...:5000/v2/:
 * registry refused the credentials of user ci (HTTP 401)", "http://...:5000/v2/ needs
 * credentials: set registry.auth or registry.docker_config"). */
int registry_ping(struct registry *r, struct rs_err *e);

/* Every repository name, following Link pagination.  *names is a caller-owned array of
 * caller-owned strings.  0 or -1 with e set. */
int registry_catalog(struct registry *r, char ***names, size_t *count, struct rs_err *e);

/* Scan the given repositories concurrently: tags/list (paginated) and, per `needs`
 * (RS_NEED_* bits), the manifest (HEAD for the digest only, GET when more is needed or the
 * HEAD names no Docker-Content-Digest, with all four manifest media types in Accept), the
 * config blob once per distinct digest for created/labels, and for an index / manifest list
 * its children (created = newest child's).  A fetched body's own digest is what counts: it
 * must match Docker-Content-Digest and, fetched by digest, that digest.
 * Per-repository failures go to reg_repo.error; returns -1 with e set only when nothing
 * could be scanned (out is then empty).  out is owned by the caller, freed with
 * registry_scan_free, also after a failure. */
int registry_scan(struct registry *r, char *const *repos, size_t count, unsigned needs,
		  struct reg_scan *out, struct rs_err *e);
void registry_scan_free(struct reg_scan *scan);

/* Frees every repository's images (count 0): once a plan holds the tags, what follows
 * needs only the graph.  Their strings stay in the scan's pool. */
void registry_scan_drop_images(struct reg_scan *scan);

/* Send every DELETE concurrently and fill in each entry's result.  Returns the number of
 * entries that failed; after http_interrupt, those never sent say "interrupted". */
size_t registry_delete(struct registry *r, struct reg_delete *dels, size_t count);

/* Adds n graph nodes (their strings in scan->pool) to repo's, keeping the order
 * registry_manifest needs; a digest already there is not added twice. */
void registry_adopt_manifests(struct reg_repo *repo, const struct reg_manifest *m, size_t n);

/* repo's graph node for digest, or NULL. */
const struct reg_manifest *registry_manifest(const struct reg_repo *repo, const char *digest);

/* Fills m (zeroed by the caller) from a manifest's bytes as a scan would, with its strings
 * and arrays in pool and a copy of the bytes in bodies (NULL: only their length is kept):
 * media_type is used when the body names none.  0, or -1 when the body is not a JSON
 * object or a descriptor has no valid digest. */
int registry_manifest_from_body(struct pool *pool, struct pool *bodies, struct reg_manifest *m,
				const char *digest, const char *body, size_t len,
				const char *media_type);

/* One GET /v2/<repo>/referrers/<digest> (OCI 1.1 referrers API); repo and digest borrowed
 * from the caller. */
struct reg_referrers {
	const char *repo;
	const char *digest;
	long http_status; /* 0 when no response; 404 from a registry without the API */
	struct reg_blob *found; /* caller-owned (registry_referrers_free): the referrers'
				 * digests and descriptor sizes; NULL unless 200 */
	char **media_types;     /* found's media types, NULL when not given */
	size_t count;
	char error[256]; /* one line unless 200 with a valid index */
};

/* Ask for every entry's referrers concurrently (one http_run).  Returns how many entries
 * did not get a valid answer. */
size_t registry_referrers(struct registry *r, struct reg_referrers *qs, size_t count);
void registry_referrers_free(struct reg_referrers *q);

/* One GET /v2/<repo>/manifests/<digest>; repo and digest borrowed from the caller. */
struct reg_get {
	const char *repo;
	const char *digest;
	long http_status; /* 0 when no response */
	char *body; /* caller-owned; non-NULL only on 200 with a body of exactly that digest */
	size_t body_len;
	char error[256]; /* one line when body is NULL */
};

/* Fetch every manifest concurrently (one http_run) and fill in each entry's result. */
void registry_get_manifests(struct registry *r, struct reg_get *gets, size_t count);

/* One PUT /v2/<repo>/manifests/<ref>; everything but the results borrowed from the caller. */
struct reg_put {
	const char *repo;
	const char *ref; /* a tag, or the body's digest */
	const char *media_type; /* sent as Content-Type */
	const char *body;
	size_t body_len;
	long http_status; /* 0 when no response */
	int ok;           /* 1 on 201 (2xx) */
	char error[256];  /* one line when !ok */
};

/* Send every PUT concurrently (one http_run) and fill in each entry's result.  Returns the
 * number of entries that failed. */
size_t registry_put(struct registry *r, struct reg_put *puts, size_t count);

/* HTTP requests sent so far by this client. */
size_t registry_requests(const struct registry *r);

#endif
