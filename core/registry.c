/* registry.c - the registry v2 API client: ping, catalog, the concurrent scan (tag lists,
 * manifests, config blobs, index children) and manifest deletion, all through http.c. */
#define _GNU_SOURCE
#include "registry.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/evp.h>

#include "auth.h"
#include "http.h"
#include "json.h"
#include "log.h"

/* Page size asked of _catalog and tags/list; the Link header says where the next page is. */
#define PAGE "?n=1000"
/* A list's bounds, whatever its Link headers say: 1,000 pages of the size asked, or 10,000
 * of the 100 some registries keep to; a million tags or repositories. */
#define LIST_PAGES_MAX 10000
#define LIST_ENTRIES_MAX 1000000
/* Pages in a row that add no new entry yet link on: the list does not advance. */
#define LIST_STALLS_MAX 5
/* OCI asks registries to accept manifests up to 4 MiB; configs are usually far smaller. */
#define BODY_MAX ((size_t)8 << 20)
/* "sha512:" and 128 hex digits, the longest digest regsweep computes */
#define DIGEST_MAX 136
#define ANNOTATION_CREATED "org.opencontainers.image.created"

/* All four, or registries may answer with a child's digest or a rewritten manifest. */
static const char manifest_accept[] = "application/vnd.oci.image.index.v1+json, "
				      "application/vnd.oci.image.manifest.v1+json, "
				      "application/vnd.docker.distribution.manifest.list.v2+json, "
				      "application/vnd.docker.distribution.manifest.v2+json";

struct registry {
	struct http *http;
	struct auth *auth;
	char *base; /* without trailing '/' */
	size_t base_len;
	EVP_MD *sha256, *sha512; /* fetched once: an implicit fetch per digest costs more */
	EVP_MD_CTX *md;
};

/* Credentials belong in registry.auth: a URL is logged and quoted in errors. */
static int url_has_userinfo(const char *url)
{
	CURLU *u = curl_url();
	char *user = NULL;
	int has;

	if (!u)
		abort(); /* curl_url fails only when allocation does */
	has = curl_url_set(u, CURLUPART_URL, url, CURLU_GUESS_SCHEME) == CURLUE_OK &&
	      curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK;
	curl_free(user);
	curl_url_cleanup(u);
	return has;
}

struct registry *registry_open(const struct registry_opts *opts, struct rs_err *e)
{
	static int tls_warned; /* once per run, not per client */
	struct net_opts defaults;
	const struct net_opts *net = opts->net;
	struct http_opts ho = {.concurrency = opts->concurrency, .max_body = BODY_MAX};
	struct registry *r;
	size_t len;

	if (!opts->url || !opts->url[0]) {
		err_set(e, "no registry URL");
		return NULL;
	}
	if (opts->concurrency < 1) {
		err_set(e, "concurrency must be at least 1, not %d", opts->concurrency);
		return NULL;
	}
	if (url_has_userinfo(opts->url)) {
		err_set(e, "the registry URL holds credentials: set them in registry.auth instead");
		return NULL;
	}
	if (!net) {
		netopts_init(&defaults);
		net = &defaults;
	}
	r = xcalloc(1, sizeof(*r));
	len = strlen(opts->url);
	while (len && opts->url[len - 1] == '/')
		len--;
	r->base = xstrndup(opts->url, len);
	r->base_len = len;
	r->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	r->sha512 = EVP_MD_fetch(NULL, "SHA512", NULL);
	r->md = EVP_MD_CTX_new();
	if (!r->sha256 || !r->sha512 || !r->md) {
		err_set(e, "cannot initialise OpenSSL's SHA-256 and SHA-512");
		goto fail;
	}
	r->auth = auth_new(r->base, &net->auth, &net->tls, net->timeout_ms, opts->want, e);
	if (!r->auth)
		goto fail;
	ho.net = net;
	ho.auth = r->auth;
	r->http = http_new(&ho, e);
	if (!r->http)
		goto fail;
	if (!net->tls.verify && strncasecmp(r->base, "https:", 6) == 0 && !tls_warned) {
		tls_warned = 1;
		log_msg(RS_LOG_WARN, "TLS verification is off for %s", r->base);
	}
	return r;
fail:
	registry_close(r);
	return NULL;
}

void registry_close(struct registry *r)
{
	if (!r)
		return;
	http_free(r->http); /* first: it borrows auth */
	auth_free(r->auth);
	EVP_MD_free(r->sha256);
	EVP_MD_free(r->sha512);
	EVP_MD_CTX_free(r->md);
	free(r->base);
	free(r);
}

size_t registry_requests(const struct registry *r)
{
	return http_requests(r->http);
}

static int url_safe(unsigned char c, int keep_slash)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~' || c == ':' || (c == '/' && keep_slash);
}

/* Percent-encodes all but RFC 3986 unreserved characters and ':' (digests); '/' stays
 * literal only where it separates repository name components.  Safe runs go in whole:
 * this is on every request's path. */
static void append_escaped(struct buf *b, const char *s, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";

	while (*s) {
		size_t n = 0;

		while (s[n] && url_safe((unsigned char)s[n], keep_slash))
			n++;
		buf_append(b, s, n);
		s += n;
		if (*s) {
			unsigned char c = (unsigned char)*s++;
			char esc[3] = {'%', hex[c >> 4], hex[c & 15]};

			buf_append(b, esc, 3);
		}
	}
}

/* <base>/v2/<repo>/<part><ref> into b (emptied first); ref may be NULL. */
static void build_url(struct buf *b, const struct registry *r, const char *repo,
		      const char *part, const char *ref)
{
	b->len = 0;
	buf_append(b, r->base, r->base_len);
	buf_append(b, "/v2/", 4);
	append_escaped(b, repo, 1);
	buf_append(b, "/", 1);
	buf_append(b, part, strlen(part));
	/* A tag outside the grammar may be "." or "..": escaped, it is no dot segment that
	 * libcurl would resolve to another path. */
	if (ref && ref[0] == '.') {
		buf_append(b, "%2E", 3);
		ref++;
	}
	if (ref)
		append_escaped(b, ref, 0);
}

/* Why a request failed, on one line: the transport error, the executor's reason with the
 * status ("registry refused the credentials of user ci (HTTP 401)"), or "HTTP 404" with the
 * registry's first error, "HTTP 404 (MANIFEST_UNKNOWN: manifest unknown)". */
static void describe(const struct http_response *resp, char *out, size_t outlen)
{
	cJSON *doc;
	const cJSON *first, *code, *msg;
	int n;

	if (!resp->status) {
		snprintf(out, outlen, "%s", resp->error);
		return;
	}
	if (resp->error) {
		snprintf(out, outlen, "%s (HTTP %ld)", resp->error, resp->status);
		return;
	}
	n = snprintf(out, outlen, "HTTP %ld", resp->status);
	doc = resp->body_len ? cJSON_ParseWithLength(resp->body, resp->body_len) : NULL;
	first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "errors"), 0);
	code = cJSON_GetObjectItemCaseSensitive(first, "code");
	msg = cJSON_GetObjectItemCaseSensitive(first, "message");
	if (n > 0 && (size_t)n < outlen && (cJSON_IsString(code) || cJSON_IsString(msg)))
		snprintf(out + n, outlen - (size_t)n, " (%s%s%s)",
			 cJSON_IsString(code) ? code->valuestring : "",
			 cJSON_IsString(code) && cJSON_IsString(msg) ? ": " : "",
			 cJSON_IsString(msg) ? msg->valuestring : "");
	cJSON_Delete(doc);
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < ' ')
			*p = ' ';
}

/* Whether resp is the registry's "no such repository": distribution lists a repository
 * that received blobs but never a manifest, and answers its tags/list so. */
static int name_unknown(const struct http_response *resp)
{
	char text[256];

	if (resp->status != 404)
		return 0;
	describe(resp, text, sizeof(text));
	return strncmp(text, "HTTP 404 (NAME_UNKNOWN", 22) == 0;
}

