#!/usr/bin/env bash
# npm run kafka:up — start a local single-node Apache Kafka broker (KRaft, transactions enabled) on
# 127.0.0.1:19092 and a Confluent-compatible schema registry (Apicurio Registry, ccompat API) at
# http://127.0.0.1:18081/apis/ccompat/v7, both from Maven Central (downloaded once, then cached),
# and wait until both answer. Idempotent: a stack that is already up is reused. See README.md here.
#
# Environment: FLUXION_KAFKA_HOME (cache + state, default ~/.cache/fluxion/kafka),
# FLUXION_KAFKA_TIMEOUT (seconds to wait for readiness, default 180), KAFKA_HEAP_OPTS, REGISTRY_HEAP_OPTS;
# for a second, private broker: FLUXION_KAFKA_STATE, FLUXION_KAFKA_PORT, FLUXION_KAFKA_CONTROLLER_PORT
# and FLUXION_KAFKA_REGISTRY=0 (no registry). See common.sh.
# The last lines on stdout are KAFKA_BROKERS=…, SCHEMA_REGISTRY_URL=… and FLUXION_KAFKA_STACK=started|reused.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
TIMEOUT="${FLUXION_KAFKA_TIMEOUT:-180}"
T0=$SECONDS

need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found on PATH: $2"; }

check_tools() {
  need java "install a Java 17+ runtime (e.g. apt-get install openjdk-17-jre-headless)"
  need node "Node 20+ is needed for the readiness check"
  local props v
  props="$(java -XshowSettings:properties -version 2>&1)"
  v="$(sed -n 's/^ *java.specification.version = //p' <<<"$props")"
  [[ "${v%%.*}" =~ ^[0-9]+$ && "${v%%.*}" -ge 17 ]] || die "Java 17+ required, found '${v:-unknown}'"
  JVM_ID="$(sed -n 's/^ *java.vm.version = //p' <<<"$props" | tr -c 'A-Za-z0-9._\n-' '_')"
  [[ -f "$REPO_ROOT/node_modules/kafkajs/package.json" ]] || die "kafkajs is not installed in $REPO_ROOT/node_modules: run npm ci first"
}

# --- download (first run only) ------------------------------------------------------------------

mvn_run() { # mvn_run LOGFILE ARGS... — quiet unless it fails
  local logfile="$1"; shift
  if ! mvn -B -ntp "$@" >"$logfile" 2>&1; then
    tail -n 40 "$logfile" >&2
    die "mvn $* failed (full log: $logfile)"
  fi
}

fetch_kafka() {
  [[ -f "$KAFKA_DIST/.complete" ]] && return 0
  need mvn "Maven is needed once, to download Kafka from Maven Central"
  log "downloading Kafka $KAFKA_VERSION from Maven Central (first run only)…"
  local t=$SECONDS tmp="$KAFKA_DIST.partial"
  rm -rf "$tmp" && mkdir -p "$tmp"
  cat >"$tmp/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.fluxion.local</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>$SLF4J_VERSION</version></dependency>
  </dependencies>
</project>
POM
  mvn_run "$DIST/fetch-kafka.log" -f "$tmp/pom.xml" "$DEPENDENCY_PLUGIN:copy-dependencies" \
    -DincludeScope=runtime -DoutputDirectory="$tmp/lib"
  [[ -f "$tmp/lib/kafka_2.13-$KAFKA_VERSION.jar" ]] || die "kafka_2.13-$KAFKA_VERSION.jar missing after download"
  touch "$tmp/.complete"
  rm -rf "$KAFKA_DIST" && mv "$tmp" "$KAFKA_DIST"
  log "Kafka $KAFKA_VERSION: $(find "$KAFKA_DIST/lib" -name '*.jar' | wc -l) jars in $((SECONDS - t))s"
}

fetch_apicurio() {
  [[ -f "$APICURIO_DIST/.complete" ]] && return 0
  need mvn "Maven is needed once, to download Apicurio Registry from Maven Central"
  need tar "tar unpacks the Apicurio archive"
  log "downloading Apicurio Registry $APICURIO_VERSION (io.apicurio:apicurio-registry-app:tar.gz:all, ~110 MB) from Maven Central (first run only)…"
  local t=$SECONDS tmp="$APICURIO_DIST.partial"
  rm -rf "$tmp" && mkdir -p "$tmp"
  # dependency:copy needs a project to run in; reuse a throwaway one.
  printf '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion><groupId>dev.fluxion.local</groupId><artifactId>apicurio-fetch</artifactId><version>1</version><packaging>pom</packaging></project>\n' >"$tmp/pom.xml"
  mvn_run "$DIST/fetch-apicurio.log" -f "$tmp/pom.xml" "$DEPENDENCY_PLUGIN:copy" \
    -Dartifact="io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all" -DoutputDirectory="$tmp"
  tar -xzf "$tmp/apicurio-registry-app-$APICURIO_VERSION-all.tar.gz" -C "$tmp"
  rm -f "$tmp/apicurio-registry-app-$APICURIO_VERSION-all.tar.gz" "$tmp/pom.xml"
  [[ -f "$tmp/$REGISTRY_MARKER" ]] || die "$REGISTRY_MARKER missing from the Apicurio archive"
  touch "$tmp/.complete"
  rm -rf "$APICURIO_DIST" && mv "$tmp" "$APICURIO_DIST"
  log "Apicurio Registry $APICURIO_VERSION unpacked in $((SECONDS - t))s"
}

