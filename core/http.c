/* http.c - libcurl multi executor: a FIFO of requests, at most `concurrency` transfers in
 * flight on reused easy handles over kept-alive connections, one submit and one completion
 * path. */
#define _GNU_SOURCE
#include "http.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "log.h"

#ifndef RS_VERSION
#define RS_VERSION "dev"
#endif

struct http_req {
	struct http_req *next;
	enum http_method method;
	struct curl_slist *headers; /* borrowed from the executor's accept cache */
	void (*done)(const struct http_response *resp, void *arg);
	void *arg;
	char url[];
};

/* One easy handle with the buffers it reuses from transfer to transfer. */
struct xfer {
	struct xfer *next_free;
	struct http *h;
	CURL *easy;
	struct http_req *req; /* NULL while idle */
	struct buf body;
	struct buf content_type;
	struct buf digest;
	struct buf link;
	int64_t content_length;
	int too_big;
	char errbuf[CURL_ERROR_SIZE];
};

/* Header lists are built once per distinct Accept value, not per request. */
struct accept_hdr {
	struct accept_hdr *next;
	struct curl_slist *list;
	char value[];
};

struct http {
	struct http_opts opts;
	CURLM *multi;
	struct http_req *head, *tail; /* the queue */
	struct xfer **xfers;          /* every easy handle made, at most concurrency */
	size_t nxfers;
	struct xfer *idle;
	size_t running;
	size_t requests;
	struct accept_hdr *accepts;
};

static const char *const method_names[] = {"GET", "HEAD", "DELETE"};

const char *http_method_name(enum http_method method)
{
	return method_names[method];
}

static void reset_buf(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;

	if (x->body.len + len > x->h->opts.max_body) {
		x->too_big = 1;
		return 0; /* makes libcurl abort the transfer with CURLE_WRITE_ERROR */
	}
	buf_append(&x->body, data, len);
	return len;
}

static int header_is(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

/* Keeps only the few headers the clients read; called once per header line. */
static size_t on_header(char *line, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n, name_len;
	const char *colon, *v, *end = line + len;
	struct buf *dst;

	/* A status line starts a new response (redirect, 100 Continue): forget the last one's. */
	if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
		reset_buf(&x->content_type);
		reset_buf(&x->digest);
		reset_buf(&x->link);
		x->content_length = -1;
		return len;
	}
	colon = memchr(line, ':', len);
	if (!colon)
		return len;
	name_len = (size_t)(colon - line);
	for (v = colon + 1; v < end && (*v == ' ' || *v == '\t'); v++)
		;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (header_is(line, name_len, "content-length")) {
		char tmp[24];
		size_t vlen = (size_t)(end - v);

		if (vlen && vlen < sizeof(tmp)) {
			memcpy(tmp, v, vlen);
			tmp[vlen] = '\0';
			x->content_length = strtoll(tmp, NULL, 10);
		}
		/* Refuse an announced oversized body before reading it (HEAD announces, sends
		 * nothing). */
		if (x->req->method != HTTP_HEAD && x->content_length > 0 &&
		    (uint64_t)x->content_length > x->h->opts.max_body) {
			x->too_big = 1;
			return 0;
		}
		return len;
	}
	if (header_is(line, name_len, "content-type"))
		dst = &x->content_type;
	else if (header_is(line, name_len, "docker-content-digest"))
		dst = &x->digest;
	else if (header_is(line, name_len, "link"))
		dst = &x->link;
	else
		return len;
	if (dst == &x->link && dst->len)
		buf_append(dst, ", ", 2); /* repeated fields combine as a list (RFC 9110 5.3) */
	else
		reset_buf(dst);
	buf_append(dst, v, (size_t)(end - v));
	return len;
}

static void die_nomem(void)
{
	log_msg(RS_LOG_ERROR, "out of memory");
	abort();
}

/* A new easy handle carrying every option that does not change between requests. */
static struct xfer *xfer_new(struct http *h)
{
	struct xfer *x = xcalloc(1, sizeof(*x));
	CURL *c = curl_easy_init();

	if (!c)
		die_nomem(); /* curl_easy_init fails only when allocation does */
	x->h = h;
	x->easy = c;
	curl_easy_setopt(c, CURLOPT_PRIVATE, x);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "regsweep/" RS_VERSION);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	/* Blob GETs may be redirected to storage (S3, GCS) by real registries. */
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->opts.connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, h->opts.timeout_ms);
	h->xfers = xrealloc(h->xfers, (h->nxfers + 1) * sizeof(*h->xfers));
	h->xfers[h->nxfers++] = x;
	return x;
}

