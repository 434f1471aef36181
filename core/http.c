/* http.c - libcurl multi executor: a FIFO of requests, at most `concurrency` transfers in
 * flight on reused easy handles, one submit and one completion path.  libcurl is driven
 * with curl_multi_socket_action from an epoll loop, so a wakeup costs work only for the
 * sockets that are ready (curl_multi_perform would poll every transfer each time).  Retries
 * wait on a timer list and starts are paced by a token bucket; both, like libcurl's own
 * timer, only shorten the epoll timeout. */
#define _GNU_SOURCE
#include "http.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "log.h"

#ifndef RS_VERSION
#define RS_VERSION "dev"
#endif

#define BACKOFF_FIRST_MS 250
#define BACKOFF_MAX_MS 10000
#define RETRY_AFTER_MAX_S 60
#define AUTH_RESENDS 2   /* one fetch, one refresh */
#define REDIRECTS_MAX 5
#define WAIT_MAX_MS 1000 /* bounds how late an interruption that races epoll_wait is seen */
#define EVENTS_MAX 64

struct http_req {
	struct http_req *next;
	enum http_method method;
	int retried; /* transfers made again after a retryable failure */
	int resent;  /* ... and after a 401 */
	int hops;    /* redirects followed */
	unsigned offsite : 1; /* a GET or HEAD that may follow a redirect to another origin */
	unsigned hopped : 1;  /* queued again to follow a redirect: not a new request */
	char *at;    /* where the request goes after a redirect (malloc()ed); NULL: url */
	int64_t due;  /* while on the timer list: when to start again (monotonic ms) */
	struct curl_slist *headers; /* borrowed from the executor's header cache */
	const char *body; /* into url's allocation, after the URL; "" when there is none */
	size_t body_len;
	void (*done)(const struct http_response *resp, void *arg);
	void *arg;
	char url[]; /* the URL, its NUL, then the body */
};

/* One easy handle with the buffers it reuses from transfer to transfer. */
struct xfer {
	struct xfer *next_free;
	struct http *h;
	CURL *easy;
	struct http_req *req;      /* NULL while idle */
	struct curl_slist *authed; /* this transfer's Accept + Authorization lines, or NULL */
	struct buf body;
	struct buf content_type;
	struct buf digest;
	struct buf link;
	struct buf www_auth;
	int64_t content_length;
	int too_big;
	char errbuf[CURL_ERROR_SIZE];
};

/* What the epoll set holds for one descriptor.  A connection socket stays in the set while
 * its connection idles between transfers (libcurl drops interest after each one): the next
 * transfer on it then costs no epoll_ctl. */
struct sock {
	unsigned registered : 1; /* in the epoll set, with events */
	unsigned wanted : 1;     /* libcurl waits on it */
	unsigned ours : 1;       /* opened by on_open, so closed through on_close */
	uint32_t events;
};

/* Header lists are built once per distinct Accept and Content-Type, not per request. */
struct header_set {
	struct header_set *next;
	struct curl_slist *list;
	char *accept;       /* NULL: no Accept line */
	char *content_type; /* NULL: no Content-Type line */
};

struct http {
	struct http_opts opts;
	int retries;
	double rps;           /* starts per second, 0: unpaced */
	double burst, tokens; /* the pacing bucket: its size and fill */
	int64_t filled;       /* when tokens was last topped up */
	uint64_t rng;         /* backoff jitter */
	int proxied;          /* the environment names a proxy for libcurl to use */
	CURLM *multi;
	int epfd;
	int socket_errno;             /* why on_socket failed, 0: it did not */
	struct sock *socks;           /* indexed by descriptor */
	size_t nsocks;
	int64_t curl_due;             /* libcurl's timer, -1: none */
	struct http_req *head, *tail; /* the queue */
	struct http_req *timers;      /* retries, soonest first */
	struct xfer *xfers;           /* concurrency of them */
	struct xfer *idle;
	size_t running;
	size_t requests;
	struct header_set *header_sets;
};

static volatile sig_atomic_t interrupted;

void http_interrupt(void)
{
	interrupted = 1;
}

int http_interrupted(void)
{
	return interrupted != 0;
}

static const char *const method_names[] = {"GET", "HEAD", "DELETE", "PUT"};

