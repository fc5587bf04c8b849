# shellcheck shell=bash disable=SC2034  # sourced: the variables are used by up.sh, down.sh, restart-broker.sh
# Shared settings for up.sh, down.sh and restart-broker.sh in this folder.
#
# Everything lives under FLUXION_KAFKA_HOME (default ~/.cache/fluxion/kafka), outside the work
# tree, so every clone on a machine (a developer's checkout, CI's fresh clone) shares one download
# cache and sees the same running stack: the ports are machine-wide, so the pid files are too.
#   dist/   downloaded runtimes (kept by down.sh; delete the folder to force a fresh download)
#   state/  pid files, logs, the broker's log.dirs and the registry's database (data removed by down.sh)

KAFKA_VERSION=3.9.2
SLF4J_VERSION=1.7.36
# Of the Apicurio 3.x app archives on Central (3.0.9, 3.3.2, 3.3.3) only 3.0.x runs on Java 17: 3.3.x
# is Java 21 bytecode.
APICURIO_VERSION=3.0.9
# 2.8 on purpose: 3.x reads the artifact's POM for dependency:copy, and Apicurio 3.0.9's parent POM
# (io.apicurio:apicurio-registry:3.0.9) is not on Central, so 3.x fails where 2.8 just copies the file.
DEPENDENCY_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:2.8

HOST=127.0.0.1
# A second, private broker (e.g. one a test stops and starts) runs with its own FLUXION_KAFKA_STATE,
# FLUXION_KAFKA_PORT and FLUXION_KAFKA_CONTROLLER_PORT, and FLUXION_KAFKA_REGISTRY=0 (broker only).
# The defaults are those of the shared stack.
KAFKA_PORT="${FLUXION_KAFKA_PORT:-19092}"
CONTROLLER_PORT="${FLUXION_KAFKA_CONTROLLER_PORT:-19093}"
REGISTRY_PORT=18081
WITH_REGISTRY="${FLUXION_KAFKA_REGISTRY:-1}"
KAFKA_BROKERS="$HOST:$KAFKA_PORT"
SCHEMA_REGISTRY_URL="http://$HOST:$REGISTRY_PORT/apis/ccompat/v7"

FLUXION_KAFKA_HOME="${FLUXION_KAFKA_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/fluxion/kafka}"
DIST="$FLUXION_KAFKA_HOME/dist"
STATE="${FLUXION_KAFKA_STATE:-$FLUXION_KAFKA_HOME/state}"
KAFKA_DIST="$DIST/kafka-$KAFKA_VERSION"
APICURIO_DIST="$DIST/apicurio-registry-$APICURIO_VERSION"
KAFKA_PID="$STATE/kafka.pid"
REGISTRY_PID="$STATE/registry.pid"
KAFKA_LOG="$STATE/kafka.log"
REGISTRY_LOG="$STATE/registry.log"

KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
REGISTRY_HEAP_OPTS="${REGISTRY_HEAP_OPTS:--Xms64m -Xmx384m}"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { printf '[kafka] %s\n' "$*" >&2; }
die() { printf '[kafka] ERROR: %s\n' "$*" >&2; exit 1; }

# Serialise up/down across shells and clones (e.g. two test runs starting at once).
# A private stack (own FLUXION_KAFKA_STATE) has its own lock.
take_lock() {
  local lock="$FLUXION_KAFKA_HOME/.lock"
  [[ -n "${FLUXION_KAFKA_STATE:-}" ]] && lock="$STATE/.lock"
  mkdir -p "$(dirname "$lock")"
  exec 9>"$lock"
  if command -v flock >/dev/null 2>&1; then
    flock -w 900 9 || die "timed out waiting for $FLUXION_KAFKA_HOME/.lock (another up/down still running?)"
  fi
}

# pid_alive FILE MARKER: the pid in FILE is running and its command line contains MARKER
# (guards against a stale pid file whose number was reused by another process).
pid_alive() {
  local file="$1" marker="$2" pid
  [[ -f "$file" ]] || return 1
  pid="$(cat "$file" 2>/dev/null)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$marker"
}

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

KAFKA_MARKER="kafka.Kafka"
REGISTRY_MARKER="apicurio-registry-app-$APICURIO_VERSION-runner.jar"

# stop_service NAME PIDFILE MARKER DIST_DIR [SIGNAL]: stop the process in PIDFILE (if it is ours) with
# SIGNAL (TERM by default; KILL simulates a crash), escalating to SIGKILL after 60 s.
stop_service() {
  local name="$1" file="$2" marker="$3" dist="$4" signal="${5:-TERM}" pid i clean=1 f
  if ! pid_alive "$file" "$marker"; then
    [[ -f "$file" ]] && log "$name: stale pid file removed"
    rm -f "$file"
    return 0
  fi
  pid="$(cat "$file")"
  log "$name: stopping pid $pid (SIG$signal)"
  kill -"$signal" "$pid" 2>/dev/null || true
  [[ $signal == KILL ]] && clean=0
  for ((i = 0; i < 600; i++)); do # up to 60 s for a clean shutdown (the first one also writes the CDS archive)
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name: still running after 60s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    clean=0
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$file"
  # A class-data archive written at exit (see cds_opts in up.sh) is kept only after a clean exit.
  for f in "$dist"/cds-*.jsa.tmp; do
    [[ -e "$f" ]] || continue
    if ((clean)) && [[ -s "$f" ]]; then mv -f "$f" "${f%.tmp}"; log "$name: saved class-data archive ${f%.tmp}"
    else rm -f "$f"; fi
  done
}
