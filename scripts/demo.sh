#!/usr/bin/env bash
# Installs what is missing, builds, then the main job: trains the three tiny arms (residual, hc, mhc) on the
# built-in synthetic task (no files needed) and prints their comparison; runs/demo/compare.png is the plot.
# Builds the mhc-train target only (scripts/test.sh builds everything). Usage: scripts/demo.sh [extra cmake -D options]
set -euo pipefail
source "$(dirname "$0")/lib/setup.sh"
mhc_install_packages
mhc_configure_and_build --target mhc-train "$@"
cd "$MHC_ROOT"
bin="$MHC_BUILD/app/mhc-train"

echo
echo "== mhc-train plan --config configs/tiny-mhc.json"
"$bin" plan --config configs/tiny-mhc.json | sed -n '/^parameters/,$p'

echo
echo "== training residual, hc and mhc on the synthetic task (runs/demo)"
scripts/sweep.sh --out runs/demo --config configs/tiny-mhc.json --types residual,hc,mhc --seeds 1 --bin "$bin"

echo
echo "== comparison (one seed per arm: run scripts/sweep.sh with --seeds 1,2,3 for p-values)"
scripts/compare.py runs/demo --out runs/demo
echo
echo "plot: runs/demo/compare.png"