const char *http_method_name(enum http_method method)
{
	return method_names[method];
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void reset_buf(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

static const char *buf_or_null(const struct buf *b)
{
	return b->len ? b->data : NULL;
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
		reset_buf(&x->www_auth);
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
	else if (header_is(line, name_len, "www-authenticate"))
		dst = &x->www_auth;
	else
		return len;
	/* Repeated fields combine as a list (RFC 9110 5.3), challenges included. */
	if ((dst == &x->link || dst == &x->www_auth) && dst->len)
		buf_append(dst, ", ", 2);
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

static struct sock *sock_of(struct http *h, curl_socket_t s)
{
	size_t n = h->nsocks;

	if ((size_t)s >= n) {
		h->nsocks = (size_t)s + 64;
		h->socks = xrealloc(h->socks, h->nsocks * sizeof(*h->socks));
		memset(h->socks + n, 0, (h->nsocks - n) * sizeof(*h->socks));
	}
	return &h->socks[s];
}

/* Connection sockets come from here, close-on-exec so that no credential helper inherits
 * one, and known to be closed through on_close. */
static curl_socket_t on_open(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct http *h = arg;
	curl_socket_t s = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);

	(void)purpose;
	if (s != CURL_SOCKET_BAD)
		*sock_of(h, s) = (struct sock){.ours = 1};
	return s;
}

/* Closing drops the socket from the epoll set too (nothing else holds it). */
static int on_close(void *arg, curl_socket_t s)
{
	struct http *h = arg;

	*sock_of(h, s) = (struct sock){0};
	return close(s);
}

static void sock_forget(struct http *h, curl_socket_t s, struct sock *st)
{
	/* Fails harmlessly when the descriptor is already closed. */
	epoll_ctl(h->epfd, EPOLL_CTL_DEL, s, NULL);
	st->registered = st->wanted = 0;
}

/* libcurl's wishes for one socket, mirrored into the epoll set. */
static int on_socket(CURL *easy, curl_socket_t s, int what, void *arg, void *socketp)
{
	struct http *h = arg;
	struct sock *st = sock_of(h, s);
	struct epoll_event ev = {.data.fd = s};
	int rc = 0;

	(void)easy;
	(void)socketp;
	if (what == CURL_POLL_REMOVE) {
		if (st->ours)
			st->wanted = 0; /* kept until an event shows it unwanted, or on_close */
		else
			sock_forget(h, s, st);
		return 0;
	}
	ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
	st->wanted = 1;
	if (st->registered && st->events == ev.events)
		return 0;
	if (st->registered)
		rc = epoll_ctl(h->epfd, EPOLL_CTL_MOD, s, &ev);
	/* Not in the set after all: a descriptor closed behind our back and reused. */
	if (!st->registered || (rc != 0 && errno == ENOENT))
		rc = epoll_ctl(h->epfd, EPOLL_CTL_ADD, s, &ev);
	if (rc != 0) {
		h->socket_errno = errno;
		return -1; /* libcurl then aborts: http_run fails with this errno */
	}
	st->registered = 1;
	st->events = ev.events;
	return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *arg)
{
	struct http *h = arg;

	(void)multi;
	h->curl_due = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	return 0;
}

/* The variables libcurl takes an http:// or https:// proxy from. */
static int proxy_in_env(void)
{
	static const char *const names[] = {"http_proxy", "https_proxy", "HTTPS_PROXY",
					    "all_proxy", "ALL_PROXY"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (getenv(names[i]))
			return 1;
	return 0;
}

/* Sets every option of an easy handle that does not change between requests. */
static void xfer_init(struct http *h, struct xfer *x, const struct net_opts *net)
{
	const struct tls_opts *tls = &net->tls;
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
	curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, on_open);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, h);
	curl_easy_setopt(c, CURLOPT_CLOSESOCKETFUNCTION, on_close);
	curl_easy_setopt(c, CURLOPT_CLOSESOCKETDATA, h);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "regsweep/" RS_VERSION);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	/* Redirects are followed by on_done, not libcurl: each hop then goes through start()
	 * with the URL it goes to, so credentials, challenges and answers are judged by where
	 * the request is, not where it began. */
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_UNRESTRICTED_AUTH, 0L);
	if (!h->proxied) {
		/* Saves libcurl looking them up again for every transfer. */
		curl_easy_setopt(c, CURLOPT_PROXY, "");
		curl_easy_setopt(c, CURLOPT_NOPROXY, "");
	}
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, net->connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, net->timeout_ms);
	/* HTTP/2 when TLS negotiates it (ALPN), and then wait for that one connection rather
	 * than open more before knowing whether it multiplexes. */
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(c, CURLOPT_PIPEWAIT, 1L);
	netopts_apply_tls(c, tls);
	x->next_free = h->idle;
	h->idle = x;
}