# --- start ----------------------------------------------------------------------------------------

# Application class-data sharing: the first start of each JVM records the classes it loaded into
# cds-<jvm>.jsa.tmp when it exits (down.sh keeps the file only after a clean stop); later starts map
# that archive instead of loading and verifying ~10k classes again. Measured here: broker 12 s → 4 s,
# registry 20 s → 5 s (with C1 only). A stale or foreign archive is only a warning and a slow start.
# FLUXION_KAFKA_CDS=0 turns it off.
cds_opts() { # cds_opts DIST_DIR [dump|use]
  [[ "${FLUXION_KAFKA_CDS:-1}" == 0 || -z "${JVM_ID:-}" ]] && return 0
  local archive="$1/cds-$JVM_ID.jsa"
  if [[ -s "$archive" ]]; then
    echo "-XX:SharedArchiveFile=$archive"
  elif [[ "${2:-dump}" == dump ]]; then
    rm -f "$archive.tmp"
    echo "-XX:ArchiveClassesAtExit=$archive.tmp"
  fi
}

start_kafka() {
  local dir="$STATE/kafka"
  mkdir -p "$dir/data"
  cat >"$dir/server.properties" <<PROPS
# Written by scripts/kafka/up.sh; docker-compose.yml's broker uses the same settings.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS
  cat >"$dir/log4j.properties" <<'PROPS'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.server.KafkaConfig=WARN
log4j.logger.org.apache.kafka.clients.admin.AdminClientConfig=WARN
PROPS
  local heap format_cds run_cds
  read -ra heap <<<"$KAFKA_HEAP_OPTS"
  mapfile -t format_cds < <(cds_opts "$KAFKA_DIST" use)
  mapfile -t run_cds < <(cds_opts "$KAFKA_DIST" dump)
  local java=(java "${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
    "-Dlog4j.configuration=file:$dir/log4j.properties" -cp "$KAFKA_DIST/lib/*")
  : >"$KAFKA_LOG"
  if [[ ! -f "$dir/data/meta.properties" ]]; then
    # A Kafka cluster id is 16 random bytes in unpadded base64url (what `kafka-storage random-uuid` prints).
    local cluster_id
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-22)"
    "${java[@]}" "${format_cds[@]}" -XX:TieredStopAtLevel=1 kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" --ignore-formatted \
      >>"$KAFKA_LOG" 2>&1 || { tail -n 30 "$KAFKA_LOG" >&2; die "formatting $dir/data failed"; }
  fi
  # setsid + nohup: the broker outlives the shell (and the test run) that started it.
  # 9>&-: don't hand the up/down lock to the JVM (it would hold the lock for as long as it runs).
  setsid nohup "${java[@]}" "${run_cds[@]}" kafka.Kafka "$dir/server.properties" >>"$KAFKA_LOG" 2>&1 </dev/null 9>&- &
  echo $! >"$KAFKA_PID"
  log "broker starting (pid $(cat "$KAFKA_PID"), log $KAFKA_LOG)"
}

start_registry() {
  local dir="$STATE/registry"
  mkdir -p "$dir"
  : >"$REGISTRY_LOG"
  # - bind 127.0.0.1:18081 only; the ccompat (Confluent) API is under /apis/ccompat/v7.
  # - H2 in a file under state/, so schemas (and the ids that Kafka records carry) survive a
  #   registry restart as the broker's data does; down.sh deletes both.
  # - use-canonical-hash: re-registering the same schema with different whitespace/key order
  #   returns the existing id, as Confluent's registry does.
  # - deletion flags: DELETE /subjects/{s} (tests clean up after themselves).
  # - C1 only (-XX:TieredStopAtLevel=1): the registry serves a few lookups (clients cache schemas
  #   by id), so peak speed does not matter and startup halves.
  # exec: the pid recorded is the JVM's, not a subshell's.
  local heap cds
  read -ra heap <<<"$REGISTRY_HEAP_OPTS"
  mapfile -t cds < <(cds_opts "$APICURIO_DIST" dump)
  (cd "$dir" && exec setsid nohup java "${heap[@]}" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 "${cds[@]}" -Djava.awt.headless=true \
    -Dquarkus.http.host="$HOST" -Dquarkus.http.port="$REGISTRY_PORT" \
    -Dapicurio.datasource.url="jdbc:h2:file:$dir/db" \
    -Dapicurio.ccompat.use-canonical-hash=true \
    -Dapicurio.rest.deletion.artifact.enabled=true \
    -Dapicurio.rest.deletion.artifact-version.enabled=true \
    -Dapicurio.rest.deletion.group.enabled=true \
    -jar "$APICURIO_DIST/$REGISTRY_MARKER") >>"$REGISTRY_LOG" 2>&1 </dev/null 9>&- &
  echo $! >"$REGISTRY_PID"
  log "registry starting (pid $(cat "$REGISTRY_PID"), log $REGISTRY_LOG)"
}

