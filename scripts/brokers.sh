#!/usr/bin/env bash
# Starts/stops throw-away message brokers for the tests, on machines that don't run them
# (or next to the system ones, on other ports). Everything listens on 127.0.0.1 only and
# keeps its data in a fresh temporary directory.
#
#   scripts/brokers.sh start <nats|redis|mosquitto|rabbitmq> <port>
#       Starts the broker in the background, waits until <port> accepts TCP connections
#       (BROKER_START_TIMEOUT seconds, default 20; 40 for rabbitmq), writes its PID to
#       <dir>/pid and prints one line:  <name> <port> <pid> <dir>
#       RabbitMQ also gets its own epmd on EPMD_PORT (default port+1000) and Erlang
#       distribution port RABBITMQ_DIST_PORT (default port+20000, or port-20000 if that
#       exceeds 65535); their PIDs go to <dir>/epmd.pid and <dir>/beam.pid.
#   scripts/brokers.sh stop <dir> [<dir>...]
#       TERM the recorded PIDs, wait up to 10 s, then KILL; removes <dir>.
#
# Logs are in <dir>/log (and <dir>/log-* for RabbitMQ); on a failed start the tail is
# printed to stderr. Install the servers with scripts/setup-debian.sh.
set -euo pipefail

PATH="$PATH:/usr/sbin:/sbin"
MARKER=.wasmsg-broker

die() { echo "brokers.sh: $*" >&2; exit 1; }
usage() {
  echo "usage: $0 start <nats|redis|mosquitto|rabbitmq> <port> | stop <dir>..." >&2
  exit 2
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Start time of a process (field 22 of /proc/PID/stat), to guard against PID reuse.
proc_start() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }" # drop "pid (comm) ", comm may contain spaces
  set -- $stat
  echo "${20}"
}

# True while PID runs and is the process we recorded (zombies count as gone).
proc_alive() {
  local pid="$1" start="${2:-}" state
  [ -r "/proc/$pid/stat" ] || return 1
  state="$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" || return 1
  [ -n "$state" ] && [ "$state" != Z ] || return 1
  [ -z "$start" ] || [ "$(proc_start "$pid")" = "$start" ]
}

# record <dir> <file> <pid>: writes <dir>/<file> (the PID) and <dir>/<file>.start
record() {
  echo "$3" >"$1/$2"
  proc_start "$3" >"$1/$2.start" 2>/dev/null || :
}

# stop_recorded <dir> <file>: TERM, wait up to 10 s, KILL.
stop_recorded() {
  local dir="$1" file="$2" pid start i
  [ -s "$dir/$file" ] || return 0
  pid="$(head -n1 "$dir/$file")"
  [[ "$pid" =~ ^[0-9]+$ ]] && [ "$pid" -gt 1 ] || { echo "brokers.sh: bad pid in $dir/$file" >&2; return 0; }
  start="$(cat "$dir/$file.start" 2>/dev/null || :)"
  proc_alive "$pid" "$start" || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    proc_alive "$pid" "$start" || return 0
    sleep 0.1
  done
  echo "brokers.sh: pid $pid ($file) ignored SIGTERM for 10 s, sending SIGKILL" >&2
  kill -KILL "$pid" 2>/dev/null || :
  for ((i = 0; i < 50; i++)); do
    proc_alive "$pid" "$start" || return 0
    sleep 0.1
  done
  echo "brokers.sh: pid $pid still alive after SIGKILL" >&2
  return 1
}

stop_dir() {
  local dir="${1%/}" ok=0
  [ -d "$dir" ] || die "no such directory: $dir"
  [ -f "$dir/$MARKER" ] || die "$dir was not created by brokers.sh (no $MARKER); not touching it"
  # Main process first (RabbitMQ's wrapper stops the VM gracefully), then leftovers.
  stop_recorded "$dir" pid || ok=1
  stop_recorded "$dir" beam.pid || ok=1
  stop_recorded "$dir" epmd.pid || ok=1
  [ "$ok" = 0 ] || die "could not stop everything in $dir; left it in place"
  rm -rf -- "$dir"
}

find_bin() {
  local b
  for b in "$@"; do
    if [ -x "$b" ]; then echo "$b"; return 0; fi
    if command -v "$b" >/dev/null 2>&1; then command -v "$b"; return 0; fi
  done
  return 1
}

check_port() {
  [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le 65535 ] || die "bad port '$1'"
  ! port_open "$1" || die "port $1 on 127.0.0.1 is already in use"
}

# wait_port <dir> <port> <timeout-s> <pid>...: polls until the port accepts connections.
wait_port() {
  local dir="$1" port="$2" timeout="$3" i p
  shift 3
  for ((i = 0; i < timeout * 10; i++)); do
    if port_open "$port"; then return 0; fi
    for p in "$@"; do
      if ! proc_alive "$p"; then
        echo "brokers.sh: process $p exited before port $port opened" >&2
        return 1
      fi
    done
    sleep 0.1
  done
  echo "brokers.sh: port $port did not open within ${timeout}s" >&2
  return 1
}