struct http *http_new(const struct http_opts *opts, struct rs_err *e)
{
	const struct net_opts *net = opts->net;
	struct http *h;
	long n;

	if (opts->concurrency < 1 || opts->max_body == 0 || !net) {
		err_set(e, "http: concurrency must be at least 1, max_body positive, net set");
		return NULL;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		err_set(e, "cannot initialise libcurl");
		return NULL;
	}
	h = xcalloc(1, sizeof(*h));
	h->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (h->epfd < 0) {
		err_set(e, "http: epoll_create1: %s", strerror(errno));
		free(h);
		curl_global_cleanup();
		return NULL;
	}
	h->opts = *opts;
	h->opts.net = NULL; /* read here only */
	h->retries = net->retries > 0 ? net->retries : 0;
	h->rps = net->max_rps > 0 ? net->max_rps : 0;
	/* At most a millisecond's worth of starts go at once: no second ever sees more than
	 * max_rps (plus that), yet a rate above 1000/s is not held back by the millisecond
	 * clock. */
	h->burst = h->tokens = h->rps / 1000 > 1 ? h->rps / 1000 : 1;
	h->filled = now_ms();
	h->rng = (uint64_t)h->filled * 6364136223846793005u ^ (uint64_t)getpid() ^ 1;
	h->curl_due = -1;
	h->proxied = proxy_in_env();
	h->multi = curl_multi_init();
	if (!h->multi)
		die_nomem();
	n = opts->concurrency;
	/* One kept-alive connection per transfer slot, and no more cached than that. */
	curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, n);
	curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, n);
	curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	h->xfers = xcalloc((size_t)n, sizeof(*h->xfers));
	for (long i = n - 1; i >= 0; i--)
		xfer_init(h, &h->xfers[i], net);
	return h;
}

/* Frees a transfer's own header list; it holds a credential, so wipe it first. */
static void free_authed(struct xfer *x)
{
	for (struct curl_slist *s = x->authed; s; s = s->next)
		explicit_bzero(s->data, strlen(s->data));
	curl_slist_free_all(x->authed);
	x->authed = NULL;
}

/* A request and the URL a redirect gave it. */
static void req_free(struct http_req *r)
{
	free(r->at);
	free(r);
}

/* Where the request goes now. */
static const char *req_target(const struct http_req *r)
{
	return r->at ? r->at : r->url;
}

static void release(struct http *h, struct xfer *x)
{
	free_authed(x);
	x->req = NULL;
	x->next_free = h->idle;
	h->idle = x;
}

static void free_list(struct http_req *r)
{
	while (r) {
		struct http_req *next = r->next;

		req_free(r);
		r = next;
	}
}

static void drop_pending(struct http *h)
{
	for (int i = 0; i < h->opts.concurrency; i++) {
		struct xfer *x = &h->xfers[i];

		if (!x->req)
			continue;
		curl_multi_remove_handle(h->multi, x->easy);
		req_free(x->req);
		release(h, x);
	}
	h->running = 0;
	free_list(h->head);
	free_list(h->timers);
	h->head = h->tail = h->timers = NULL;
}

void http_free(struct http *h)
{
	struct header_set *hs;

	if (!h)
		return;
	drop_pending(h);
	for (int i = 0; i < h->opts.concurrency; i++) {
		struct xfer *x = &h->xfers[i];

		curl_easy_cleanup(x->easy);
		buf_free(&x->body);
		buf_free(&x->content_type);
		buf_free(&x->digest);
		buf_free(&x->link);
		buf_free(&x->www_auth);
	}
	free(h->xfers);
	curl_multi_cleanup(h->multi); /* closes the cached connections through on_close */
	close(h->epfd);
	free(h->socks);
	while ((hs = h->header_sets)) {
		h->header_sets = hs->next;
		curl_slist_free_all(hs->list);
		free(hs->accept);
		free(hs->content_type);
		free(hs);
	}
	free(h);
	curl_global_cleanup();
}

