#!/usr/bin/env bash
# The image graph through a sweep and the garbage collector: keep_last over OCI indexes,
# docker manifest lists, images and tags sharing a digest, with cosign-style signature,
# attestation and SBOM tags (some with an OCI subject) on kept and deleted images and
# indexes. Referrer tags are not ranked: each goes exactly when its subject goes. A deleted
# index takes its children along unless a kept index needs them. After GC every kept tag,
# child, config and layer still answers, every manifest and blob only deleted things used
# is gone, the storage shrank, and the run printed the plan's estimate beside the
# measurement.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

reg_start
trap reg_stop EXIT

# img-1 shares its layer with the kept img-4, img-3 with graph/other's only image.
"$RS_SEED" "$REG_URL" >/dev/null <<'SPEC'
image graph/app img-1 2024-01-01T00:00:00Z layer=base-b
image graph/app img-2 2024-01-02T00:00:00Z oci
tag graph/app img-2-alias img-2
image graph/app img-3 2024-01-03T00:00:00Z layer=base-a
image graph/app img-4 2024-04-01T00:00:00Z layer=base-b oci
tag graph/app latest img-4
sign graph/app img-1 sig subject
sign graph/app img-2 sig
sign graph/app img-2 att subject
sign graph/app img-4 sig subject
sign graph/app img-4 att
image graph/other only 2024-01-01T00:00:00Z layer=base-a
index graph/multi idx-old 2024-01-01T00:00:00Z 2024-01-02T00:00:00Z
index graph/multi list-old 2024-01-03T00:00:00Z 2024-01-04T00:00:00Z docker
index graph/multi idx-new 2024-02-01T00:00:00Z 2024-02-02T00:00:00Z
index graph/multi list-new 2024-03-01T00:00:00Z 2024-03-02T00:00:00Z docker
sign graph/multi idx-old sig
sign graph/multi list-old att subject
sign graph/multi idx-new sig subject
sign graph/multi list-new sbom
SPEC

# idx-part: an index over idx-new's amd64 child alone, as a rebuild leaves behind; created
# (its child's) ranks it third, so it goes and the child it shares with idx-new stays.
reg_index_part graph/multi idx-new idx-part

# refs REPO REF: "digest DIGEST" of the manifest, then "child DIGEST" per entry of an index
# or "blob DIGEST" for an image's config and each layer; nothing when it does not answer.
refs() {
	reg_manifest "$1" "$2" | "$RS_PYTHON" -c '
import hashlib, json, sys
raw = sys.stdin.buffer.read()
m = json.loads(raw)
print("digest", "sha256:" + hashlib.sha256(raw).hexdigest())
for d in m.get("manifests", []):
    print("child", d["digest"])
for d in ([m["config"]] if "config" in m else []) + m.get("layers", []):
    print("blob", d["digest"])'
}

# sig_tag REPO TAG KIND: the referrer tag rs-seed's sign line gives TAG's digest.
sig_tag() {
	local d
	d=$(reg_digest "$1" "$2") || fail "no digest for $1:$2"
	echo "sha256-${d#sha256:}.$3"
}

# walk REPO REF LIST: checks that REF's manifest, its children, recursively, and their
# config and layer blobs all answer 200, and appends "manifest REPO DIGEST" or
# "blob REPO DIGEST" for each to the array named LIST.
walk() {
	local repo=$1 ref=$2 kind d n=0
	local -n into=$3

	while read -r kind d; do
		n=$((n + 1))
		case $kind in
		digest) into+=("manifest $repo $d") ;;
		child) walk "$repo" "$d" "$3" ;;
		*)
			assert_eq 200 "$(reg_blob_status "$repo" "$d")" "$repo blob $d of $ref"
			into+=("blob $repo $d")
			;;
		esac
	done < <(refs "$repo" "$ref" 2>/dev/null)
	((n > 1)) || fail "$repo:$ref: no manifest, or one with neither children nor blobs"
}

