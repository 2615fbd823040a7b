#!/usr/bin/env bash
# Installs what wasmsg's tests need from Debian beyond Node.js, and starts the broker servers the
# integration tests use when none answers. Idempotent and quick when everything is there (one
# dpkg-query and four port probes): `npm test` runs it first (`pretest`), CI through `npm test`.
#   clang lld                     build C components (npm run build:examples, wasmsg new --lang c)
#   librdkafka-dev pkg-config     build the mock Kafka cluster (scripts/kafka-mock.sh build)
#   kcat                          poke at Kafka by hand
#   nats-server redis-server mosquitto mosquitto-clients rabbitmq-server
#                                 brokers for the integration tests
#   procps                        ps, used by scripts/brokers.sh
#   chromium                      headless browser the bench report test renders report.html in
#
#   bash scripts/setup-debian.sh              install what is missing (as root, or through sudo)
#   bash scripts/setup-debian.sh --if-needed  the same, silent when nothing is missing (pretest)
#
# Servers: for each of Redis (6379), NATS (4222), MQTT (1883) and AMQP (5672) whose test URL is not
# set (WASMSG_TEST_{REDIS,NATS,MQTT,AMQP}_URL) and whose standard port on 127.0.0.1 does not
# answer, a private instance is started on that port (scripts/brokers.sh start); it keeps running
# after the tests (stop it with scripts/brokers.sh stop <dir>, the directory printed here).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
quiet=0
[ "${1:-}" = "--if-needed" ] && quiet=1
say() { echo "setup-debian: $*" >&2; }

packages=(
  clang lld
  librdkafka-dev pkg-config kcat
  nats-server redis-server mosquitto mosquitto-clients rabbitmq-server
  procps
  chromium
)

if ! command -v dpkg-query >/dev/null 2>&1; then
  say "not a Debian system: install clang, lld, librdkafka (with its mock header), pkg-config, chromium and"
  say "the servers nats-server, redis-server, mosquitto and rabbitmq-server yourself (see README.md)"
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  as_root=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      as_root=(sudo -n env DEBIAN_FRONTEND=noninteractive)
    else
      say "missing Debian packages: ${missing[*]}"
      say "installing them needs root: run   sudo bash scripts/setup-debian.sh   then npm test again"
      exit 1
    fi
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
elif [ "$quiet" -eq 0 ]; then
  say "all present (${packages[*]})"
fi

# The brokers of the integration tests: started privately where none answers.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
start_if_absent() { # <env var> <brokers.sh name> <port>
  local var="$1" name="$2" port="$3" line
  [ -n "${!var:-}" ] && return 0
  port_open "$port" && return 0
  say "no $name on 127.0.0.1:$port: starting one"
  line="$(bash "$here/brokers.sh" start "$name" "$port")"
  say "started $line (stop: bash scripts/brokers.sh stop ${line##* })"
}
start_if_absent WASMSG_TEST_REDIS_URL redis 6379
start_if_absent WASMSG_TEST_NATS_URL nats 4222
start_if_absent WASMSG_TEST_MQTT_URL mosquitto 1883
start_if_absent WASMSG_TEST_AMQP_URL rabbitmq 5672
