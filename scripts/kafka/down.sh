#!/usr/bin/env bash
# npm run kafka:down — stop the broker and registry started by scripts/kafka/up.sh and delete their
# data (the broker's log.dirs and the registry's database). Downloads under dist/ and the last logs
# are kept. Only processes recorded in the pid files are stopped; safe to run when nothing is up.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

take_lock
# The two are independent: stop both at once.
stop_service registry "$REGISTRY_PID" "$REGISTRY_MARKER" "$APICURIO_DIST" &
stop_service broker "$KAFKA_PID" "$KAFKA_MARKER" "$KAFKA_DIST" &
wait
rm -rf "$STATE/kafka" "$STATE/registry"
ports=("$KAFKA_PORT" "$CONTROLLER_PORT")
[[ $WITH_REGISTRY == 0 ]] || ports+=("$REGISTRY_PORT")
for port in "${ports[@]}"; do
  port_open "$port" && log "note: port $port is still taken by a process this script did not start"
done
log "down (data removed; logs kept in $STATE, downloads in $DIST)"
