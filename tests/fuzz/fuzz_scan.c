/* fuzz_scan.c - what a scan reads from a registry: _catalog and tags/list pages (their JSON
 * and Link pagination), the manifests of tags and their children, config blobs, digests
 * and Content-Types, through registry_catalog and registry_scan.
 *
 * Those handlers are reached only through http.c, so this harness is linked with
 * -Wl,--wrap for http.c's executor (see CMakeLists.txt): registry.c's requests go to the
 * scripted registry below instead of the network, and http_link_next stays the real one.
 *
 * The input is documents separated by lines "%%", each header lines, an empty line and a
 * body:
 *   For: catalog | tags    a page, served in order to _catalog or tags/list requests
 *   For: TAG               the manifest served for manifests/TAG
 *   Status: N              default 200; outside 100..599: no response (status 0)
 *   Content-Type: T
 *   Link: L
 *   Digest: D | none       Docker-Content-Digest; default the body's own
 *   Needs: WORDS           what the scan asks: digest created labels size graph blobs
 * Every document is also served by its digest (manifests/<d>, blobs/<d>).  "{{N}}" in a
 * body or a header value stands for the digest of document N (counted from 0), when N comes
 * after the document it is in: a registry's content-addressed graph, which the fuzzer could
 * not hash by itself.  A document whose first line is not a header line is all body.
 *
 * With RS_FUZZ_TRACE set, each request, its answer and the scan's result go to stderr:
 * for writing seeds (fuzz_scan FILE). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "http.h"
#include "registry.h"

#define DOCS_MAX 64
#define REQUESTS_MAX 4096 /* a loop through Link headers still ends */
#define REPOS_MAX 4

struct doc {
	char *for_;
	long status;
	char *content_type, *link, *digest_header;
	int no_digest;
	unsigned needs;
	int has_needs;
	char *body;
	size_t body_len;
	char digest[UTIL_SHA256_LEN];
	int served; /* a page: given out already */
};

struct request {
	enum http_method method;
	char *url;
	void (*done)(const struct http_response *resp, void *arg);
	void *arg;
};

static struct {
	struct doc docs[DOCS_MAX];
	size_t ndocs;
	struct request *queue;
	size_t head, count, cap;
	size_t requests;
	int trace;
} reg;

/* The wrapped executor; registry.c's calls come here. */
struct http *__wrap_http_new(const struct http_opts *opts, struct rs_err *e);
void __wrap_http_free(struct http *h);
void __wrap_http_submit(struct http *h, enum http_method method, const char *url,
			const char *accept,
			void (*done)(const struct http_response *resp, void *arg), void *arg);
void __wrap_http_submit_body(struct http *h, enum http_method method, const char *url,
			     const char *accept, const char *content_type, const char *body,
			     size_t body_len,
			     void (*done)(const struct http_response *resp, void *arg),
			     void *arg);
void __wrap_http_submit_offsite(struct http *h, enum http_method method, const char *url,
				const char *accept,
				void (*done)(const struct http_response *resp, void *arg),
				void *arg);
int __wrap_http_run(struct http *h, struct rs_err *e);
size_t __wrap_http_requests(const struct http *h);

static void drop_queue(void)
{
	for (size_t i = reg.head; i < reg.count; i++)
		free(reg.queue[i].url);
	free(reg.queue);
	reg.queue = NULL;
	reg.head = reg.count = reg.cap = 0;
}

struct http *__wrap_http_new(const struct http_opts *opts, struct rs_err *e)
{
	static char handle;

	(void)opts;
	(void)e;
	return (struct http *)&handle;
}

void __wrap_http_free(struct http *h)
{
	(void)h;
	drop_queue();
}

void __wrap_http_submit(struct http *h, enum http_method method, const char *url,
			const char *accept,
			void (*done)(const struct http_response *resp, void *arg), void *arg)
{
	(void)h;
	(void)accept;
	if (reg.count == reg.cap) {
		reg.cap = reg.cap ? reg.cap * 2 : 16;
		reg.queue = xrealloc(reg.queue, reg.cap * sizeof(*reg.queue));
	}
	reg.queue[reg.count++] = (struct request){method, xstrdup(url), done, arg};
}

