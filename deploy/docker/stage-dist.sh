#!/bin/sh
# Completes a `npm run build` output (tsc → dist/) with the files tsc does not
# copy but the compiled code reads relative to its own location:
#   proto/**            → dist/proto/**   (services/common PROTO_DIR = dist/services/common/../../proto)
#   libs/**, services/**, cli/** non-TypeScript files (the descriptor set
#   libs/proto/uae.v1.binpb, worker bootstraps, …) → the same path under dist/
# Markdown and the bundled data sets are left out: libs/data finds its data
# from the package root (libs/data/bundled/), which the images copy as is.
#
#   sh deploy/docker/stage-dist.sh SRC_ROOT DIST_DIR
#
# Used by both Dockerfiles and by tests/deploy (which runs the compiled
# services from such a layout), so the image layout is the tested one.
set -eu
src="${1:?usage: stage-dist.sh SRC_ROOT DIST_DIR}"
dist="${2:?usage: stage-dist.sh SRC_ROOT DIST_DIR}"
cd "$src"
[ -d proto ] || { echo "stage-dist: no proto/ under $src" >&2; exit 1; }
find proto libs services cli -type f \
  ! -name '*.ts' ! -name '*.md' ! -path 'libs/data/bundled/*' \
  2>/dev/null | while IFS= read -r f; do
  mkdir -p "$dist/$(dirname "$f")"
  cp "$f" "$dist/$f"
done