fail_start() {
  local dir="$1" f
  for f in "$dir"/log "$dir"/log-*/*.log; do
    [ -f "$f" ] || continue
    echo "--- $f (tail)" >&2
    tail -n 20 "$f" >&2
  done
  stop_dir "$dir" || :
  exit 1
}

start_broker() {
  local name="$1" port="$2" dir pid bin timeout="${BROKER_START_TIMEOUT:-20}"
  check_port "$port"
  case "$name" in
    nats) bin="$(find_bin nats-server)" || die "nats-server not found; run scripts/setup-debian.sh" ;;
    redis) bin="$(find_bin redis-server)" || die "redis-server not found; run scripts/setup-debian.sh" ;;
    mosquitto) bin="$(find_bin mosquitto)" || die "mosquitto not found; run scripts/setup-debian.sh" ;;
    rabbitmq)
      bin="$(find_bin "${RABBITMQ_SERVER_BIN:-/usr/lib/rabbitmq/bin/rabbitmq-server}")" \
        || die "rabbitmq-server not found; run scripts/setup-debian.sh"
      timeout="${BROKER_START_TIMEOUT:-40}"
      ;;
    *) usage ;;
  esac

  dir="$(mktemp -d "${TMPDIR:-/tmp}/wasmsg-$name-$port-XXXXXX")"
  : >"$dir/$MARKER"

  case "$name" in
    nats)
      setsid "$bin" -a 127.0.0.1 -p "$port" -js -sd "$dir/jetstream" </dev/null >"$dir/log" 2>&1 &
      pid=$!
      ;;
    redis)
      setsid "$bin" --bind 127.0.0.1 --port "$port" --dir "$dir" --save '' --appendonly no \
        --daemonize no --logfile '' </dev/null >"$dir/log" 2>&1 &
      pid=$!
      ;;
    mosquitto)
      {
        echo "listener $port 127.0.0.1"
        echo "allow_anonymous true"
        echo "persistence true"
        echo "persistence_location $dir/"
        echo "log_dest stdout"
        # As root mosquitto would drop to user "mosquitto", which cannot write $dir.
        if [ "$(id -u)" = 0 ]; then echo "user root"; fi
      } >"$dir/mosquitto.conf"
      setsid "$bin" -c "$dir/mosquitto.conf" </dev/null >"$dir/log" 2>&1 &
      pid=$!
      ;;
    rabbitmq)
      start_rabbitmq "$dir" "$port" "$bin" "$timeout"
      return
      ;;
  esac
  record "$dir" pid "$pid"
  wait_port "$dir" "$port" "$timeout" "$pid" || fail_start "$dir"
  echo "$name $port $pid $dir"
}

start_rabbitmq() {
  local dir="$1" port="$2" bin="$3" timeout="$4" epmd_bin epmd_port dist_port epmd_pid pid beam i
  epmd_port="${EPMD_PORT:-$((port + 1000))}"
  if [ -z "${RABBITMQ_DIST_PORT:-}" ]; then
    dist_port=$((port + 20000))
    [ "$dist_port" -le 65535 ] || dist_port=$((port - 20000))
  else
    dist_port="$RABBITMQ_DIST_PORT"
  fi
  [ "$epmd_port" -ge 1 ] && [ "$epmd_port" -le 65535 ] && [ "$dist_port" -ge 1 ] && [ "$dist_port" -le 65535 ] \
    || { rm -rf -- "$dir"; die "cannot derive epmd/dist ports from $port; set EPMD_PORT and RABBITMQ_DIST_PORT"; }
  ! port_open "$epmd_port" || { rm -rf -- "$dir"; die "epmd port $epmd_port already in use (set EPMD_PORT)"; }
  ! port_open "$dist_port" || { rm -rf -- "$dir"; die "dist port $dist_port already in use (set RABBITMQ_DIST_PORT)"; }
  epmd_bin="$(find_bin epmd /usr/lib/erlang/bin/epmd)" || { rm -rf -- "$dir"; die "epmd not found; run scripts/setup-debian.sh"; }

  mkdir -p "$dir/home" "$dir/mnesia" "$dir/log-rabbit"
  : >"$dir/rabbitmq-env.conf" # keeps /etc/rabbitmq/rabbitmq-env.conf (system node name) out
  echo '[].' >"$dir/enabled_plugins"
  cat >"$dir/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:$port
listeners.ssl = none
loopback_users = none
log.console = false
log.file.level = info
EOF

  setsid "$epmd_bin" -address 127.0.0.1 -port "$epmd_port" </dev/null >"$dir/log-epmd" 2>&1 &
  epmd_pid=$!
  record "$dir" epmd.pid "$epmd_pid"
  wait_port "$dir" "$epmd_port" 10 "$epmd_pid" || fail_start "$dir"

  (
    export HOME="$dir/home"
    export ERL_EPMD_PORT="$epmd_port" ERL_EPMD_ADDRESS=127.0.0.1
    export ERL_FLAGS="-kernel inet_dist_use_interface {127,0,0,1}"
    export RABBITMQ_NODENAME="wasmsg-$port@localhost"
    export RABBITMQ_DIST_PORT="$dist_port"
    export RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf"
    export RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf"
    export RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config"
    export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
    export RABBITMQ_MNESIA_BASE="$dir/mnesia"
    export RABBITMQ_LOG_BASE="$dir/log-rabbit"
    unset RABBITMQ_ALLOW_INPUT NOTIFY_SOCKET RABBITMQ_NODE_PORT
    exec setsid "$bin" </dev/null >"$dir/log" 2>&1
  ) &
  pid=$!
  record "$dir" pid "$pid"
  wait_port "$dir" "$port" "$timeout" "$pid" "$epmd_pid" || fail_start "$dir"
  # The wrapper script runs the Erlang VM as its child; remember it in case the wrapper dies.
  for ((i = 0; i < 20; i++)); do
    beam="$(ps -o pid= --ppid "$pid" 2>/dev/null | head -n1 | tr -d ' ')"
    [ -z "$beam" ] || { record "$dir" beam.pid "$beam"; break; }
    sleep 0.1
  done
  echo "rabbitmq $port $pid $dir"
}

case "${1:-}" in
  start)
    [ $# -eq 3 ] || usage
    start_broker "$2" "$3"
    ;;
  stop)
    [ $# -ge 2 ] || usage
    shift
    for d in "$@"; do stop_dir "$d"; done
    ;;
  *) usage ;;
esac
