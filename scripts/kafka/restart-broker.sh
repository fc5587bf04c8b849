#!/usr/bin/env bash
# Restart the broker started by scripts/kafka/up.sh, keeping its data (topics, offsets, transaction
# state) and leaving the registry alone; for tests of client behaviour across a broker restart.
#   bash scripts/kafka/restart-broker.sh          # clean shutdown (SIGTERM), then start again
#   bash scripts/kafka/restart-broker.sh --kill   # crash (SIGKILL), then start again
#   bash scripts/kafka/restart-broker.sh --stop   # clean shutdown only; `up.sh` starts it again
#   bash scripts/kafka/restart-broker.sh --kill --stop   # crash only
# Returns when the broker answers again (same output as up.sh).
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

signal=TERM start=1
for arg in "$@"; do
  case "$arg" in
    --kill) signal=KILL ;;
    --stop) start=0 ;;
    *) die "usage: restart-broker.sh [--kill] [--stop]" ;;
  esac
done

take_lock
pid_alive "$KAFKA_PID" "$KAFKA_MARKER" || die "no broker started by scripts/kafka/up.sh is running (pid file $KAFKA_PID)"
stop_service broker "$KAFKA_PID" "$KAFKA_MARKER" "$KAFKA_DIST" "$signal"
((start)) || exit 0
exec 9>&- # release the lock: up.sh takes it again
exec bash "$SCRIPT_DIR/up.sh"
