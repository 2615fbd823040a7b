#!/usr/bin/env bash
# Installs what wasmsg needs from Debian beyond Node.js. Idempotent and quiet: apt-get only
# runs when something is missing. Run as root (CI runs it before the tests).
#   clang lld                     rebuild the C example (npm run build:examples)
#   librdkafka-dev pkg-config     build the mock Kafka cluster (scripts/kafka-mock.sh build)
#   kcat                          poke at Kafka by hand
#   nats-server redis-server mosquitto mosquitto-clients rabbitmq-server
#                                 brokers for the integration tests (scripts/brokers.sh starts
#                                 private instances on other ports if the system ones are absent)
#   procps                        ps, used by scripts/brokers.sh
set -euo pipefail
packages=(
  clang lld
  librdkafka-dev pkg-config kcat
  nats-server redis-server mosquitto mosquitto-clients rabbitmq-server
  procps
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup-debian: all present (${packages[*]})"
  exit 0
fi
echo "setup-debian: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