struct http *http_new(const struct http_opts *opts, struct rs_err *e)
{
	struct http *h;
	long n;

	if (opts->concurrency < 1 || opts->max_body == 0) {
		err_set(e, "http: concurrency must be at least 1 and max_body positive");
		return NULL;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		err_set(e, "cannot initialise libcurl");
		return NULL;
	}
	h = xcalloc(1, sizeof(*h));
	h->opts = *opts;
	h->multi = curl_multi_init();
	if (!h->multi)
		die_nomem();
	n = opts->concurrency;
	/* One kept-alive connection per transfer slot, and no more cached than that. */
	curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, n);
	curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, n);
	return h;
}

static void drop_pending(struct http *h)
{
	struct http_req *r;

	for (size_t i = 0; i < h->nxfers; i++) {
		struct xfer *x = h->xfers[i];

		if (!x->req)
			continue;
		curl_multi_remove_handle(h->multi, x->easy);
		free(x->req);
		x->req = NULL;
		x->next_free = h->idle;
		h->idle = x;
	}
	h->running = 0;
	while ((r = h->head)) {
		h->head = r->next;
		free(r);
	}
	h->tail = NULL;
}

void http_free(struct http *h)
{
	struct accept_hdr *a;

	if (!h)
		return;
	drop_pending(h);
	for (size_t i = 0; i < h->nxfers; i++) {
		struct xfer *x = h->xfers[i];

		curl_easy_cleanup(x->easy);
		buf_free(&x->body);
		buf_free(&x->content_type);
		buf_free(&x->digest);
		buf_free(&x->link);
		free(x);
	}
	free(h->xfers);
	curl_multi_cleanup(h->multi);
	while ((a = h->accepts)) {
		h->accepts = a->next;
		curl_slist_free_all(a->list);
		free(a);
	}
	free(h);
	curl_global_cleanup();
}

static struct curl_slist *accept_headers(struct http *h, const char *accept)
{
	struct accept_hdr *a;
	char *line;

	if (!accept)
		return NULL;
	for (a = h->accepts; a; a = a->next)
		if (strcmp(a->value, accept) == 0)
			return a->list;
	a = xmalloc(sizeof(*a) + strlen(accept) + 1);
	strcpy(a->value, accept);
	line = xasprintf("Accept: %s", accept);
	a->list = curl_slist_append(NULL, line);
	free(line);
	if (!a->list)
		die_nomem();
	a->next = h->accepts;
	h->accepts = a;
	return a->list;
}

void http_submit(struct http *h, enum http_method method, const char *url, const char *accept,
		 void (*done)(const struct http_response *resp, void *arg), void *arg)
{
	size_t len = strlen(url);
	struct http_req *r = xmalloc(sizeof(*r) + len + 1);

	memcpy(r->url, url, len + 1);
	r->next = NULL;
	r->method = method;
	r->headers = accept_headers(h, accept);
	r->done = done;
	r->arg = arg;
	if (h->tail)
		h->tail->next = r;
	else
		h->head = r;
	h->tail = r;
}

/* The single completion path: every request ends here, answered or not. */
static void finish(struct http *h, struct xfer *x, CURLcode code)
{
	struct http_req *req = x->req;
	struct http_response resp = {
		.method = req->method,
		.url = req->url,
		.effective_url = req->url,
		.body = "",
		.content_length = -1,
	};
	char *eff = NULL;

	if (curl_easy_getinfo(x->easy, CURLINFO_EFFECTIVE_URL, &eff) == CURLE_OK && eff)
		resp.effective_url = eff;
	if (code == CURLE_OK) {
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &resp.status);
		if (x->body.len)
			resp.body = x->body.data;
		resp.body_len = x->body.len;
		resp.content_type = x->content_type.len ? x->content_type.data : NULL;
		resp.digest = x->digest.len ? x->digest.data : NULL;
		resp.link = x->link.len ? x->link.data : NULL;
		resp.content_length = x->content_length;
	} else if (x->too_big) {
		snprintf(x->errbuf, sizeof(x->errbuf), "response body over %zu bytes",
			 h->opts.max_body);
		resp.error = x->errbuf;
	} else {
		/* The short text is stable for messages; libcurl's detailed one goes to -v. */
		resp.error = curl_easy_strerror(code);
		log_msg(RS_LOG_DEBUG, "%s %s: %s", method_names[req->method], req->url,
			x->errbuf[0] ? x->errbuf : resp.error);
	}
	req->done(&resp, req->arg);
	free(req);
	x->req = NULL;
	x->next_free = h->idle;
	h->idle = x;
}

