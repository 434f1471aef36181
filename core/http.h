/* http.h - the one place HTTP requests are made: a libcurl multi executor with a request
 * queue, bounded concurrency, reused handles and kept-alive connections. */
#ifndef RS_HTTP_H
#define RS_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

enum http_method { HTTP_GET = 0, HTTP_HEAD, HTTP_DELETE };

struct http_opts {
	int concurrency;         /* transfers in flight at once (and connections kept), >= 1 */
	long timeout_ms;         /* whole transfer, counted from its start, not while queued */
	long connect_timeout_ms; /* TCP (later TLS) connect */
	size_t max_body;         /* a longer response body fails that request */
};

/* What a completion callback is given.  Everything is borrowed for the callback's duration
 * only: copy what must outlive it. */
struct http_response {
	enum http_method method;
	const char *url;           /* as submitted */
	const char *effective_url; /* after redirects: relative references resolve against it */
	long status;               /* HTTP status, 0 when no usable response (see error) */
	const char *error;         /* status 0: one line, "Couldn't connect to server" */
	const char *body;          /* NUL-terminated, "" when empty or HEAD */
	size_t body_len;
	/* Header values, NULL when absent; repeated Link headers are joined with ", ". */
	const char *content_type;
	const char *digest; /* Docker-Content-Digest */
	const char *link;
	int64_t content_length; /* -1 when absent */
};

struct http;

/* Returns an executor owned by the caller (free with http_free), or NULL with e set. */
struct http *http_new(const struct http_opts *opts, struct rs_err *e);
/* Frees the executor; requests still queued are dropped without their callbacks. */
void http_free(struct http *h);

/* Queue one request.  url and accept (NULL: libcurl's default) are copied.  done is called
 * once, from http_run, with arg (unless the executor fails, see there); it may submit
 * further requests. */
void http_submit(struct http *h, enum http_method method, const char *url, const char *accept,
		 void (*done)(const struct http_response *resp, void *arg), void *arg);

/* Run until the queue and the in-flight set are both empty.  0, or -1 with e set when the
 * executor itself failed: then every pending request is dropped without its callback. */
int http_run(struct http *h, struct rs_err *e);

/* Requests started so far (a followed redirect is not counted again). */
size_t http_requests(const struct http *h);

/* "GET", "HEAD" or "DELETE"; static. */
const char *http_method_name(enum http_method method);

/* The target of the response's Link rel="next" (RFC 8288), resolved against the effective
 * URL: a caller-owned string, or NULL when there is none. */
char *http_link_next(const struct http_response *resp);

#endif