void __wrap_http_submit_body(struct http *h, enum http_method method, const char *url,
			     const char *accept, const char *content_type, const char *body,
			     size_t body_len,
			     void (*done)(const struct http_response *resp, void *arg), void *arg)
{
	(void)content_type;
	(void)body;
	(void)body_len;
	__wrap_http_submit(h, method, url, accept, done, arg);
}

/* A redirect elsewhere is never part of the script: the same as http_submit here. */
void __wrap_http_submit_offsite(struct http *h, enum http_method method, const char *url,
				const char *accept,
				void (*done)(const struct http_response *resp, void *arg),
				void *arg)
{
	__wrap_http_submit(h, method, url, accept, done, arg);
}

size_t __wrap_http_requests(const struct http *h)
{
	(void)h;
	return reg.requests;
}

/* The next page of kind ("catalog" or "tags") not yet served. */
static struct doc *next_page(const char *kind)
{
	for (size_t i = 0; i < reg.ndocs; i++) {
		struct doc *d = &reg.docs[i];

		if (!d->served && d->for_ && strcmp(d->for_, kind) == 0) {
			d->served = 1;
			return d;
		}
	}
	return NULL;
}

static struct doc *find(const char *ref, size_t n, int by_digest)
{
	for (size_t i = 0; i < reg.ndocs; i++) {
		struct doc *d = &reg.docs[i];
		const char *key = by_digest ? d->digest : d->for_;

		if (key && strlen(key) == n && strncmp(key, ref, n) == 0)
			return d;
	}
	return NULL;
}

/* The document a URL asks for, NULL for a 404; *unknown is the error code to answer it
 * with. */
static struct doc *route(const char *url, const char **unknown)
{
	const char *path = strstr(url, "/v2/"), *m, *b, *ref;
	size_t n;

	*unknown = "NAME_UNKNOWN";
	if (!path)
		return NULL;
	if (strstr(path, "/_catalog"))
		return next_page("catalog");
	if (strstr(path, "/tags/list"))
		return next_page("tags");
	m = strstr(path, "/manifests/");
	b = strstr(path, "/blobs/");
	if (!m && !b)
		return NULL;
	*unknown = m ? "MANIFEST_UNKNOWN" : "BLOB_UNKNOWN";
	ref = m ? m + 11 : b + 7;
	n = strcspn(ref, "?#");
	return find(ref, n, memchr(ref, ':', n) != NULL);
}

static void serve(const struct request *rq)
{
	const char *unknown;
	const struct doc *d = route(rq->url, &unknown);
	char error[128];
	struct http_response resp = {
		.method = rq->method,
		.url = rq->url,
		.effective_url = rq->url,
		.content_length = -1,
	};

	if (d && (d->status < 100 || d->status > 599)) {
		/* As http.c answers when there is no response: status 0 with a reason. */
		resp.error = "Couldn't connect to server";
		resp.body = "";
	} else if (d) {
		resp.status = d->status;
		resp.content_type = d->content_type;
		resp.link = d->link;
		resp.digest = d->no_digest       ? NULL
			      : d->digest_header ? d->digest_header
						 : d->digest;
		resp.content_length = (int64_t)d->body_len;
		resp.body = rq->method == HTTP_HEAD ? "" : d->body;
		resp.body_len = rq->method == HTTP_HEAD ? 0 : d->body_len;
	} else {
		snprintf(error, sizeof(error),
			 "{\"errors\":[{\"code\":\"%s\",\"message\":\"unknown\"}]}", unknown);
		resp.status = 404;
		resp.content_type = "application/json; charset=utf-8";
		resp.body = rq->method == HTTP_HEAD ? "" : error;
		resp.body_len = strlen(resp.body);
	}
	if (reg.trace)
		fprintf(stderr, "fuzz_scan: %s %s -> %ld\n", http_method_name(rq->method), rq->url,
			resp.status);
	rq->done(&resp, rq->arg);
}