static struct curl_slist *slist_add(struct curl_slist *list, const char *line)
{
	struct curl_slist *l = curl_slist_append(list, line);

	if (!l)
		die_nomem();
	return l;
}

static int same_value(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static struct curl_slist *slist_add_header(struct curl_slist *list, const char *name,
					   const char *value)
{
	char *line;

	if (!value)
		return list;
	line = xasprintf("%s: %s", name, value);
	list = slist_add(list, line);
	free(line);
	return list;
}

static struct curl_slist *header_list(struct http *h, const char *accept,
				      const char *content_type)
{
	struct header_set *hs;

	if (!accept && !content_type)
		return NULL;
	for (hs = h->header_sets; hs; hs = hs->next)
		if (same_value(hs->accept, accept) && same_value(hs->content_type, content_type))
			return hs->list;
	hs = xcalloc(1, sizeof(*hs));
	hs->accept = accept ? xstrdup(accept) : NULL;
	hs->content_type = content_type ? xstrdup(content_type) : NULL;
	hs->list = slist_add_header(slist_add_header(NULL, "Accept", accept), "Content-Type",
				    content_type);
	hs->next = h->header_sets;
	h->header_sets = hs;
	return hs->list;
}

static void enqueue(struct http *h, struct http_req *r)
{
	r->next = NULL;
	if (h->tail)
		h->tail->next = r;
	else
		h->head = r;
	h->tail = r;
}

/* Re-sends and due retries go first: they are older than anything queued. */
static void enqueue_front(struct http *h, struct http_req *r)
{
	r->next = h->head;
	h->head = r;
	if (!h->tail)
		h->tail = r;
}

static struct http_req *dequeue(struct http *h)
{
	struct http_req *r = h->head;

	h->head = r->next;
	if (!h->head)
		h->tail = NULL;
	return r;
}

/* The one place a request is made and queued. */
static void submit(struct http *h, enum http_method method, const char *url, const char *accept,
		   const char *content_type, const char *body, size_t body_len, int offsite,
		   void (*done)(const struct http_response *resp, void *arg), void *arg)
{
	size_t len = strlen(url);
	/* One allocation (and `at` once redirected): every path that drops a request goes
	 * through req_free. */
	struct http_req *r = xmalloc(sizeof(*r) + len + 1 + body_len + 1);
	char *copy = r->url + len + 1;

	memcpy(r->url, url, len + 1);
	if (body_len)
		memcpy(copy, body, body_len);
	copy[body_len] = '\0';
	r->body = copy;
	r->body_len = body_len;
	r->method = method;
	r->retried = r->resent = r->hops = 0;
	r->offsite = offsite && (method == HTTP_GET || method == HTTP_HEAD);
	r->hopped = 0;
	r->at = NULL;
	r->due = 0;
	r->headers = header_list(h, accept, content_type);
	r->done = done;
	r->arg = arg;
	enqueue(h, r);
}

void http_submit_body(struct http *h, enum http_method method, const char *url,
		      const char *accept, const char *content_type, const char *body,
		      size_t body_len, void (*done)(const struct http_response *resp, void *arg),
		      void *arg)
{
	submit(h, method, url, accept, content_type, body, body_len, 0, done, arg);
}

void http_submit(struct http *h, enum http_method method, const char *url, const char *accept,
		 void (*done)(const struct http_response *resp, void *arg), void *arg)
{
	submit(h, method, url, accept, NULL, NULL, 0, 0, done, arg);
}

void http_submit_offsite(struct http *h, enum http_method method, const char *url,
			 const char *accept,
			 void (*done)(const struct http_response *resp, void *arg), void *arg)
{
	submit(h, method, url, accept, NULL, NULL, 0, 1, done, arg);
}

static struct http_response response_of(const struct http_req *req)
{
	return (struct http_response){
		.method = req->method,
		.url = req->url,
		.effective_url = req_target(req),
		.body = "",
		.content_length = -1,
		.retried = req->retried,
	};
}

/* Answers the transfer's request with what it got (error: one line for a 401, or NULL). */
static void finish(struct http *h, struct xfer *x, CURLcode code, long status,
		   const char *error)
{
	struct http_req *req = x->req;
	struct http_response resp = response_of(req);
	char *eff = NULL;

	if (curl_easy_getinfo(x->easy, CURLINFO_EFFECTIVE_URL, &eff) == CURLE_OK && eff)
		resp.effective_url = eff;
	if (code == CURLE_OK) {
		resp.status = status;
		resp.error = error;
		if (x->body.len)
			resp.body = x->body.data;
		resp.body_len = x->body.len;
		resp.content_type = buf_or_null(&x->content_type);
		resp.digest = buf_or_null(&x->digest);
		resp.link = buf_or_null(&x->link);
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
	req_free(req);
	release(h, x);
}

static int retryable(CURLcode code, long status)
{
	switch (code) {
	case CURLE_OK:
		return status == 429 || status == 502 || status == 503 || status == 504;
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

/* The wait before retry number n (0 first): Retry-After when the answer names one, else
 * 250 ms * 2^n with +-50% jitter so that failed requests do not all come back at once. */
static int64_t retry_delay(struct http *h, CURL *c, int n)
{
	curl_off_t after = 0;
	int64_t base, d;

	if (curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &after) == CURLE_OK && after > 0)
		return (after < RETRY_AFTER_MAX_S ? after : RETRY_AFTER_MAX_S) * 1000;
	base = n < 6 ? (int64_t)BACKOFF_FIRST_MS << n : BACKOFF_MAX_MS;
	if (base > BACKOFF_MAX_MS)
		base = BACKOFF_MAX_MS;
	h->rng ^= h->rng << 13; /* xorshift64 */
	h->rng ^= h->rng >> 7;
	h->rng ^= h->rng << 17;
	d = base / 2 + (int64_t)(h->rng % (uint64_t)(base + 1));
	return d < BACKOFF_MAX_MS ? d : BACKOFF_MAX_MS;
}

static void timer_add(struct http *h, struct http_req *r)
{
	struct http_req **pp = &h->timers;

	while (*pp && (*pp)->due <= r->due)
		pp = &(*pp)->next;
	r->next = *pp;
	*pp = r;
}

static int is_redirect(long status)
{
	return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* Queues the request again at the redirect's target and returns 1, or returns 0 with why
 * the 3xx is the answer.  Only the origin the request was made to is followed, except for
 * an offsite GET or HEAD (a blob in storage); a DELETE or PUT only on 307 and 308, which
 * keep the method. */
static int follow(struct http *h, struct xfer *x, long status, struct rs_err *why)
{
	struct http_req *req = x->req;
	char *loc = NULL, *to;
	int same;

	if (curl_easy_getinfo(x->easy, CURLINFO_REDIRECT_URL, &loc) != CURLE_OK || !loc ||
	    !(to = http_origin(loc))) {
		err_set(why, "a redirect without a usable Location");
		return 0;
	}
	same = http_same_origin(loc, req->url);
	if (strncasecmp(to, "http://", 7) != 0 && strncasecmp(to, "https://", 8) != 0)
		err_set(why, "a redirect to %s, not http(s), not followed", to);
	else if (!same && !req->offsite)
		err_set(why, "a redirect to another origin, %s, not followed", to);
	else if ((req->method == HTTP_DELETE || req->method == HTTP_PUT) && status != 307 &&
		 status != 308)
		err_set(why, "a %s redirected with %ld, not followed", method_names[req->method],
			status);
	else if (req->hops >= REDIRECTS_MAX)
		err_set(why, "more than %d redirects", REDIRECTS_MAX);
	free(to);
	if (err_isset(why))
		return 0;
	if (!same)
		log_msg(RS_LOG_DEBUG, "%s %s: redirected to %s, sent there without credentials",
			method_names[req->method], req_target(req), loc);
	to = xstrdup(loc); /* loc belongs to the handle, which release() reuses */
	free(req->at);
	req->at = to;
	req->hops++;
	req->hopped = 1;
	release(h, x);
	enqueue_front(h, req);
	return 1;
}

/* The single completion path of a transfer: answered, redirected, retried later, or sent
 * again with fresh credentials.  Once interrupted, nothing is tried again. */
static void on_done(struct http *h, struct xfer *x, CURLcode code)
{
	struct http_req *req = x->req;
	struct rs_err why = {{0}};
	long status = 0;

	if (code == CURLE_OK)
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	if (http_interrupted()) {
		finish(h, x, code, status, NULL);
	} else if (is_redirect(status)) {
		if (!follow(h, x, status, &why))
			finish(h, x, code, status, why.msg);
	} else if (status == 401 && h->opts.auth) {
		/* Judged by where the request is: after a redirect to another origin, auth
		 * refuses, and nothing is fetched from a realm that origin names. */
		if (req->resent >= AUTH_RESENDS) {
			err_set(&why, "still refused after fetching credentials twice");
		} else if (auth_challenge(h->opts.auth, req_target(req), buf_or_null(&x->www_auth),
					  &why)) {
			req->resent++;
			release(h, x);
			enqueue_front(h, req);
			return;
		}
		finish(h, x, code, status, err_isset(&why) ? why.msg : NULL);
	} else if (retryable(code, status) && req->retried < h->retries) {
		int64_t delay = retry_delay(h, x->easy, req->retried);
		char what[16];

		snprintf(what, sizeof(what), "HTTP %ld", status);
		log_msg(RS_LOG_DEBUG, "%s %s: %s; retry %d of %d in %lld ms",
			method_names[req->method], req->url,
			status ? what : curl_easy_strerror(code), req->retried + 1, h->retries,
			(long long)delay);
		req->retried++;
		req->due = now_ms() + delay;
		release(h, x);
		timer_add(h, req);
	} else {
		finish(h, x, code, status, NULL);
	}
}

/* The single submit path: hands the request to an idle easy handle. */
static void start(struct http *h, struct http_req *req)
{
	struct xfer *x = h->idle;
	const char *target = req_target(req);
	const char *authz = h->opts.auth ? auth_header(h->opts.auth, target) : NULL;
	struct curl_slist *headers = req->headers;
	int custom = req->method == HTTP_DELETE || req->method == HTTP_PUT;
	CURL *c = x->easy;
	CURLMcode mc;

	h->idle = x->next_free;
	x->req = req;
	reset_buf(&x->body);
	reset_buf(&x->content_type);
	reset_buf(&x->digest);
	reset_buf(&x->link);
	reset_buf(&x->www_auth);
	x->content_length = -1;
	x->too_big = 0;
	x->errbuf[0] = '\0';
	/* Only a request that carries credentials needs a list of its own. */
	if (authz) {
		for (const struct curl_slist *l = req->headers; l; l = l->next)
			x->authed = slist_add(x->authed, l->data);
		x->authed = slist_add(x->authed, authz);
		headers = x->authed;
	}
	curl_easy_setopt(c, CURLOPT_URL, target);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	/* A reused handle keeps the last method and body: set all of it every time.  The body
	 * stays in the request, so libcurl can send it again itself on a fresh connection. */
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->method == HTTP_PUT ? req->body : NULL);
	if (req->method != HTTP_PUT)
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c, CURLOPT_NOBODY, req->method == HTTP_HEAD ? 1L : 0L);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, custom ? method_names[req->method] : NULL);
	h->requests += !req->hopped;
	req->hopped = 0;
	mc = curl_multi_add_handle(h->multi, c);
	if (mc != CURLM_OK) {
		snprintf(x->errbuf, sizeof(x->errbuf), "%s", curl_multi_strerror(mc));
		finish(h, x, CURLE_FAILED_INIT, 0, NULL);
		return;
	}
	h->running++;
}

/* Takes a token from the pacing bucket, topped up first; 0 when none is left. */
static int take_token(struct http *h, int64_t now)
{
	if (h->rps <= 0)
		return 1;
	h->tokens += (double)(now - h->filled) * h->rps / 1000;
	if (h->tokens > h->burst)
		h->tokens = h->burst;
	h->filled = now;
	if (h->tokens < 1)
		return 0;
	h->tokens -= 1;
	return 1;
}

/* Due retries join the queue's front; then requests start while a slot and a token are
 * free. */
static void start_ready(struct http *h, int64_t now)
{
	struct http_req *r;

	while ((r = h->timers) && r->due <= now) {
		h->timers = r->next;
		enqueue_front(h, r);
	}
	while (h->head && h->idle && take_token(h, now))
		start(h, dequeue(h));
}

/* Once interrupted: every request not in flight is answered "interrupted".  Callbacks may
 * submit more; those are answered too. */
static void cancel_waiting(struct http *h)
{
	struct http_req *r;

	while ((r = h->head) || (r = h->timers)) {
		struct http_response resp = response_of(r);

		if (r == h->head)
			dequeue(h);
		else
			h->timers = r->next;
		resp.error = "interrupted";
		r->done(&resp, r->arg);
		req_free(r);
	}
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
		on_done(h, (struct xfer *)priv, code);
	}
}

