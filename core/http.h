/* http.h - the one place HTTP requests are made: a libcurl multi executor driven by epoll,
 * with a request queue, bounded concurrency, reused handles, kept-alive (or, over TLS,
 * HTTP/2-multiplexed) connections, retries with backoff, pacing and credentials. */
#ifndef RS_HTTP_H
#define RS_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "netopts.h"
#include "util.h"

enum http_method { HTTP_GET = 0, HTTP_HEAD, HTTP_DELETE, HTTP_PUT };

struct http_opts {
	int concurrency; /* transfers in flight at once (and connections kept), >= 1 */
	size_t max_body; /* a longer response body fails that request */
	/* TLS files, connect timeout, timeout of each attempt (from its start, not while
	 * queued), retries and max_rps (a token bucket paces starts); read by http_new only. */
	const struct net_opts *net;
	struct auth *auth; /* borrowed for the executor's life; NULL: send no credentials */
};

/* What a completion callback is given.  Everything is borrowed for the callback's duration
 * only: copy what must outlive it. */
struct http_response {
	enum http_method method;
	const char *url;           /* as submitted */
	const char *effective_url; /* after redirects: relative references resolve against it */
	long status;               /* HTTP status, 0 when no usable response (see error) */
	/* One line or NULL.  Status 0: why there is no response ("Couldn't connect to server",
	 * "interrupted"); 401: why the credentials did not do ("registry refused the
	 * credentials of user ci"). */
	const char *error;
	const char *body; /* NUL-terminated, "" when empty or HEAD */
	size_t body_len;
	/* Header values, NULL when absent; repeated Link headers are joined with ", ". */
	const char *content_type;
	const char *digest; /* Docker-Content-Digest */
	const char *link;
	int64_t content_length; /* -1 when absent */
	int retried; /* times sent again after a retryable failure: an earlier one may have
		      * done the work, its answer lost */
};

struct http;

/* Returns an executor owned by the caller (free with http_free), or NULL with e set. */
struct http *http_new(const struct http_opts *opts, struct rs_err *e);
/* Frees the executor; requests still queued are dropped without their callbacks. */
void http_free(struct http *h);

/* Queue one request.  url and accept (NULL: libcurl's default) are copied.  done is called
 * once, from http_run, with arg (unless the executor fails, see there); it may submit
 * further requests.
 *
 * Connection failures and timeouts, 429, 502, 503 and 504 are tried again up to
 * net->retries more times, after 250 ms * 2^n (+-50% jitter, at most 10 s) or the
 * Retry-After the answer names (at most 60 s); done sees the last attempt.  A 401 goes to
 * auth_challenge and the request is sent again when it says so, at most twice.
 *
 * A redirect (301, 302, 303, 307, 308) is followed to the origin of url only (scheme, host
 * and port), at most 5 times, a DELETE or PUT only on 307 or 308; any other redirect is
 * the answer, with error saying why it was not followed ("a redirect to another origin,
 * http://10.0.0.9:80, not followed"). */
void http_submit(struct http *h, enum http_method method, const char *url, const char *accept,
		 void (*done)(const struct http_response *resp, void *arg), void *arg);

/* http_submit for a GET or HEAD that may also follow a redirect to another origin (a
 * registry sending a blob to storage).  No credentials go there, and a 401 from there is
 * the answer: nothing is fetched from a realm it names. */
void http_submit_offsite(struct http *h, enum http_method method, const char *url,
			 const char *accept,
			 void (*done)(const struct http_response *resp, void *arg), void *arg);

/* http_submit with a request body, sent with HTTP_PUT only (ignored otherwise) and again
 * with every retry and re-send.  content_type and the body_len bytes at body (NULL when
 * body_len is 0) are copied; without a content_type, libcurl sends its default for a body,
 * application/x-www-form-urlencoded. */
void http_submit_body(struct http *h, enum http_method method, const char *url,
		      const char *accept, const char *content_type, const char *body,
		      size_t body_len, void (*done)(const struct http_response *resp, void *arg),
		      void *arg);

/* Run until the queue, the retry timers and the in-flight set are all empty.  0, or -1
 * with e set when the executor itself failed: then every pending request is dropped without
 * its callback. */
int http_run(struct http *h, struct rs_err *e);

/* Async-signal-safe: from now on no request is started or retried; queued ones complete
 * with status 0 and error "interrupted", those in flight finish normally.  For the whole
 * process, for good. */
void http_interrupt(void);
int http_interrupted(void);

/* Transfers started so far: retries and re-sends count, a followed redirect does not. */
size_t http_requests(const struct http *h);

/* "GET", "HEAD", "DELETE" or "PUT"; static. */
const char *http_method_name(enum http_method method);

/* The target of the response's Link rel="next" (RFC 8288), resolved against the effective
 * URL: a caller-owned string, or NULL when there is none. */
char *http_link_next(const struct http_response *resp);

/* "scheme://host:port" of url, the port filled in when url names none (http: 80): a
 * caller-owned string, or NULL when url does not parse. */
char *http_origin(const char *url);

/* 1 when both URLs parse and have the same origin (RFC 6454: scheme, host, port). */
int http_same_origin(const char *a, const char *b);

#endif
