#!/usr/bin/env bash
# Installs what is missing, builds, and runs the main job on the embedded default config (no files needed).
set -euo pipefail
source "$(dirname "$0")/lib/setup.sh"
mhc_install_packages
mhc_configure_and_build "$@"
bin="$MHC_BUILD/app/mhc-train"
echo
echo "== mhc-train plan (embedded default: tiny mHC model, synthetic data)"
"$bin" plan
for arm in residual hc mhc; do
  echo
  echo "== mhc-train plan --config configs/tiny-$arm.json"
  "$bin" plan --config "$MHC_ROOT/configs/tiny-$arm.json" | sed -n '/^parameters/,$p'
done
