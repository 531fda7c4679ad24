#!/usr/bin/env bash
# Checks that kernels/kernels_stub.cpp (mhc_kernels in a build without CUDA) defines every mhc::kernels function that
# lib/ops calls, with the same signature: each undefined mhc::kernels symbol of the ops archive must be defined by
# the stub's object. Runs in every build, so a launcher added without its stub fails here, not in a no-CUDA build.
# Usage: kernels_stub_test.sh LIBMHC_OPS.a KERNELS_STUB.o
set -euo pipefail
ops=$1
stub=$2
needed=$(nm -C --undefined-only "$ops" | sed -n 's/^ *U //p' | grep '^mhc::kernels::' | sort -u || true)
defined=$(nm -C --defined-only "$stub" | sed -n 's/^[0-9a-f]* [TW] //p' | grep '^mhc::kernels::' | sort -u || true)
count=$(printf '%s\n' "$needed" | grep -c . || true)
if [ "$count" -lt 20 ]; then
  echo "FAIL: only $count mhc::kernels symbols are referenced by $ops; expected every launcher (wrong archive?)"
  exit 1
fi
missing=$(comm -23 <(printf '%s\n' "$needed") <(printf '%s\n' "$defined"))
if [ -n "$missing" ]; then
  echo "FAIL: kernels/kernels_stub.cpp lacks these functions that lib/ops calls:"
  printf '%s\n' "$missing" | sed 's/^/  /'
  exit 1
fi
echo "ok: the stub defines all $count mhc::kernels functions that lib/ops calls"