int __wrap_http_run(struct http *h, struct rs_err *e)
{
	(void)h;
	(void)e;
	while (reg.head < reg.count) {
		struct request rq = reg.queue[reg.head++];

		reg.requests++;
		if (reg.requests > REQUESTS_MAX) {
			struct http_response resp = {.method = rq.method, .url = rq.url,
						     .effective_url = rq.url, .body = "",
						     .error = "interrupted", .content_length = -1};

			rq.done(&resp, rq.arg);
		} else {
			serve(&rq);
		}
		free(rq.url);
	}
	drop_queue();
	return 0;
}

/* --- the input --- */

static unsigned needs_of(const char *words)
{
	static const struct {
		const char *word;
		unsigned bit;
	} bits[] = {
		{"digest", RS_NEED_DIGEST}, {"created", RS_NEED_CREATED},
		{"labels", RS_NEED_LABELS}, {"size", RS_NEED_SIZE},
		{"graph", REG_NEED_GRAPH},  {"blobs", REG_NEED_BLOBS},
		{"layers", REG_NEED_LAYERS},
	};
	unsigned needs = 0;

	for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
		if (strstr(words, bits[i].word))
			needs |= bits[i].bit;
	return needs;
}

/* s with every "{{N}}" for a document after self replaced by its digest (caller frees). */
static char *substitute(const char *s, size_t len, size_t self, size_t *out_len)
{
	struct buf b = {0};

	buf_append(&b, "", 0);
	for (size_t i = 0; i < len;) {
		char *end;
		unsigned long n;

		if (i + 4 < len && s[i] == '{' && s[i + 1] == '{' && s[i + 2] >= '0' &&
		    s[i + 2] <= '9') {
			n = strtoul(s + i + 2, &end, 10);
			if (end + 1 < s + len && end[0] == '}' && end[1] == '}' && n > self &&
			    n < reg.ndocs) {
				buf_append(&b, reg.docs[n].digest, strlen(reg.docs[n].digest));
				i = (size_t)(end + 2 - s);
				continue;
			}
		}
		buf_append(&b, s + i, 1);
		i++;
	}
	*out_len = b.len;
	return b.data;
}

static char *header_value(const char *v, size_t len, size_t self)
{
	size_t n;

	while (len && (*v == ' ' || *v == '\t')) {
		v++;
		len--;
	}
	return substitute(v, len, self, &n);
}

/* One header line of d: name (n bytes) and its value (taken). */
static void set_header(struct doc *d, const char *name, size_t n, char *v)
{
	char **slot = NULL;

	if (n == 3 && strncasecmp(name, "For", 3) == 0)
		slot = &d->for_;
	else if (n == 12 && strncasecmp(name, "Content-Type", 12) == 0)
		slot = &d->content_type;
	else if (n == 4 && strncasecmp(name, "Link", 4) == 0)
		slot = &d->link;
	else if (n == 6 && strncasecmp(name, "Status", 6) == 0)
		d->status = strtol(v, NULL, 10);
	else if (n == 5 && strncasecmp(name, "Needs", 5) == 0)
		d->needs = needs_of(v), d->has_needs = 1;
	else if (n == 6 && strncasecmp(name, "Digest", 6) == 0 && strcmp(v, "none") == 0)
		d->no_digest = 1;
	else if (n == 6 && strncasecmp(name, "Digest", 6) == 0)
		slot = &d->digest_header;
	if (slot && !*slot) { /* a repeated header: the first one counts */
		*slot = v;
		return;
	}
	free(v);
}

/* Splits the input into documents; their digests are computed last to first, so that a
 * document can name the digest of any after it. */
