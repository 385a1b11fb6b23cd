#!/usr/bin/env bash
# Does the hand-written callback body reader (RawCallbackBody) earn its place? Builds serve in
# release mode twice, once with the reader replaced by the JSONDecoder variant in
# scripts/bench/variants/ and once as it is, then measures both with compare-serve.sh, interleaved.
#
#   scripts/bench/body-reader.sh [ROUNDS]        # default 3
#
# Both builds share .build-release (the second only recompiles the library); the source file is
# swapped for the first build and always put back. Needs wrk.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
reader=Sources/SubscriberSync/Callbacks/RawCallbackBody.swift
tmp=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/body-reader.XXXXXX")
cp "$reader" "$tmp/RawCallbackBody.swift"
trap 'cp "$tmp/RawCallbackBody.swift" "$reader"' EXIT

echo "== release build with the JSONDecoder body reader" >&2
cp scripts/bench/variants/RawCallbackBody+JSONDecoder.swift "$reader"
swift build -c release --scratch-path .build-release --product subscriber-sync >&2
cp .build-release/release/subscriber-sync "$tmp/subscriber-sync-jsondecoder"
cp "$tmp/RawCallbackBody.swift" "$reader"
echo "== release build as it is" >&2
swift build -c release --scratch-path .build-release --product subscriber-sync >&2
cp .build-release/release/subscriber-sync "$tmp/subscriber-sync-handwritten"
scripts/bench/compare-serve.sh "$rounds" "$tmp/subscriber-sync-handwritten" "$tmp/subscriber-sync-jsondecoder"