static int64_t sooner(int64_t a, int64_t b)
{
	return a < 0 || (b >= 0 && b < a) ? b : a;
}

/* How long epoll may sleep: until libcurl's timer, the first retry or, when a request waits
 * only for a token, the next token. */
static int wait_ms(struct http *h, int64_t now)
{
	int64_t due = h->curl_due;

	if (h->timers)
		due = sooner(due, h->timers->due);
	if (h->head && h->idle)
		due = sooner(due, h->rps > 0 ? now + (int64_t)((1 - h->tokens) * 1000 / h->rps) + 1
					     : now);
	if (due < 0 || due - now > WAIT_MAX_MS)
		return WAIT_MAX_MS;
	return due > now ? (int)(due - now) : 0;
}

static CURLMcode act(struct http *h, curl_socket_t s, int mask)
{
	int still;

	return curl_multi_socket_action(h->multi, s, mask, &still);
}

/* Hands epoll's events to libcurl; an event on a socket libcurl no longer waits on (an idle
 * connection the server closed) takes it out of the set instead. */
static CURLMcode dispatch(struct http *h, const struct epoll_event *ev, int n)
{
	CURLMcode mc = CURLM_OK;

	for (int i = 0; i < n && mc == CURLM_OK; i++) {
		curl_socket_t s = ev[i].data.fd;
		struct sock *st = sock_of(h, s);
		uint32_t got = ev[i].events;

		if (!st->wanted)
			sock_forget(h, s, st);
		else
			mc = act(h, s,
				 (got & EPOLLIN ? CURL_CSELECT_IN : 0) |
				     (got & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
				     (got & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0));
	}
	return mc;
}

int http_run(struct http *h, struct rs_err *e)
{
	struct epoll_event ev[EVENTS_MAX];
	CURLMcode mc = CURLM_OK;
	int polled = 1;

	while (mc == CURLM_OK) {
		int64_t now = now_ms();
		int n;

		if (http_interrupted())
			cancel_waiting(h);
		else
			start_ready(h, now);
		if (!h->running && !h->head && !h->timers)
			return 0;
		/* A start makes libcurl's timer due at once: serve it without asking epoll,
		 * but never twice in a row, so that sockets are never starved. */
		if (polled && h->curl_due >= 0 && h->curl_due <= now) {
			polled = 0;
		} else {
			polled = 1;
			n = epoll_wait(h->epfd, ev, EVENTS_MAX, wait_ms(h, now));
			if (n < 0 && errno != EINTR) {
				h->socket_errno = errno;
				break;
			}
			mc = dispatch(h, ev, n);
		}
		if (mc == CURLM_OK && h->curl_due >= 0 && now_ms() >= h->curl_due) {
			h->curl_due = -1;
			mc = act(h, CURL_SOCKET_TIMEOUT, 0);
		}
		drain(h);
	}
	if (h->socket_errno)
		err_set(e, "http: epoll: %s", strerror(h->socket_errno));
	else
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

char *http_origin(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *out = NULL;

	if (!u)
		die_nomem();
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK)
		out = xasprintf("%s://%s:%s", scheme, host, port);
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return out;
}

int http_same_origin(const char *a, const char *b)
{
	char *oa = http_origin(a), *ob = http_origin(b);
	/* Scheme and host compare without case (RFC 3986 6.2.2.1); the port is digits. */
	int same = oa && ob && strcasecmp(oa, ob) == 0;

	free(oa);
	free(ob);
	return same;
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
