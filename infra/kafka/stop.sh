#!/usr/bin/env bash
# Stops the broker started by start.sh: SIGTERM (controlled shutdown), then SIGKILL after a grace
# period. Removes the pid file. Keeps the data directory (delete it yourself for a clean slate).
#
#   infra/kafka/stop.sh [--data-dir DIR] [--grace S]
#   KAFKA_DATA_DIR (default infra/kafka/.data), KAFKA_STOP_GRACE_S (default 20)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
data_dir="${KAFKA_DATA_DIR:-$here/.data}"
grace_s="${KAFKA_STOP_GRACE_S:-20}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --data-dir) data_dir="$2"; shift 2 ;;
    --grace) grace_s="$2"; shift 2 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
pid_file="$data_dir/kafka.pid"
if [[ ! -f "$pid_file" ]]; then
  echo "kafka not running (no $pid_file)"
  exit 0
fi
pid="$(cat "$pid_file")"
if ! kill -0 "$pid" 2>/dev/null; then
  echo "kafka not running (stale pid $pid)"
  rm -f "$pid_file"
  exit 0
fi
echo "stopping kafka (pid $pid) ..."
kill -TERM "$pid" 2>/dev/null || true
deadline=$((SECONDS + grace_s))
while kill -0 "$pid" 2>/dev/null; do
  if (( SECONDS >= deadline )); then
    echo "kafka still running after ${grace_s}s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    break
  fi
  sleep 0.2
done
rm -f "$pid_file"
echo "kafka stopped"