/* "GET /v2/team/app/manifests/x: HTTP 500"; why overrides the response's own reason. */
static void failure_text(const struct registry *r, const struct http_response *resp,
			 const char *why, char *out, size_t outlen)
{
	const char *path = resp->url;
	char reason[256];

	if (strncmp(path, r->base, r->base_len) == 0)
		path += r->base_len;
	if (!why) {
		describe(resp, reason, sizeof(reason));
		why = reason;
	}
	snprintf(out, outlen, "%s %s: %s", http_method_name(resp->method), path, why);
}

struct ping {
	long status;
	char why[256];
};

static void on_ping(const struct http_response *resp, void *arg)
{
	struct ping *p = arg;

	p->status = resp->status;
	describe(resp, p->why, sizeof(p->why));
}

static int ping_verdict(const struct registry *r, const char *url, const struct ping *p,
			struct rs_err *e)
{
	switch (p->status) {
	case 200:
		return 0;
	case 401:
		if (auth_has_credentials(r->auth))
			err_set(e, "%s: %s", url, p->why);
		else
			err_set(e, "%s needs credentials: set registry.auth or "
				   "registry.docker_config", url);
		return -1;
	case 0:
		err_set(e, "cannot reach %s: %s", url, p->why);
		return -1;
	default:
		err_set(e, "%s: %s: not a registry v2 API", url, p->why);
		return -1;
	}
}

int registry_ping(struct registry *r, struct rs_err *e)
{
	char *url = xasprintf("%s/v2/", r->base);
	struct ping p = {0};
	int rc = -1;

	http_submit(r->http, HTTP_GET, url, NULL, on_ping, &p);
	if (http_run(r->http, e) == 0)
		rc = ping_verdict(r, url, &p, e);
	free(url);
	return rc;
}

/* Walks a paginated list (_catalog's "repositories", tags/list's "tags") page by page,
 * following Link rel="next" and never building `last=` itself.  The registry's links are
 * not trusted to end: a list is bounded in pages and entries, may not come back to a page
 * it read, nor keep linking on without new entries, nor leave its own URL path or the
 * registry's origin.  Each entry is handed over once; repeats and entries that are not
 * strings are dropped, with one warning per list. */
struct pager {
	struct registry *r;
	const char *key;
	const char *name; /* for warnings: the repository, or "_catalog" */
	/* Keeps a new entry and returns the copy kept, which must outlive the pager: the
	 * pager's set of entries borrows it. */
	const char *(*item)(void *arg, const char *value);
	/* Called once: resp NULL when the list is complete, else the failed request and why
	 * (NULL: the response's own status). */
	void (*end)(void *arg, const struct http_response *resp, const char *why);
	void *arg;
	int retried; /* the first page was asked again without n */
	size_t pages, entries, stalls;
	size_t repeats, non_strings;
	char *path;            /* the first page's scheme://host:port/path: every page's */
	struct strmap seen;    /* entries handed over */
	struct strmap visited; /* page URLs asked for, their keys in pool */
	struct pool *pool;
};

static void on_page(const struct http_response *resp, void *arg);

/* scheme://host:port/path of url (no query), caller-owned, or NULL. */
static char *url_path(const char *url)
{
	char *origin = http_origin(url), *out = NULL;
	const char *p = strstr(url, "://");

	if (origin && p) {
		p += 3;
		p += strcspn(p, "/?#");
		out = xasprintf("%s%.*s", origin, (int)strcspn(p, "?#"), p);
	}
	free(origin);
	return out;
}

/* One warning per list for what was dropped from it. */
static void pager_warn(const struct pager *p)
{
	if (p->non_strings)
		log_msg(RS_LOG_WARN, "%s: %zu entr%s of the %s list not a string: ignored",
			p->name, p->non_strings, p->non_strings == 1 ? "y" : "ies", p->key);
	if (p->repeats)
		log_msg(RS_LOG_WARN, "%s: %zu entr%s of the %s list listed again: counted once",
			p->name, p->repeats, p->repeats == 1 ? "y" : "ies", p->key);
}

static void pager_free(struct pager *p)
{
	strmap_free(&p->seen);
	strmap_free(&p->visited);
	pool_free(p->pool);
	p->pool = NULL;
}

/* The list is over: its sets go now, not with the scan (repo_finish frees them too, for an
 * executor that failed before the end). */
static void pager_end(struct pager *p, const struct http_response *resp, const char *why)
{
	pager_warn(p);
	p->end(p->arg, resp, why);
	pager_free(p);
}

/* Asks for the page at url, or ends the list with why it may not.  resp: the page that
 * links there, NULL for the first (the registry's own URL). */
static void pager_get(struct pager *p, const struct http_response *resp, const char *url)
{
	char *path = url_path(url), *origin = NULL;
	const char *why = NULL;
	char text[300];
	int fresh;

	if (!p->pool) {
		p->pool = pool_new();
		p->path = pool_strdup(p->pool, path ? path : url);
	}
	if (resp && (!path || strcasecmp(path, p->path) != 0)) {
		origin = http_origin(url);
		if (origin && !http_same_origin(url, p->r->base))
			snprintf(text, sizeof(text),
				 "Link rel=\"next\" leads to another origin, %s: not followed", origin);
		else
			snprintf(text, sizeof(text), "Link rel=\"next\" leads out of this list: not "
						     "followed");
		why = text;
	} else if (resp && p->pages >= LIST_PAGES_MAX) {
		snprintf(text, sizeof(text), "more than %d pages: the list is not read to its end",
			 LIST_PAGES_MAX);
		why = text;
	} else {
		*strmap_slot(&p->visited, pool_strdup(p->pool, url), &fresh) = p;
		if (!fresh)
			why = "Link rel=\"next\" leads back to a page already read";
	}
	free(origin);
	free(path);
	if (why) {
		pager_end(p, resp, why);
		return;
	}
	p->pages++;
	http_submit(p->r->http, HTTP_GET, url, NULL, on_page, p);
}

/* The first page of a list at url. */
static void pager_start(struct pager *p, const char *url)
{
	pager_get(p, NULL, url);
}

/* Hands over a page's entries; 0, or -1 with why the list must end. */
static int pager_items(struct pager *p, const cJSON *list, size_t *added, const char **why)
{
	const cJSON *v;
	void **slot;
	int fresh;

	cJSON_ArrayForEach(v, list) {
		if (++p->entries > LIST_ENTRIES_MAX) {
			*why = "more than 1000000 entries: the list is not read to its end";
			return -1;
		}
		if (!cJSON_IsString(v)) {
			p->non_strings++;
			continue;
		}
		if (strmap_get(&p->seen, v->valuestring)) {
			p->repeats++;
			continue;
		}
		slot = strmap_slot(&p->seen, p->item(p->arg, v->valuestring), &fresh);
		*slot = p;
		(*added)++;
	}
	return 0;
}

static void on_page(const struct http_response *resp, void *arg)
{
	struct pager *p = arg;
	cJSON *doc;
	const cJSON *list;
	const char *why = NULL;
	size_t added = 0;
	char *next;

	/* distribution refuses an n above its catalog.maxentries (PAGINATION_NUMBER_INVALID):
	 * ask once more without n and let the registry choose the page size. */
	if (resp->status == 400 && !p->retried && strstr(resp->body, "PAGINATION_NUMBER_INVALID")) {
		next = xstrndup(resp->url, strcspn(resp->url, "?"));
		p->retried = 1;
		pager_get(p, resp, next);
		free(next);
		return;
	}
	if (resp->status != 200) {
		pager_end(p, resp, NULL);
		return;
	}
	doc = cJSON_ParseWithLength(resp->body, resp->body_len);
	list = cJSON_GetObjectItemCaseSensitive(doc, p->key);
	/* "tags": null is what a repository without tags answers. */
	if (!cJSON_IsObject(doc) || (list && !cJSON_IsArray(list) && !cJSON_IsNull(list))) {
		cJSON_Delete(doc);
		pager_end(p, resp, "malformed JSON");
		return;
	}
	if (!cJSON_IsArray(list))
		list = NULL;
	if (pager_items(p, list, &added, &why) < 0) {
		cJSON_Delete(doc);
		pager_end(p, resp, why);
		return;
	}
	cJSON_Delete(doc);
	next = http_link_next(resp);
	p->stalls = added ? 0 : p->stalls + 1;
	if (next && p->stalls >= LIST_STALLS_MAX)
		pager_end(p, resp, "Link rel=\"next\" keeps leading to pages without new entries");
	else if (next)
		pager_get(p, resp, next);
	else
		pager_end(p, NULL, NULL);
	free(next);
}