print_tail() { # print_tail NAME FILE
  [[ -s "$2" ]] || return 0
  printf '[kafka] ---- last lines of %s (%s) ----\n' "$1" "$2" >&2
  tail -n 40 "$2" >&2
  printf '[kafka] ---- end of %s ----\n' "$1" >&2
}

stop_started() { # stop what this run started (and wait for it), so the next run starts clean
  local f pid i
  for f in "$@"; do
    pid="$(cat "$f" 2>/dev/null || true)"
    rm -f "$f"
    [[ "$pid" =~ ^[0-9]+$ ]] || continue
    kill -TERM "$pid" 2>/dev/null || continue
    for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -f "$KAFKA_DIST"/cds-*.jsa.tmp "$APICURIO_DIST"/cds-*.jsa.tmp
}

# --- main -----------------------------------------------------------------------------------------

take_lock
mkdir -p "$DIST" "$STATE"

# What is running already? Ours (pid file + live process), someone else's (port taken), or nothing.
kafka_mode=start registry_mode=start
if pid_alive "$KAFKA_PID" "$KAFKA_MARKER"; then kafka_mode=ours
elif port_open "$KAFKA_PORT"; then kafka_mode=foreign; rm -f "$KAFKA_PID"
else rm -f "$KAFKA_PID"; fi
if pid_alive "$REGISTRY_PID" "$REGISTRY_MARKER"; then registry_mode=ours
elif port_open "$REGISTRY_PORT"; then registry_mode=foreign; rm -f "$REGISTRY_PID"
else rm -f "$REGISTRY_PID"; fi
[[ $WITH_REGISTRY == 0 ]] && registry_mode=none

started=()
if [[ $kafka_mode == start || $registry_mode == start ]]; then
  check_tools
  [[ $kafka_mode == start ]] && fetch_kafka
  [[ $registry_mode == start ]] && fetch_apicurio
  # Registry first: it boots while the broker's storage is being formatted.
  if [[ $registry_mode == start ]]; then start_registry; started+=("$REGISTRY_PID"); fi
  if [[ $kafka_mode == start ]]; then
    if port_open "$CONTROLLER_PORT"; then
      ((${#started[@]})) && stop_started "${started[@]}"
      die "port $CONTROLLER_PORT (the broker's controller listener) is taken by another process"
    fi
    start_kafka; started+=("$KAFKA_PID")
  fi
else
  [[ -f "$REPO_ROOT/node_modules/kafkajs/package.json" ]] || die "kafkajs is not installed in $REPO_ROOT/node_modules: run npm ci first"
fi
[[ $kafka_mode == foreign ]] && log "port $KAFKA_PORT is already taken by a process this script did not start; checking that it is a Kafka broker"
[[ $registry_mode == foreign ]] && log "port $REGISTRY_PORT is already taken by a process this script did not start; checking that it is a schema registry"

wait_args=(--brokers "$KAFKA_BROKERS" --timeout "$TIMEOUT")
[[ $registry_mode == none ]] || wait_args+=(--registry "$SCHEMA_REGISTRY_URL")
[[ $kafka_mode == start ]] && wait_args+=(--kafka-pid "$(cat "$KAFKA_PID")")
[[ $registry_mode == start ]] && wait_args+=(--registry-pid "$(cat "$REGISTRY_PID")")
set +e
node "$SCRIPT_DIR/wait.mjs" "${wait_args[@]}"
rc=$?
set -e
if ((rc != 0)); then
  ((rc & 2)) && [[ $kafka_mode == start ]] && print_tail broker "$KAFKA_LOG"
  ((rc & 4)) && [[ $registry_mode == start ]] && print_tail registry "$REGISTRY_LOG"
  ((${#started[@]})) && stop_started "${started[@]}"
  die "the local Kafka stack did not come up within ${TIMEOUT}s (see the logs above; state in $STATE)"
fi

what="broker $KAFKA_BROKERS, registry $SCHEMA_REGISTRY_URL"
[[ $registry_mode == none ]] && what="broker $KAFKA_BROKERS (no registry)"
if ((${#started[@]} == 0)); then
  log "already up: $what"
  stack=reused
else
  log "up in $((SECONDS - T0))s: $what (state in $STATE)"
  stack=started
fi
echo "KAFKA_BROKERS=$KAFKA_BROKERS"
[[ $registry_mode == none ]] || echo "SCHEMA_REGISTRY_URL=$SCHEMA_REGISTRY_URL"
echo "FLUXION_KAFKA_STACK=$stack"