/* The single submit path: hands the queue's head to an idle (or new) easy handle. */
static void start(struct http *h)
{
	struct http_req *req = h->head;
	struct xfer *x = h->idle;
	CURL *c;
	CURLMcode mc;

	h->head = req->next;
	if (!h->head)
		h->tail = NULL;
	if (x)
		h->idle = x->next_free;
	else
		x = xfer_new(h);
	c = x->easy;
	x->req = req;
	reset_buf(&x->body);
	reset_buf(&x->content_type);
	reset_buf(&x->digest);
	reset_buf(&x->link);
	x->content_length = -1;
	x->too_big = 0;
	x->errbuf[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, (const char *)req->url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, req->headers);
	/* A reused handle keeps the last method: set all of it every time. */
	curl_easy_setopt(c, CURLOPT_NOBODY, req->method == HTTP_HEAD ? 1L : 0L);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method == HTTP_DELETE ? "DELETE" : NULL);
	h->requests++;
	mc = curl_multi_add_handle(h->multi, c);
	if (mc != CURLM_OK) {
		snprintf(x->errbuf, sizeof(x->errbuf), "%s", curl_multi_strerror(mc));
		finish(h, x, CURLE_FAILED_INIT);
		return;
	}
	h->running++;
}

static void drain(struct http *h)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(h->multi, &left))) {
		CURL *c = msg->easy_handle;
		CURLcode code = msg->data.result;
		char *priv = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		/* msg does not survive curl_multi_remove_handle: everything was copied above. */
		curl_easy_getinfo(c, CURLINFO_PRIVATE, &priv);
		curl_multi_remove_handle(h->multi, c);
		h->running--;
		finish(h, (struct xfer *)priv, code);
	}
}

int http_run(struct http *h, struct rs_err *e)
{
	size_t limit = (size_t)h->opts.concurrency;
	CURLMcode mc = CURLM_OK;
	int still;

	for (;;) {
		while (h->head && h->running < limit)
			start(h);
		if (!h->running) {
			if (!h->head)
				return 0;
			continue; /* a start failed at once and its callback queued more */
		}
		/* Wait before performing, with freed slots already refilled: a new handle makes
		 * libcurl's timer due so this returns at once, and perform then finds sockets
		 * ready instead of checking each transfer for nothing. */
		mc = curl_multi_poll(h->multi, NULL, 0, 1000, NULL);
		if (mc == CURLM_OK)
			mc = curl_multi_perform(h->multi, &still);
		if (mc != CURLM_OK)
			break;
		drain(h);
	}
	err_set(e, "http: %s", curl_multi_strerror(mc));
	drop_pending(h);
	return -1;
}

size_t http_requests(const struct http *h)
{
	return h->requests;
}

/* Whether one Link entry's parameters (s, n bytes) name the relation "next", as rel=next or
 * among a quoted list, rel="prev next". */
static int link_is_next(const char *s, size_t n)
{
	const char *end = s + n;

	for (const char *p = s; p + 3 <= end; p++) {
		const char *v = p + 3;
		int quoted;

		if (strncasecmp(p, "rel", 3) != 0 || (p > s && p[-1] != ';' && p[-1] != ' '))
			continue;
		while (v < end && *v == ' ')
			v++;
		if (v >= end || *v != '=')
			continue;
		for (v++; v < end && *v == ' '; v++)
			;
		quoted = v < end && *v == '"';
		v += quoted;
		while (v < end) {
			const char *t = v;

			while (t < end && *t != ' ' && *t != '"' && *t != ';' && *t != ',')
				t++;
			if (t - v == 4 && strncasecmp(v, "next", 4) == 0)
				return 1;
			if (!quoted || t >= end || *t != ' ')
				break;
			v = t + 1;
		}
	}
	return 0;
}

static char *resolve(const char *base, const char *ref, size_t len)
{
	CURLU *u = curl_url();
	char *target = xstrndup(ref, len), *out = NULL, *copy = NULL;

	if (!u)
		die_nomem();
	/* Setting a relative URL on a handle that holds one resolves it (RFC 3986 5.2). */
	if (curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_URL, target, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_URL, &out, 0) == CURLUE_OK)
		copy = xstrdup(out);
	curl_free(out);
	curl_url_cleanup(u);
	free(target);
	return copy;
}

char *http_link_next(const struct http_response *resp)
{
	const char *p = resp->link;

	while (p && (p = strchr(p, '<'))) {
		const char *close = strchr(p, '>'), *params;
		size_t n;

		if (!close)
			return NULL;
		params = close + 1;
		n = strcspn(params, "<");
		if (link_is_next(params, n))
			return resolve(resp->effective_url, p + 1, (size_t)(close - p - 1));
		p = params + n;
	}
	return NULL;
}