struct catalog {
	struct pager pager;
	char **names;
	size_t count, cap;
	struct rs_err *e;
};

static const char *catalog_item(void *arg, const char *value)
{
	struct catalog *c = arg;

	if (c->count == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->names = xrealloc(c->names, c->cap * sizeof(*c->names));
	}
	return c->names[c->count++] = xstrdup(value);
}

static void catalog_end(void *arg, const struct http_response *resp, const char *why)
{
	struct catalog *c = arg;
	char text[512];

	if (!resp)
		return;
	failure_text(c->pager.r, resp, why, text, sizeof(text));
	err_set(c->e, "%s", text);
}

int registry_catalog(struct registry *r, char ***names, size_t *count, struct rs_err *e)
{
	struct rs_err local = {{0}};
	struct catalog c = {
		.pager = {.r = r, .key = "repositories", .name = "_catalog", .item = catalog_item,
			  .end = catalog_end, .arg = &c},
		.e = &local,
	};
	char *url = xasprintf("%s/v2/_catalog" PAGE, r->base);

	pager_start(&c.pager, url);
	free(url);
	http_run(r->http, &local);
	pager_free(&c.pager); /* before the names its set of entries borrows */
	if (err_isset(&local)) {
		err_set(e, "%s", local.msg);
		for (size_t i = 0; i < c.count; i++)
			free(c.names[i]);
		free(c.names);
		return -1;
	}
	*names = c.names;
	*count = c.count;
	return 0;
}

/*
 * The scan.  Each repository lists its tags, then fetches each tag's manifest: a HEAD when
 * the digest is all that is needed, else a GET.  Manifests and config blobs are "fetches"
 * keyed by digest in a per-repository hash table, so a blob or child manifest that many
 * tags or indexes reference is requested once, even while in flight: later referrers wait
 * on the same fetch.  A fetch completes when its own references have; its facts then flow
 * to its waiters (parent manifests and tags).
 */

enum fetch_kind { FETCH_MANIFEST, FETCH_CONFIG, FETCH_BLOB };

/* What a config blob or a manifest tells about an image.  labels belong to the
 * FETCH_CONFIG fetch that read them; manifests only point at them. */
struct facts {
	int64_t created;
	int64_t size;
	struct rs_label *labels;
	size_t label_count;
};

struct repo_scan;
struct tag_job;

/* Someone waiting for a fetch: the manifest referencing it at position slot or, when
 * parent is NULL, a tag. */
struct waiter {
	struct waiter *next;
	struct fetch *parent;
	struct tag_job *tag;
	size_t slot;
};

/* One per manifest and config of a repository: packed, a scan of 50,000 tags holds
 * 100,000 of them. */
struct fetch {
	struct repo_scan *rs;
	char *digest;
	size_t pending;       /* references not yet complete, plus one while being read */
	int64_t annotated;    /* the org.opencontainers.image.created annotation */
	int64_t best_created; /* the newest reference (ties: lowest slot) gives created and */
	size_t best_slot;     /* labels */
	struct facts facts;
	struct waiter *waiters;
	uint32_t node; /* REG_NEED_GRAPH: the manifest as read is repo_scan.nodes[node - 1]; 0
			* until read */
	unsigned char kind; /* enum fetch_kind */
	unsigned char done, is_index;
};

enum tag_state { TAG_PENDING, TAG_DONE, TAG_GONE };

struct tag_job {
	struct repo_scan *rs;
	size_t idx;
	enum tag_state state;
};

struct scan {
	struct registry *r;
	unsigned needs;
	struct pool *pool; /* the reg_scan's: what the scan keeps */
	struct pool *bodies; /* the reg_scan's: the manifests' bytes (REG_NEED_BODIES) */
	/* The fetches, released as the scan ends: mapped apart, they leave no holes in the
	 * heap that what is kept would have to fit around. */
	struct pool *work;
};

struct repo_scan {
	struct scan *scan;
	struct reg_repo *repo;
	struct pager pager;
	size_t cap;            /* of repo->images while the tag list grows */
	size_t invalid_names;  /* tags outside the grammar, warned once */
	char first_invalid[64]; /* the first of them, as a log shows it */
	struct tag_job *tags;  /* one per image once the list is complete */
	size_t fed;            /* of them, those whose manifest request is made */
	enum http_method tag_method; /* GET, or HEAD when the digest is all the scan needs */
	struct fetch **table;  /* open addressing; size a power of two, at most half full */
	size_t table_size, nfetch;
	struct buf url;        /* scratch for request URLs */
	struct buf text;       /* scratch for strings read from manifests */
	struct strmap blobs;   /* the blob digests kept, each once */
	/* The manifests read (REG_NEED_GRAPH), in the order they came: outside the fetches,
	 * which end with the scan, so that they become repo->manifests as they are. */
	struct reg_manifest *nodes;
	size_t node_count, node_cap;
};

static void repo_error(struct repo_scan *rs, const char *fmt, ...) RS_FMT(2, 3);

/* First error wins; the caller leaves a repository with an error untouched. */
static void repo_error(struct repo_scan *rs, const char *fmt, ...)
{
	va_list ap;
	char text[512];

	if (rs->repo->error)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	rs->repo->error = xasprintf("%s: %s", rs->repo->name, text);
}

static void repo_http_error(struct repo_scan *rs, const struct http_response *resp,
			    const char *why)
{
	char text[512];

	failure_text(rs->scan->r, resp, why, text, sizeof(text));
	repo_error(rs, "%s", text);
}

/* Nothing more is sent for a repository that already failed. */
static void repo_get(struct repo_scan *rs, enum http_method method, const char *part,
		     const char *ref, const char *accept,
		     void (*done)(const struct http_response *resp, void *arg), void *arg)
{
	if (rs->repo->error)
		return;
	build_url(&rs->url, rs->scan->r, rs->repo->name, part, ref);
	/* Registries may send a blob to storage elsewhere (S3, GCS); never a list or a
	 * manifest. */
	if (strcmp(part, "blobs/") == 0)
		http_submit_offsite(rs->scan->r->http, method, rs->url.data, accept, done, arg);
	else
		http_submit(rs->scan->r->http, method, rs->url.data, accept, done, arg);
}

static size_t fetch_hash(const char *digest, enum fetch_kind kind)
{
	return util_hash(digest) + kind;
}

static void table_put(struct fetch **table, size_t size, struct fetch *f)
{
	size_t i = fetch_hash(f->digest, f->kind) & (size - 1);

	while (table[i])
		i = (i + 1) & (size - 1);
	table[i] = f;
}

/* The repository's fetch for (digest, kind); *fresh says whether it was just made. */
static struct fetch *fetch_get(struct repo_scan *rs, const char *digest, enum fetch_kind kind,
			       int *fresh)
{
	struct fetch *f;
	size_t i;

	if ((rs->nfetch + 1) * 2 > rs->table_size) {
		size_t size = rs->table_size ? rs->table_size * 2 : 64;
		struct fetch **table = xcalloc(size, sizeof(*table));

		for (i = 0; i < rs->table_size; i++)
			if (rs->table[i])
				table_put(table, size, rs->table[i]);
		free(rs->table);
		rs->table = table;
		rs->table_size = size;
	}
	i = fetch_hash(digest, kind) & (rs->table_size - 1);
	for (; (f = rs->table[i]); i = (i + 1) & (rs->table_size - 1)) {
		if (f->kind == kind && strcmp(f->digest, digest) == 0) {
			*fresh = 0;
			return f;
		}
	}
	/* The fetch itself lasts only as long as the scan runs; a manifest's digest is kept
	 * (tags and the graph name it), a blob's is only a URL's part. */
	f = pool_calloc(rs->scan->work, 1, sizeof(*f));
	f->rs = rs;
	f->digest = pool_strdup(kind == FETCH_MANIFEST ? rs->scan->pool : rs->scan->work, digest);
	f->kind = kind;
	f->annotated = f->best_created = f->facts.created = RS_CREATED_UNKNOWN;
	f->best_slot = SIZE_MAX;
	f->facts.size = -1;
	rs->table[i] = f;
	rs->nfetch++;
	*fresh = 1;
	return f;
}

