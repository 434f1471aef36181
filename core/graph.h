/* graph.h - the image graph's say in a plan: referrers (cosign signature, attestation and
 * SBOM tags, OCI subjects) share their subject's fate, the children of a deleted index go
 * with it unless something kept needs them, and what the garbage collector can reclaim. */
#ifndef RS_GRAPH_H
#define RS_GRAPH_H

#include "plan.h"
#include "registry.h"

/* The digest img refers to when it is a referrer rather than an image: a cosign-style tag
 * "sha256-<hex>.sig|.att|.sbom", or a manifest with an OCI "subject".  Caller-owned, NULL
 * for an image. */
char *graph_subject(const struct reg_repo *rr, const struct reg_image *img);

/* Once pr->tags hold the policy's verdicts (referrer tags KEEP, with their subject set):
 * groups digests (plan_group_digests), then deletes each referrer exactly when its subject
 * is deleted and each child of a deleted index that no kept tag or kept index references,
 * recording what each such deletion follows.  rr is the scanned graph of the same
 * repository. */
void graph_settle(struct plan_repo *pr, const struct reg_repo *rr);

/* Adds to out (keys borrowed from pr and rr) every manifest a kept tag of pr holds on to:
 * its own and, through rr's graph, everything under it. */
void graph_kept(const struct plan_repo *pr, const struct reg_repo *rr, struct strmap *out);

/* Points each deletion of pr at the manifest bytes rr's graph holds for it: the caller
 * hands the scan's bodies pool over to the plan (pool_adopt). */
void graph_attach_bodies(struct plan_repo *pr, const struct reg_repo *rr);

/* Sets p->reclaimable_bytes (and each repository's share): the blobs, manifests included,
 * that only manifests the plan deletes reference, across every repository scanned.
 * p->repos[i] must be scan->repos[i]'s plan.  partial: the scan left out repositories of
 * the catalog, whose references it cannot see, so the figure is an upper bound. */
void graph_estimate(struct plan *p, const struct reg_scan *scan, int partial);

#endif
