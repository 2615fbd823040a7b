#!/usr/bin/env bash
# Builds the librdkafka mock Kafka cluster used by the tests (scripts/kafka-mock.c).
#
#   scripts/kafka-mock.sh build   compile to ${WASMSG_TOOLS_DIR:-$HOME/.cache/wasmsg/tools}/kafka-mock
#                                 (only if missing or older than the source); prints the binary path
#   scripts/kafka-mock.sh path    print the binary path without building
#
# Run the binary as:  kafka-mock [-b BROKERS] [TOPIC:PARTITIONS ...]   (see kafka-mock.c)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$here/kafka-mock.c"
tools="${WASMSG_TOOLS_DIR:-$HOME/.cache/wasmsg/tools}"
bin="$tools/kafka-mock"

die() { echo "kafka-mock.sh: $*" >&2; exit 1; }

case "${1:-}" in
  build)
    if [ -x "$bin" ] && [ "$bin" -nt "$src" ]; then
      echo "$bin"
      exit 0
    fi
    command -v pkg-config >/dev/null 2>&1 \
      || die "pkg-config not found; run scripts/setup-debian.sh"
    pkg-config --exists rdkafka 2>/dev/null && [ -f "$(pkg-config --variable=includedir rdkafka)/librdkafka/rdkafka_mock.h" ] \
      || die "librdkafka-dev not found (pkg-config rdkafka / librdkafka/rdkafka_mock.h); run scripts/setup-debian.sh"
    cc="${CC:-}"
    if [ -z "$cc" ]; then
      for c in cc clang gcc; do
        if command -v "$c" >/dev/null 2>&1; then cc="$c"; break; fi
      done
    fi
    [ -n "$cc" ] && command -v "$cc" >/dev/null 2>&1 \
      || die "no C compiler (cc/clang/gcc) found; run scripts/setup-debian.sh"
    mkdir -p "$tools"
    # Build to a temp file and rename, so concurrent builds never see a half-written binary.
    tmp="$(mktemp "$tools/.kafka-mock.XXXXXX")"
    # shellcheck disable=SC2046
    if ! "$cc" -O2 -Wall -o "$tmp" "$src" $(pkg-config --cflags --libs rdkafka); then
      rm -f "$tmp"
      die "compiling $src failed"
    fi
    chmod 755 "$tmp"
    mv -f "$tmp" "$bin"
    echo "$bin"
    ;;
  path)
    echo "$bin"
    ;;
  *)
    echo "usage: $0 build|path" >&2
    exit 2
    ;;
esac