static void fetch_complete(struct fetch *f);

static void fetch_release(struct fetch *f)
{
	if (--f->pending == 0)
		fetch_complete(f);
}

static void tag_set(struct tag_job *t, const struct facts *fa)
{
	struct reg_image *img = &t->rs->repo->images[t->idx];

	img->created = fa->created;
	img->size = fa->size;
	/* The config fetch's labels live as long as the scan: the image shares them. */
	img->labels = fa->labels;
	img->label_count = fa->label_count;
	t->state = TAG_DONE;
}

/* A reference of parent (at slot) has completed with facts fa. */
static void merge(struct fetch *parent, const struct facts *fa, size_t slot)
{
	if (parent->is_index)
		parent->facts.size = parent->facts.size < 0 || fa->size < 0
					     ? -1
					     : parent->facts.size + fa->size;
	if (fa->created > parent->best_created ||
	    (fa->created == parent->best_created && slot < parent->best_slot)) {
		parent->best_created = fa->created;
		parent->best_slot = slot;
		parent->facts.labels = fa->labels;
		parent->facts.label_count = fa->label_count;
	}
	fetch_release(parent);
}

static void deliver(const struct facts *fa, const struct waiter *w)
{
	if (w->parent)
		merge(w->parent, fa, w->slot);
	else
		tag_set(w->tag, fa);
}

static void fetch_complete(struct fetch *f)
{
	struct waiter *w;

	f->done = 1;
	if (f->kind == FETCH_MANIFEST)
		f->facts.created =
		    f->annotated != RS_CREATED_UNKNOWN ? f->annotated : f->best_created;
	while ((w = f->waiters)) {
		f->waiters = w->next;
		deliver(&f->facts, w);
		free(w);
	}
}

/* Register a waiter on f: a parent manifest (at slot) or, parent NULL, a tag. */
static void fetch_wait(struct fetch *f, struct fetch *parent, struct tag_job *tag, size_t slot)
{
	struct waiter w = {f->waiters, parent, tag, slot};

	if (parent)
		parent->pending++;
	if (f->done) {
		deliver(&f->facts, &w);
		return;
	}
	f->waiters = xmalloc(sizeof(w));
	*f->waiters = w;
}

/* A created time (a string member's span) in seconds; scratch holds its text. */
static int64_t json_created(struct json_span v, struct buf *scratch)
{
	const char *text = json_string_value(v, scratch);
	int64_t t;

	/* Reproducible builds write 1970: a time before 1980 is no age. */
	if (text && util_parse_rfc3339(text, &t) == 0 && t >= UTIL_EPOCH_1980)
		return t;
	return RS_CREATED_UNKNOWN;
}

/* What the scan reads of a descriptor, found in one walk of it. */
struct desc {
	struct json_span digest, media_type; /* the members' values; text NULL: absent */
	int64_t size; /* -1 when absent or not a plausible byte count */
};

static void desc_read(struct json_span v, struct desc *d)
{
	static const char *const keys[] = {"digest", "size", "mediaType"};
	struct json_span found[3];
	double n;

	json_members(v, keys, 3, found);
	d->digest = found[0];
	d->media_type = found[2];
	d->size = json_number_value(found[1], &n) < 0 || !(n >= 0) || n > 9007199254740992.0
		      ? -1
		      : (int64_t)n;
}

/* d's digest (its text in scratch), NULL when it has none that is valid. */
static const char *desc_digest(const struct desc *d, struct buf *scratch)
{
	const char *text = json_string_value(d->digest, scratch);

	return text && util_valid_digest(text) ? text : NULL;
}

/* The digest of the descriptor v (its text in scratch), NULL when it has none that is
 * valid. */
static const char *valid_digest(struct json_span v, struct buf *scratch)
{
	struct desc d;

	desc_read(v, &d);
	return desc_digest(&d, scratch);
}

static void add_size(int64_t *total, int64_t n)
{
	*total = *total < 0 || n < 0 ? -1 : *total + n;
}

/* Non-JSON configs (some artifacts) hold no created or labels: not worth a request. */
static int config_is_json(const struct desc *config, struct buf *scratch)
{
	if (!json_string_value(config->media_type, scratch))
		return 1;
	return scratch->len >= 4 && strcmp(scratch->data + scratch->len - 4, "json") == 0;
}

static void on_fetch(const struct http_response *resp, void *arg);

/* parent references the descriptor desc at slot: wait for its fetch, requesting it unless
 * it is already known.  0, or -1 after a repository error when it has no valid digest. */
static int reference(struct fetch *parent, const struct http_response *resp,
		     const struct desc *desc, enum fetch_kind kind, size_t slot)
{
	struct repo_scan *rs = parent->rs;
	const char *digest = desc_digest(desc, &rs->text);
	struct fetch *f;
	int fresh;

	if (!digest) {
		repo_http_error(rs, resp, "a descriptor without a valid digest");
		return -1;
	}
	f = fetch_get(rs, digest, kind, &fresh);
	if (fresh && kind == FETCH_CONFIG)
		repo_get(rs, HTTP_GET, "blobs/", f->digest, NULL, on_fetch, f);
	else if (fresh)
		repo_get(rs, HTTP_GET, "manifests/", f->digest, manifest_accept, on_fetch, f);
	fetch_wait(f, parent, NULL, slot);
	return 0;
}

static void on_blob(const struct http_response *resp, void *arg)
{
	struct fetch *f = arg;

	if (resp->status != 200)
		repo_http_error(f->rs, resp, NULL);
	f->done = 1;
}

/* The media types every image has: kept once, not once per tag and manifest. */
static char known_types[][64] = {
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.v2+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
};

/* The media type s (its first n bytes) in pool, or the known one it equals. */
static char *media_type_in(struct pool *pool, const char *s, size_t n)
{
	for (size_t i = 0; i < sizeof(known_types) / sizeof(known_types[0]); i++)
		if (strlen(known_types[i]) == n && memcmp(known_types[i], s, n) == 0)
			return known_types[i];
	return pool_strndup(pool, s, n);
}

/* Where a manifest's parts go: its strings and arrays to pool, its bytes to bodies (NULL:
 * only their length is kept), and its blobs' digests (unless no_blobs: none is kept) to
 * pool, once per map when blobs is non-NULL: images share most of their layers. */
struct manifest_store {
	struct pool *pool, *bodies;
	struct strmap *blobs;
	int no_blobs;
};

static char *blob_digest(const struct manifest_store *st, const char *d)
{
	char *copy;
	int fresh;

	if (!st->blobs)
		return pool_strdup(st->pool, d);
	if ((copy = strmap_get(st->blobs, d)))
		return copy;
	copy = pool_strdup(st->pool, d);
	*strmap_slot(st->blobs, copy, &fresh) = copy;
	return copy;
}

/* The members of a manifest the scan reads. */
enum { MF_MANIFESTS, MF_CONFIG, MF_LAYERS, MF_SUBJECT, MF_MEDIA_TYPE, MF_ANNOTATIONS, MF_COUNT };

/* The members of the manifest body into mf, found without building a tree: 0, or -1 when
 * it is not a JSON object. */
static int manifest_members(const char *body, size_t len, struct json_span mf[MF_COUNT])
{
	static const char *const keys[MF_COUNT] = {"manifests", "config",    "layers",
						   "subject",   "mediaType", "annotations"};
	struct json_span doc;

	if (json_value_span(body, len, &doc) || doc.text[0] != '{')
		return -1;
	json_members(doc, keys, MF_COUNT, mf);
	return 0;
}

static int is_array(struct json_span v)
{
	return v.text && v.text[0] == '[';
}

