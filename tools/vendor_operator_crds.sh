#!/usr/bin/env bash
# Copy the EMQX Operator CRDs of one release, unchanged, into schemas/emqx-operator/<tag>/ (see SOURCE.md there).
# Usage: tools/vendor_operator_crds.sh <path to a clone of github.com/emqx/emqx-operator> <tag>
set -euo pipefail
repo=${1:?path to an emqx-operator clone}
tag=${2:?operator release tag, e.g. 2.2.29}
out="$(cd "$(dirname "$0")/.." && pwd)/schemas/emqx-operator/$tag"
mkdir -p "$out"
for kind in emqxbrokers emqxenterprises emqxes rebalances; do
  git -C "$repo" show "$tag:config/crd/bases/apps.emqx.io_$kind.yaml" >"$out/apps.emqx.io_$kind.yaml"
done
git -C "$repo" show "$tag:LICENSE" >"$out/LICENSE"
echo "commit: $(git -C "$repo" rev-parse "$tag^{commit}")"
(cd "$out/.." && sha256sum "$tag"/*.yaml "$tag/LICENSE")