# blob_on_disk DIGEST: 0 when the registry's storage still holds the blob's data.
blob_on_disk() {
	local hex=${1#sha256:}
	[[ -e $REG_ROOT/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data ]]
}

# sorted_line WORD...: the words sorted (C locale) on one line, as tags_line prints tags.
sorted_line() {
	printf '%s\n' "$@" | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//'
}

app_keep=$(sorted_line img-4 latest "$(sig_tag graph/app img-4 att)" \
	"$(sig_tag graph/app img-4 sig)")
multi_keep=$(sorted_line idx-new list-new "$(sig_tag graph/multi idx-new sig)" \
	"$(sig_tag graph/multi list-new sbom)")
shared_child=$(refs graph/multi idx-part | awk '$1 == "child" { print $2 }')
[[ -n $shared_child ]] || fail "idx-part has no child"

# Everything the sweep should delete, walked (and so checked to answer) beforehand.
gone=()
for t in img-1 img-2 img-3 "$(sig_tag graph/app img-1 sig)" "$(sig_tag graph/app img-2 sig)" \
	"$(sig_tag graph/app img-2 att)"; do
	walk graph/app "$t" gone
done
for t in idx-old list-old idx-part "$(sig_tag graph/multi idx-old sig)" \
	"$(sig_tag graph/multi list-old att)"; do
	walk graph/multi "$t" gone
done
before=$(du -sb "$REG_ROOT" | cut -f1)

cat >"$REG_DIR/graph.stack" <<STACK
registry = { url = "$REG_URL"; };
guards = { max_delete_percent = 100; };
# An image is one place whatever its tags: graph/app keeps img-4 (with latest) alone.
policies = ( { repositories = [ "graph/app" ];
               policy = ( { module = "keep_last"; control = "required"; args = { count = 1; }; } ); } );
policy = ( { module = "keep_last"; control = "required"; args = { count = 2; order = "created"; }; } );
after = (
  { module = "gc_distribution";
    args = { command = [ "docker-registry", "garbage-collect", "$REG_CONFIG" ];
             storage_root = "$REG_ROOT"; }; }
);
STACK
# Bytes of blob contents (manifests, configs, layers) in the storage.
blob_data() { find "$REG_ROOT/docker/registry/v2/blobs" -name data -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }
"$REGSWEEP" plan -c "$REG_DIR/graph.stack" --format json >"$REG_DIR/plan.json"
estimate=$(python3 -c 'import json, sys; s = json.load(open(sys.argv[1]))["summary"]
print(s["reclaimable_bytes"], s["reclaimable_is_upper_bound"])' "$REG_DIR/plan.json")
data_before=$(blob_data)
expect_rc 0 "$REG_DIR/run" "$REGSWEEP" run -c "$REG_DIR/graph.stack"
out=$(cat "$REG_DIR/run.out" "$REG_DIR/run.err")
# The whole catalog was scanned and nothing untagged was there before: the estimate is
# exact, byte for byte the blob data the collector removed.
assert_eq "$((data_before - $(blob_data))) False" "$estimate" "blob data freed vs the plan's estimate"

assert_eq "$app_keep" "$(tags_line graph/app)" "graph/app tags left"
assert_eq "$multi_keep" "$(tags_line graph/multi)" "graph/multi tags left"
assert_eq "only" "$(tags_line graph/other)" "graph/other tags left"
# Once each: the 6 images and indexes that lost their tags, the 5 referrers that followed
# them and the 4 children of idx-old and list-old; never idx-part's child.
assert_eq 15 "$(reg_delete_count)" "DELETE requests"
assert_eq 15 "$(reg_delete_status_count 202)" "DELETEs answered 202"

kept=()
for t in $app_keep; do
	walk graph/app "$t" kept
done
for t in $multi_keep; do
	walk graph/multi "$t" kept
done
walk graph/other only kept
assert_eq 200 "$(reg_status graph/multi "$shared_child")" "idx-part's child, shared with idx-new"

# What only deleted manifests used is gone: the manifests from the API, and their bytes,
# configs and layers from the disk. A digest something kept uses stays, in any repository.
kept_digests=" ${kept[*]##* } "
for g in "${gone[@]}"; do
	read -r kind repo d <<<"$g"
	[[ $kept_digests == *" $d "* ]] && continue
	if [[ $kind == manifest ]]; then
		assert_eq 404 "$(reg_status "$repo" "$d")" "deleted manifest $repo@$d"
	fi
	! blob_on_disk "$d" || fail "$kind $repo@$d: only deleted manifests used it, but it is on disk"
done

after=$(du -sb "$REG_ROOT" | cut -f1)
[ "$after" -lt "$before" ] || fail "storage did not shrink: $before -> $after bytes"
line=$(grep -oE 'gc: [0-9]+ blobs eligible for deletion; storage .*' <<<"$out") ||
	fail "no gc summary in: $out"
[[ $line =~ \(reclaimed\ [0-9.]+\ [KMG]?i?B\ on\ disk,\ ([0-9.]+\ [KMG]?i?B)\ of\ blob\ data\;\ plan\ estimated\ ([0-9.]+\ [KMG]?i?B)\)$ ]] ||
	fail "no estimate beside the measurement in: $line"
assert_eq "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "blob data freed vs the estimate, as printed""
est=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["reclaimable_bytes"])' "$REG_DIR/plan.json" 2>/dev/null || true)"
assert_contains "$out" "kept tags: manifests, children and blobs all answer 200" \
	"post-GC validation"
echo "PASS: graph gc"