static int is_object(struct json_span v)
{
	return v.text && v.text[0] == '{';
}

/* Appends the blob desc names to m (when m keeps blobs): 0, or -1 when its digest is not
 * valid. */
static int blob_add(const struct manifest_store *st, struct reg_manifest *m,
		    struct json_span v, struct buf *scratch)
{
	struct desc d;
	const char *digest;

	desc_read(v, &d);
	if (!(digest = desc_digest(&d, scratch)))
		return -1;
	if (m->blobs)
		m->blobs[m->blob_count++] = (struct reg_blob){blob_digest(st, digest), d.size};
	return 0;
}

/* Fills m from a manifest's members mf as st says: digest (borrowed: it must be in
 * st->pool already), the body, the body's mediaType (else content_type, up to its
 * parameters), children, blobs and subject.  0, or -1 when a descriptor has no valid
 * digest (m partly filled). */
static int manifest_parse(const struct manifest_store *st, struct reg_manifest *m,
			  const struct json_span mf[MF_COUNT], char *digest, const char *body,
			  size_t len, const char *content_type, struct buf *scratch)
{
	struct pool *pool = st->pool;
	struct json_span v = {NULL, 0};
	const char *text;

	m->digest = digest;
	m->body = st->bodies ? pool_strndup(st->bodies, body, len) : NULL;
	m->body_len = len;
	if ((text = json_string_value(mf[MF_MEDIA_TYPE], scratch)))
		m->media_type = media_type_in(pool, text, scratch->len);
	else if (content_type)
		m->media_type = media_type_in(pool, content_type, strcspn(content_type, "; "));
	if (mf[MF_SUBJECT].text && !(text = valid_digest(mf[MF_SUBJECT], scratch)))
		return -1;
	m->subject = mf[MF_SUBJECT].text ? pool_strdup(pool, text) : NULL;
	if (is_array(mf[MF_MANIFESTS])) {
		m->children = pool_calloc(pool, json_count(mf[MF_MANIFESTS]), sizeof(char *));
		while (json_next(mf[MF_MANIFESTS], NULL, &v)) {
			if (!(text = valid_digest(v, scratch)))
				return -1;
			m->children[m->child_count++] = pool_strdup(pool, text);
		}
		return 0;
	}
	if (!is_object(mf[MF_CONFIG]))
		return 0;
	/* Checked whether kept or not: a manifest with a bad descriptor is an error either way. */
	if (!st->no_blobs)
		m->blobs = pool_calloc(pool, 1 + json_count(mf[MF_LAYERS]), sizeof(*m->blobs));
	if (blob_add(st, m, mf[MF_CONFIG], scratch) < 0)
		return -1;
	while (json_next(mf[MF_LAYERS], NULL, &v))
		if (blob_add(st, m, v, scratch) < 0)
			return -1;
	return 0;
}

int registry_manifest_from_body(struct pool *pool, struct pool *bodies, struct reg_manifest *m,
				const char *digest, const char *body, size_t len,
				const char *media_type)
{
	const struct manifest_store st = {pool, bodies, NULL, 0};
	struct json_span mf[MF_COUNT];
	struct buf scratch = {0};
	int rc = manifest_members(body, len, mf) == 0
			 ? manifest_parse(&st, m, mf, pool_strdup(pool, digest), body, len,
					  media_type, &scratch)
			 : -1;

	buf_free(&scratch);
	return rc;
}

/* Keeps f's place in the image graph and, for post-GC validation, asks once for each of
 * its blobs whether the registry still serves it. */
static int graph_read(struct fetch *f, const struct http_response *resp,
		      const struct json_span mf[MF_COUNT])
{
	struct repo_scan *rs = f->rs;
	struct reg_manifest *m;
	const struct manifest_store st = {f->rs->scan->pool, f->rs->scan->bodies, &f->rs->blobs,
					  !(f->rs->scan->needs & (REG_NEED_LAYERS | REG_NEED_BLOBS))};

	if (!f->node) {
		if (rs->node_count == rs->node_cap) {
			rs->node_cap = rs->node_cap ? 2 * rs->node_cap : 16;
			rs->nodes = xrealloc(rs->nodes, rs->node_cap * sizeof(*rs->nodes));
		}
		f->node = ++rs->node_count;
	}
	m = &rs->nodes[f->node - 1];
	memset(m, 0, sizeof(*m));
	if (manifest_parse(&st, m, mf, f->digest, resp->body, resp->body_len, resp->content_type,
			   &rs->text)) {
		repo_http_error(f->rs, resp, "a descriptor without a valid digest");
		return -1;
	}
	/* A leaf appended just now goes again when the caller wants references only. */
	if ((rs->scan->needs & REG_GRAPH_REFS) && !m->child_count && !m->subject &&
	    f->node == rs->node_count) {
		rs->node_count--;
		f->node = 0;
		return 0;
	}
	for (size_t i = 0; (f->rs->scan->needs & REG_NEED_BLOBS) && i < m->blob_count; i++) {
		int fresh;
		struct fetch *b = fetch_get(f->rs, m->blobs[i].digest, FETCH_BLOB, &fresh);

		if (fresh)
			repo_get(f->rs, HTTP_HEAD, "blobs/", b->digest, NULL, on_blob, b);
	}
	return 0;
}

/* Reads a manifest body into f: its own size and annotation, and references to the child
 * manifests or the config blob when `needs` asks for what only they hold. */
static void manifest_read(struct fetch *f, const struct http_response *resp)
{
	static const char *const created_key = ANNOTATION_CREATED;
	struct repo_scan *rs = f->rs;
	unsigned needs = rs->scan->needs;
	struct json_span mf[MF_COUNT], created, v = {NULL, 0};
	struct desc d;
	int want_created;
	size_t slot = 0;

	/* Read without building a tree: only a few members matter. */
	if (manifest_members(resp->body, resp->body_len, mf) < 0) {
		repo_http_error(rs, resp, "malformed JSON");
		return;
	}
	if ((needs & REG_NEED_GRAPH) && graph_read(f, resp, mf) < 0)
		return;
	json_members(mf[MF_ANNOTATIONS], &created_key, 1, &created);
	f->annotated = json_created(created, &rs->text);
	want_created = (needs & RS_NEED_CREATED) && f->annotated == RS_CREATED_UNKNOWN;
	f->facts.size = (int64_t)resp->body_len;
	/* Held while references are added, so that one completing at once cannot complete f
	 * before the rest are counted. */
	f->pending = 1;
	if (is_array(mf[MF_MANIFESTS])) {
		f->is_index = 1;
		if (!want_created && !(needs & (RS_NEED_SIZE | RS_NEED_LABELS | REG_NEED_GRAPH)))
			f->facts.size = -1; /* the children's share is unknown */
		else
			while (json_next(mf[MF_MANIFESTS], NULL, &v)) {
				desc_read(v, &d);
				if (reference(f, resp, &d, FETCH_MANIFEST, slot++) < 0)
					return;
			}
	} else if (is_object(mf[MF_CONFIG])) {
		struct desc layer;

		desc_read(mf[MF_CONFIG], &d);
		add_size(&f->facts.size, d.size);
		while (json_next(mf[MF_LAYERS], NULL, &v)) {
			desc_read(v, &layer);
			add_size(&f->facts.size, layer.size);
		}
		if ((want_created || (needs & RS_NEED_LABELS)) && config_is_json(&d, &rs->text) &&
		    reference(f, resp, &d, FETCH_CONFIG, 0) < 0)
			return;
	} else {
		/* Schema 1 or an unknown kind: the digest is all there is to know. */
		f->facts.size = -1;
	}
	fetch_release(f);
}

