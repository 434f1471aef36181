/* replay.c - the floor under `regsweep run`: the same requests sent through regsweep's own
 * HTTP executor (core/http.c: libcurl multi, epoll, reused connections, the same
 * concurrency) with callbacks that only count answers.  What regsweep spends above this is
 * its own work (parsing, digests, the graph, the plan, the journal); what this spends is
 * libcurl's and the kernel's.
 *
 *   bench-replay CONCURRENCY ACCEPT PHASE_FILE...
 *
 * A phase file holds one request a line, "METHOD URL" (GET or DELETE); phases run one after
 * the other, the requests of one phase all in flight CONCURRENCY at a time.  GETs send
 * ACCEPT.  Prints "STATUS COUNT" per status to standard output; exits 1 when a request got
 * no answer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "netopts.h"

#define STATUS_MAX 600

static void count(const struct http_response *resp, void *arg)
{
	size_t *by_status = arg;

	by_status[resp->status >= 0 && resp->status < STATUS_MAX ? resp->status : 0]++;
}

static int submit_file(struct http *h, const char *path, const char *accept, size_t *by_status)
{
	char line[4096];
	FILE *f = fopen(path, "r");

	if (!f) {
		perror(path);
		return -1;
	}
	while (fgets(line, sizeof line, f)) {
		char *url = strchr(line, ' ');

		if (!url)
			continue;
		*url++ = '\0';
		url[strcspn(url, "\r\n")] = '\0';
		if (!strcmp(line, "DELETE"))
			http_submit(h, HTTP_DELETE, url, NULL, count, by_status);
		else
			http_submit(h, HTTP_GET, url, accept, count, by_status);
	}
	fclose(f);
	return 0;
}

int main(int argc, char **argv)
{
	static size_t by_status[STATUS_MAX];
	struct net_opts net;
	struct rs_err e = {{0}};
	struct http *h;
	int rc = 0;

	if (argc < 4 || atoi(argv[1]) < 1) {
		fputs("usage: bench-replay CONCURRENCY ACCEPT PHASE_FILE...\n", stderr);
		return 2;
	}
	netopts_init(&net);
	h = http_new(&(struct http_opts){.concurrency = atoi(argv[1]),
					 .max_body = 4 << 20,
					 .net = &net},
		     &e);
	if (!h) {
		fprintf(stderr, "bench-replay: %s\n", e.msg);
		return 1;
	}
	for (int i = 3; i < argc && !rc; i++)
		if (submit_file(h, argv[i], argv[2], by_status) || http_run(h, &e))
			rc = 1;
	if (rc && e.msg[0])
		fprintf(stderr, "bench-replay: %s\n", e.msg);
	for (int s = 0; s < STATUS_MAX; s++)
		if (by_status[s])
			printf("%d %zu\n", s, by_status[s]);
	if (by_status[0])
		rc = 1;
	http_free(h);
	netopts_free(&net);
	return rc;
}