static void load(const char *text, size_t len)
{
	const char *starts[DOCS_MAX], *ends[DOCS_MAX];
	const char *p = text, *end = text + len;

	reg.ndocs = 0;
	while (reg.ndocs < DOCS_MAX) {
		const char *sep = NULL;

		for (const char *q = p; q + 2 <= end; q++)
			if ((q == text || q[-1] == '\n') && memcmp(q, "%%", 2) == 0 &&
			    (q + 2 == end || q[2] == '\n')) {
				sep = q;
				break;
			}
		starts[reg.ndocs] = p;
		/* The newline before "%%" ends the line, not the body. */
		ends[reg.ndocs] = !sep ? end : sep > p && sep[-1] == '\n' ? sep - 1 : sep;
		reg.ndocs++;
		if (!sep)
			break;
		p = sep + 2 + (sep + 2 < end);
	}
	for (size_t i = reg.ndocs; i-- > 0;) {
		struct doc *d = &reg.docs[i];
		const char *q = starts[i], *dend = ends[i];

		*d = (struct doc){.status = 200};
		/* Header lines ("Name: value") up to the first empty one; a document whose first
		 * line is not one is all body. */
		while (q < dend) {
			const char *nl = memchr(q, '\n', (size_t)(dend - q));
			const char *le = nl ? nl : dend, *colon;
			size_t n = strspn(q, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
					     "abcdefghijklmnopqrstuvwxyz-");

			if (le == q) {
				q = le + 1;
				break;
			}
			colon = n && q + n < le && q[n] == ':' ? q + n : NULL;
			if (!colon)
				break;
			set_header(d, q, n, header_value(colon + 1, (size_t)(le - colon - 1), i));
			q = nl ? nl + 1 : dend;
		}
		if (q > dend)
			q = dend;
		d->body = substitute(q, (size_t)(dend - q), i, &d->body_len);
		util_sha256(d->body, d->body_len, d->digest);
	}
}

static void unload(void)
{
	for (size_t i = 0; i < reg.ndocs; i++) {
		struct doc *d = &reg.docs[i];

		free(d->for_);
		free(d->content_type);
		free(d->link);
		free(d->digest_header);
		free(d->body);
	}
	reg.ndocs = 0;
	reg.requests = 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	reg.trace = getenv("RS_FUZZ_TRACE") != NULL;
	if (!reg.trace)
		fuzz_quiet();
	return 0;
}

static void trace_scan(const struct reg_scan *scan, const struct rs_err *e)
{
	if (err_isset(e))
		fprintf(stderr, "fuzz_scan: %s\n", e->msg);
	for (size_t i = 0; i < scan->count; i++) {
		const struct reg_repo *rp = &scan->repos[i];

		fprintf(stderr, "fuzz_scan: %s: %zu tags, %zu manifests%s%s\n", rp->name,
			rp->count, rp->manifest_count, rp->error ? ", error: " : "",
			rp->error ? rp->error : "");
		for (size_t k = 0; k < rp->count; k++)
			fprintf(stderr, "fuzz_scan:   %s %s created %lld size %lld labels %zu\n",
				rp->images[k].tag,
				rp->images[k].digest ? rp->images[k].digest : "-",
				(long long)rp->images[k].created, (long long)rp->images[k].size,
				rp->images[k].label_count);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct registry_opts opts = {.url = "http://127.0.0.1:5000",
						  .concurrency = 4};
	unsigned needs =
	    RS_NEED_CREATED | RS_NEED_LABELS | RS_NEED_SIZE | REG_NEED_GRAPH | REG_NEED_LAYERS;
	char *fallback[] = {"library/app"}, **names = NULL, **repos = fallback;
	size_t count = 0, nrepos = 1;
	struct rs_err e = {{0}};
	struct reg_scan scan;
	struct registry *r;

	char *text = fuzz_string(data, size);

	load(text, size);
	for (size_t i = 0; i < reg.ndocs; i++)
		if (reg.docs[i].has_needs)
			needs = reg.docs[i].needs;
	if (!(r = registry_open(&opts, &e)))
		abort(); /* the harness's own setup */
	if (registry_catalog(r, &names, &count, &e) == 0 && count > 0) {
		repos = names;
		nrepos = count < REPOS_MAX ? count : REPOS_MAX;
	}
	e = (struct rs_err){{0}};
	if (registry_scan(r, repos, nrepos, needs, &scan, &e) == 0) {
		for (size_t i = 0; i < scan.count; i++) {
			const struct reg_repo *rp = &scan.repos[i];

			for (size_t k = 0; k < rp->manifest_count; k++)
				registry_manifest(rp, rp->manifests[k].digest);
		}
	}
	if (reg.trace)
		trace_scan(&scan, &e);
	registry_scan_free(&scan);
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
	registry_close(r);
	unload();
	free(text);
	return 0;
}