/* The string members of the config's config.Labels (the span of "config"), into f's facts. */
static void config_labels(struct fetch *f, struct json_span config)
{
	static const char *const key = "Labels";
	struct facts *fa = &f->facts;
	struct pool *pool = f->rs->scan->pool;
	struct json_span labels, name, v = {NULL, 0};

	json_members(config, &key, 1, &labels);
	if (!is_object(labels))
		return;
	fa->labels = pool_calloc(pool, json_count(labels), sizeof(*fa->labels));
	while (json_next(labels, &name, &v)) {
		struct rs_label *l = &fa->labels[fa->label_count];
		const char *text;

		if (!(text = json_string_value(v, &f->rs->text)))
			continue;
		l->value = pool_strdup(pool, text);
		if (!(text = json_string_value(name, &f->rs->text)))
			continue;
		l->key = pool_strdup(pool, text);
		fa->label_count++;
	}
}

static void config_read(struct fetch *f, const struct http_response *resp)
{
	static const char *const keys[] = {"created", "config"};
	struct json_span doc, found[2];

	/* Checked and searched without building a tree: a config is read for two members,
	 * and its history can run long. */
	if (json_value_span(resp->body, resp->body_len, &doc) || doc.text[0] != '{') {
		repo_http_error(f->rs, resp, "malformed JSON");
		return;
	}
	json_members(doc, keys, 2, found);
	f->facts.created = json_created(found[0], &f->rs->text);
	f->facts.size = (int64_t)resp->body_len;
	if (f->rs->scan->needs & RS_NEED_LABELS)
		config_labels(f, found[1]);
	fetch_complete(f);
}

/* The digest of resp's exact body into out (DIGEST_MAX bytes), in the algorithm of like
 * ("sha512:..."; NULL or "sha256:...": SHA-256).  0, or -1 after a repository error. */
static int body_digest(struct repo_scan *rs, const struct http_response *resp, const char *like,
		       char *out)
{
	struct registry *r = rs->scan->r;
	const EVP_MD *md = r->sha256;
	unsigned char raw[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (like && strncmp(like, "sha512:", 7) == 0) {
		md = r->sha512;
	} else if (like && strncmp(like, "sha256:", 7) != 0) {
		repo_http_error(rs, resp, "cannot check a digest in this algorithm");
		return -1;
	}
	if (!EVP_DigestInit_ex2(r->md, md, NULL) ||
	    !EVP_DigestUpdate(r->md, resp->body, resp->body_len) ||
	    !EVP_DigestFinal_ex(r->md, raw, &n)) {
		repo_http_error(rs, resp, "OpenSSL could not compute the digest");
		return -1;
	}
	util_digest_text(md == r->sha512 ? "sha512" : "sha256", raw, n, out);
	return 0;
}

/* The digest of resp's exact body into got (DIGEST_MAX bytes), checked against the
 * Docker-Content-Digest header when there is one and against want, the digest the body was
 * asked by (NULL: asked by tag).  0, or -1 after a repository error naming both digests. */
static int body_verify(struct repo_scan *rs, const struct http_response *resp,
		       const char *want, char *got)
{
	char why[2 * DIGEST_MAX + 64];

	if (body_digest(rs, resp, want ? want : resp->digest, got) < 0)
		return -1;
	if (want && strcmp(got, want) != 0)
		snprintf(why, sizeof(why), "the body's digest is %s, not the requested %s", got,
			 want);
	else if (resp->digest && strcmp(resp->digest, got) != 0)
		snprintf(why, sizeof(why), "Docker-Content-Digest %s, but the body's is %s",
			 resp->digest, got);
	else
		return 0;
	repo_http_error(rs, resp, why);
	return -1;
}

static void on_fetch(const struct http_response *resp, void *arg)
{
	struct fetch *f = arg;
	char got[DIGEST_MAX];

	if (f->rs->repo->error)
		return;
	if (resp->status != 200)
		repo_http_error(f->rs, resp, NULL);
	else if (body_verify(f->rs, resp, f->digest, got) < 0)
		return;
	else if (f->kind == FETCH_MANIFEST)
		manifest_read(f, resp);
	else
		config_read(f, resp);
}

/* A tag's manifest, by HEAD (digest only) or GET.  A GET's digest is always the body's own,
 * checked against Docker-Content-Digest; a HEAD without that header is asked again as a
 * GET (whose answer comes here directly: the HEAD's answer queued the next tag). */
static void tag_read(const struct http_response *resp, void *arg)
{
	struct tag_job *t = arg;
	struct repo_scan *rs = t->rs;
	struct reg_image *img = &rs->repo->images[t->idx];
	char got[DIGEST_MAX];
	struct fetch *f;
	int fresh;

	progress_step();
	if (rs->repo->error)
		return;
	if (resp->status == 404 && img->invalid_name) {
		/* Which image it names is unknown: any deletion might take it. */
		repo_http_error(rs, resp, "a tag named outside the tag grammar names no manifest "
					  "the registry serves, so its image cannot be kept");
		return;
	}
	if (resp->status == 404) {
		t->state = TAG_GONE;
		log_msg(RS_LOG_WARN, "%s:%s: manifest gone since the tag list was read (deleted "
				     "meanwhile?); skipped", rs->repo->name, img->tag);
		return;
	}
	if (resp->status != 200) {
		repo_http_error(rs, resp, NULL);
		return;
	}
	if (resp->digest && !util_valid_digest(resp->digest)) {
		repo_http_error(rs, resp, "an invalid Docker-Content-Digest header");
		return;
	}
	if (resp->method == HTTP_HEAD && !resp->digest) {
		progress_grow(1);
		repo_get(rs, HTTP_GET, "manifests/", img->tag, manifest_accept, tag_read, t);
		return;
	}
	if (resp->method == HTTP_GET && body_verify(rs, resp, NULL, got) < 0)
		return;
	if (resp->content_type)
		img->media_type = media_type_in(rs->scan->pool, resp->content_type,
						strcspn(resp->content_type, "; "));
	if (resp->method == HTTP_HEAD) {
		img->digest = pool_strdup(rs->scan->pool, resp->digest);
		t->state = TAG_DONE;
		return;
	}
	/* Tags sharing a digest, or tagging an index's child, read that manifest once (and
	 * keep its digest once). */
	f = fetch_get(rs, got, FETCH_MANIFEST, &fresh);
	img->digest = f->digest;
	fetch_wait(f, NULL, t, 0);
	if (fresh)
		manifest_read(f, resp);
}

/* Manifest requests queued ahead of the executor per repository: a list of 50,000 tags
 * queues 1,024, and each tag's first answer queues the next, instead of 50,000 requests at
 * once. */
#define TAGS_QUEUED 1024

static void on_tag(const struct http_response *resp, void *arg);

static void tags_feed(struct repo_scan *rs, size_t n)
{
	for (; n && rs->fed < rs->repo->count; n--, rs->fed++)
		repo_get(rs, rs->tag_method, "manifests/", rs->repo->images[rs->fed].tag,
			 manifest_accept, on_tag, &rs->tags[rs->fed]);
}

static void on_tag(const struct http_response *resp, void *arg)
{
	struct tag_job *t = arg;

	tag_read(resp, arg);
	tags_feed(t->rs, 1);
}

/* s as a log can show it: bytes below ' ' and DEL as \xHH, at most outlen - 1 bytes. */
static void shown(char *out, size_t outlen, const char *s)
{
	size_t n = 0;

	for (; *s && n + 5 < outlen; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < ' ' || c == 0x7f || c == '\\')
			n += (size_t)snprintf(out + n, outlen - n, "\\x%02X", c);
		else
			out[n++] = (char)c;
	}
	out[n] = '\0';
}

static const char *tags_item(void *arg, const char *value)
{
	struct repo_scan *rs = arg;
	struct reg_repo *repo = rs->repo;
	/* Outside the grammar (a control character, "../"): the tag stays in the scan, marked,
	 * so that the image it names is kept with every tag on it. */
	int invalid = !util_valid_tag(value);

	if (repo->count == rs->cap) {
		rs->cap = rs->cap ? rs->cap * 2 : 16;
		repo->images = xrealloc(repo->images, rs->cap * sizeof(*repo->images));
	}
	if (invalid && !rs->invalid_names++)
		shown(rs->first_invalid, sizeof(rs->first_invalid), value);
	repo->images[repo->count] = (struct reg_image){
		.tag = pool_strdup(rs->scan->pool, value),
		.created = RS_CREATED_UNKNOWN,
		.size = -1,
		.pushed = RS_TIME_UNKNOWN,
		.invalid_name = invalid,
	};
	return repo->images[repo->count++].tag;
}

/* The tag list is complete (images no longer move): fetch every tag's manifest. */
static void tags_end(void *arg, const struct http_response *resp, const char *why)
{
	struct repo_scan *rs = arg;
	unsigned more = RS_NEED_CREATED | RS_NEED_LABELS | RS_NEED_SIZE;
	enum http_method method = rs->scan->needs & (more | REG_NEED_GRAPH) ? HTTP_GET : HTTP_HEAD;

	if (resp && !why && name_unknown(resp)) {
		log_msg(RS_LOG_DEBUG, "%s: no tags (the registry knows no such repository): nothing "
				     "to do", rs->repo->name);
		rs->repo->count = 0;
	} else if (resp) {
		/* What a list that did not end gave is neither complete nor trusted (and may be a
		 * million names): the repository is left untouched without it. */
		repo_http_error(rs, resp, why);
		free(rs->repo->images);
		rs->repo->images = NULL;
		rs->repo->count = rs->cap = 0;
		return;
	}
	if (rs->invalid_names == 1)
		log_msg(RS_LOG_WARN, "%s: tag \"%s\" is outside the tag grammar: kept, with the "
				     "image it names", rs->repo->name, rs->first_invalid);
	else if (rs->invalid_names)
		log_msg(RS_LOG_WARN, "%s: %zu tags outside the tag grammar (the first: \"%s\"): "
				     "kept, with the images they name",
			rs->repo->name, rs->invalid_names, rs->first_invalid);
	/* The list grew by doubling, and the pages' parse trees came and went around it: give
	 * back the holes a long one left before the manifests come in. */
	if (rs->repo->count >= TAGS_QUEUED)
		util_heap_trim();
	rs->tags = xcalloc(rs->repo->count + 1, sizeof(*rs->tags));
	progress_grow(rs->repo->count);
	for (size_t i = 0; i < rs->repo->count; i++)
		rs->tags[i] = (struct tag_job){rs, i, TAG_PENDING};
	rs->tag_method = method;
	tags_feed(rs, TAGS_QUEUED);
}

/* The fetch itself lives in the scan's work pool; only a waiter never served is its own. */
static void fetch_free(struct fetch *f)
{
	struct waiter *w;

	while ((w = f->waiters)) {
		f->waiters = w->next;
		free(w);
	}
}

static int by_manifest_digest(const void *a, const void *b)
{
	return strcmp(((const struct reg_manifest *)a)->digest,
		      ((const struct reg_manifest *)b)->digest);
}

/* Makes the manifests read repo->manifests, sorted for registry_manifest. */
static void graph_collect(struct repo_scan *rs)
{
	struct reg_repo *repo = rs->repo;

	if (!rs->node_count) { /* none read, or only leaves REG_GRAPH_REFS let go */
		free(rs->nodes);
		rs->nodes = NULL;
		return;
	}
	repo->manifests = xrealloc(rs->nodes, rs->node_count * sizeof(*rs->nodes));
	repo->manifest_count = rs->node_count;
	rs->nodes = NULL;
	qsort(repo->manifests, repo->manifest_count, sizeof(*repo->manifests), by_manifest_digest);
}

void registry_adopt_manifests(struct reg_repo *repo, const struct reg_manifest *m, size_t n)
{
	repo->manifests =
	    xrealloc(repo->manifests, (repo->manifest_count + n + 1) * sizeof(*repo->manifests));
	for (size_t i = 0; i < n; i++)
		if (!registry_manifest(repo, m[i].digest))
			repo->manifests[repo->manifest_count++] = m[i];
	qsort(repo->manifests, repo->manifest_count, sizeof(*repo->manifests),
	      by_manifest_digest);
}

const struct reg_manifest *registry_manifest(const struct reg_repo *repo, const char *digest)
{
	struct reg_manifest key = {.digest = (char *)digest};

	if (!repo->manifest_count)
		return NULL;
	return bsearch(&key, repo->manifests, repo->manifest_count, sizeof(key),
		       by_manifest_digest);
}

/* After the run: flag what never completed, drop vanished tags, free the scan state. */
static void repo_finish(struct repo_scan *rs)
{
	struct reg_repo *repo = rs->repo;
	size_t kept = 0;

	for (size_t i = 0; rs->tags && i < repo->count; i++) {
		if (rs->tags[i].state == TAG_PENDING)
			repo_error(rs, "%s: manifest references never resolved",
				   repo->images[i].tag);
		if (rs->tags[i].state != TAG_GONE)
			repo->images[kept++] = repo->images[i];
	}
	if (rs->tags)
		repo->count = kept;
	/* The list grew by doubling: give back what it will not use. */
	if (repo->images)
		repo->images = xrealloc(repo->images, (repo->count + 1) * sizeof(*repo->images));
	graph_collect(rs);
	for (size_t i = 0; i < rs->table_size; i++)
		if (rs->table[i])
			fetch_free(rs->table[i]);
	free(rs->table);
	free(rs->tags);
	strmap_free(&rs->blobs);
	buf_free(&rs->url);
	buf_free(&rs->text);
	pager_free(&rs->pager);
}

int registry_scan(struct registry *r, char *const *repos, size_t count, unsigned needs,
		  struct reg_scan *out, struct rs_err *e)
{
	struct scan scan = {r, needs, pool_new(), needs & REG_NEED_BODIES ? pool_new() : NULL,
			    pool_new()};
	struct repo_scan *rss = xcalloc(count, sizeof(*rss));
	size_t before = http_requests(r->http), failed = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	out->pool = scan.pool;
	out->bodies = scan.bodies;
	out->repos = xcalloc(count, sizeof(*out->repos));
	out->count = count;
	for (size_t i = 0; i < count; i++) {
		struct repo_scan *rs = &rss[i];

		rs->scan = &scan;
		rs->repo = &out->repos[i];
		rs->repo->name = pool_strdup(scan.pool, repos[i]);
		if (!util_valid_repo_name(repos[i])) {
			repo_error(rs, "invalid repository name");
			continue;
		}
		rs->pager = (struct pager){.r = r, .key = "tags", .name = rs->repo->name,
					   .item = tags_item, .end = tags_end, .arg = rs};
		build_url(&rs->url, r, repos[i], "tags/list" PAGE, NULL);
		pager_start(&rs->pager, rs->url.data);
	}
	progress_begin("scan", 0);
	rc = http_run(r->http, e);
	progress_end();
	for (size_t i = 0; i < count; i++) {
		repo_finish(&rss[i]);
		failed += out->repos[i].error != NULL;
	}
	pool_free(scan.work);
	free(rss);
	/* What comes next (a plan of every tag) is not counted on top of the holes that the
	 * requests' buffers and parse trees leave. */
	util_heap_trim();
	out->requests = http_requests(r->http) - before;
	if (rc == 0 && (count == 0 || failed < count))
		return 0;
	err_set(e, "%s", out->repos[0].error);
	registry_scan_free(out);
	return -1;
}

void registry_scan_drop_images(struct reg_scan *scan)
{
	for (size_t i = 0; i < scan->count; i++) {
		free(scan->repos[i].images);
		scan->repos[i].images = NULL;
		scan->repos[i].count = 0;
	}
}

void registry_scan_free(struct reg_scan *scan)
{
	for (size_t i = 0; i < scan->count; i++) {
		struct reg_repo *repo = &scan->repos[i];

		free(repo->images);
		free(repo->manifests);
		free(repo->error);
		free(repo->untagged);
	}
	free(scan->repos);
	pool_free(scan->pool);
	pool_free(scan->bodies);
	memset(scan, 0, sizeof(*scan));
}

/* Runs the requests a batch function queued, with a progress line for phase.  A failing
 * executor leaves each request's "not sent" in place. */
static void run_batch(struct registry *r, const char *phase, size_t count)
{
	struct rs_err e = {{0}};

	progress_begin(phase, count);
	if (http_run(r->http, &e) < 0)
		log_msg(RS_LOG_ERROR, "%s", e.msg);
	progress_end();
}

static void on_get(const struct http_response *resp, void *arg)
{
	struct reg_get *g = arg;
	char got[UTIL_SHA256_LEN];

	progress_step();
	g->http_status = resp->status;
	g->error[0] = '\0';
	if (resp->status == 200 && strncmp(g->digest, "sha256:", 7) == 0) {
		util_sha256(resp->body, resp->body_len, got);
		if (strcmp(got, g->digest) == 0) {
			g->body = xstrndup(resp->body, resp->body_len);
			g->body_len = resp->body_len;
			return;
		}
		snprintf(g->error, sizeof(g->error), "the body's digest is %s", got);
	} else if (resp->status == 200) {
		snprintf(g->error, sizeof(g->error), "cannot check a digest in this algorithm");
	} else {
		describe(resp, g->error, sizeof(g->error));
	}
}

void registry_get_manifests(struct registry *r, struct reg_get *gets, size_t count)
{
	struct buf url = {0};

	for (size_t i = 0; i < count; i++) {
		struct reg_get *g = &gets[i];

		*g = (struct reg_get){.repo = g->repo, .digest = g->digest};
		if (!util_valid_repo_name(g->repo) || !util_valid_digest(g->digest)) {
			snprintf(g->error, sizeof(g->error), "invalid repository name or digest");
			continue;
		}
		snprintf(g->error, sizeof(g->error), "not sent");
		build_url(&url, r, g->repo, "manifests/", g->digest);
		http_submit(r->http, HTTP_GET, url.data, manifest_accept, on_get, g);
	}
	buf_free(&url);
	run_batch(r, "read", count);
}

static void on_referrers(const struct http_response *resp, void *arg)
{
	struct reg_referrers *q = arg;
	struct json_span mf[MF_COUNT], v = {NULL, 0};
	struct buf text = {0};
	size_t n;

	progress_step();
	q->http_status = resp->status;
	if (resp->status != 200) {
		describe(resp, q->error, sizeof(q->error));
		return;
	}
	q->error[0] = '\0';
	if (manifest_members(resp->body, resp->body_len, mf) < 0 || !is_array(mf[MF_MANIFESTS])) {
		snprintf(q->error, sizeof(q->error), "not an image index");
		return;
	}
	n = json_count(mf[MF_MANIFESTS]);
	q->found = xcalloc(n + 1, sizeof(*q->found));
	q->media_types = xcalloc(n + 1, sizeof(char *));
	while (json_next(mf[MF_MANIFESTS], NULL, &v)) {
		struct desc d;
		const char *digest, *mt;

		desc_read(v, &d);
		if (!(digest = desc_digest(&d, &text))) {
			snprintf(q->error, sizeof(q->error), "a descriptor without a valid digest");
			break;
		}
		q->found[q->count] = (struct reg_blob){xstrdup(digest), d.size};
		mt = json_string_value(d.media_type, &text);
		q->media_types[q->count++] = mt ? xstrdup(mt) : NULL;
	}
	buf_free(&text);
}

size_t registry_referrers(struct registry *r, struct reg_referrers *qs, size_t count)
{
	struct buf url = {0};
	size_t failed = 0;

	for (size_t i = 0; i < count; i++) {
		struct reg_referrers *q = &qs[i];

		*q = (struct reg_referrers){.repo = q->repo, .digest = q->digest};
		if (!util_valid_repo_name(q->repo) || !util_valid_digest(q->digest)) {
			snprintf(q->error, sizeof(q->error), "invalid repository name or digest");
			continue;
		}
		snprintf(q->error, sizeof(q->error), "not sent");
		build_url(&url, r, q->repo, "referrers/", q->digest);
		http_submit(r->http, HTTP_GET, url.data, "application/vnd.oci.image.index.v1+json",
			    on_referrers, q);
	}
	buf_free(&url);
	run_batch(r, "referrers", count);
	for (size_t i = 0; i < count; i++)
		failed += qs[i].http_status != 200 || qs[i].error[0];
	return failed;
}

void registry_referrers_free(struct reg_referrers *q)
{
	for (size_t i = 0; i < q->count; i++) {
		free(q->found[i].digest);
		free(q->media_types[i]);
	}
	free(q->found);
	free(q->media_types);
	q->found = NULL;
	q->media_types = NULL;
	q->count = 0;
}

static void on_delete(const struct http_response *resp, void *arg)
{
	struct reg_delete *d = arg;

	progress_step();
	d->http_status = resp->status;
	d->ok = (resp->status >= 200 && resp->status < 300) || resp->status == 404;
	d->error[0] = '\0';
	/* Done only when the registry itself said so (http.c follows no DELETE elsewhere).
	 * Unredirected answers, nearly all of them, skip the two URL parses. */
	if (d->ok && strcmp(resp->effective_url, resp->url) != 0 &&
	    !http_same_origin(resp->effective_url, resp->url)) {
		d->ok = 0;
		snprintf(d->error, sizeof(d->error), "answered by another origin, not the registry");
		return;
	}
	if (resp->status == 404 && resp->retried)
		log_msg(RS_LOG_INFO, "%s@%s: already gone, most likely deleted by an earlier "
				     "attempt whose answer was lost", d->repo, d->digest);
	else if (resp->status == 404)
		log_msg(RS_LOG_INFO, "%s@%s: already gone", d->repo, d->digest);
	else if (resp->status == 405)
		snprintf(d->error, sizeof(d->error),
			 "deletion disabled on the registry (storage.delete.enabled)");
	else if (!d->ok)
		describe(resp, d->error, sizeof(d->error));
}

size_t registry_delete(struct registry *r, struct reg_delete *dels, size_t count)
{
	struct buf url = {0};
	size_t failed = 0;

	for (size_t i = 0; i < count; i++) {
		struct reg_delete *d = &dels[i];

		d->http_status = 0;
		d->ok = 0;
		if (!util_valid_repo_name(d->repo) || !util_valid_digest(d->digest)) {
			snprintf(d->error, sizeof(d->error), "invalid repository name or digest");
			continue;
		}
		snprintf(d->error, sizeof(d->error), "not sent");
		build_url(&url, r, d->repo, "manifests/", d->digest);
		http_submit(r->http, HTTP_DELETE, url.data, NULL, on_delete, d);
	}
	buf_free(&url);
	run_batch(r, "delete", count);
	for (size_t i = 0; i < count; i++)
		failed += !dels[i].ok;
	return failed;
}

static void on_put(const struct http_response *resp, void *arg)
{
	struct reg_put *p = arg;

	progress_step();
	p->http_status = resp->status;
	p->ok = resp->status >= 200 && resp->status < 300;
	p->error[0] = '\0';
	if (!p->ok)
		describe(resp, p->error, sizeof(p->error));
}

size_t registry_put(struct registry *r, struct reg_put *puts, size_t count)
{
	struct buf url = {0};
	size_t failed = 0;

	for (size_t i = 0; i < count; i++) {
		struct reg_put *p = &puts[i];

		p->http_status = 0;
		p->ok = 0;
		if (!util_valid_repo_name(p->repo) ||
		    !(util_valid_tag(p->ref) || util_valid_digest(p->ref))) {
			snprintf(p->error, sizeof(p->error), "invalid repository name or reference");
			continue;
		}
		/* Without one the registry cannot tell which kind of manifest the body is. */
		if (!p->media_type || !p->media_type[0]) {
			snprintf(p->error, sizeof(p->error), "no media type to send");
			continue;
		}
		/* It comes from a file: no control character may end the header line early. */
		if (!util_printable(p->media_type)) {
			snprintf(p->error, sizeof(p->error), "invalid media type");
			continue;
		}
		snprintf(p->error, sizeof(p->error), "not sent");
		build_url(&url, r, p->repo, "manifests/", p->ref);
		http_submit_body(r->http, HTTP_PUT, url.data, NULL, p->media_type, p->body,
				 p->body_len, on_put, p);
	}
	buf_free(&url);
	run_batch(r, "restore", count);
	for (size_t i = 0; i < count; i++)
		failed += !puts[i].ok;
	return failed;
}
