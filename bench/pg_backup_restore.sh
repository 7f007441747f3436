#!/usr/bin/env bash
# Benchmark: cairn backup/restore of a PostgreSQL database against the bare pipeline it
# wraps, measured in one run on the same data.
#
#   bench/pg_backup_restore.sh [SCALE]     (default SCALE=70: pgbench data of ≈1 GB)
#
# Prints wall time, stored size and peak memory of
#   pg_dump | zstd -3 -T0 > file          vs  cairn backup --wait
#   zstd -dc file | psql                  vs  cairn restore --yes --wait
# and the ratios cairn/pipeline. "cairn memory" is the peak RSS (VmHWM) of the `cairn up`
# process itself (pg_dump/psql children excluded; they are the same in both columns).
# Needs the machine's PostgreSQL (127.0.0.1:5432, trust). Builds cairn in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${1:-70}
PG="-h 127.0.0.1 -U postgres"
SRC=cairn_bench_src
DST_BARE=cairn_bench_bare
WORK=$(mktemp -d /tmp/cairn-bench.XXXXXX)
PORT=$((20000 + RANDOM % 20000))
export CAIRN_SERVER="http://127.0.0.1:$PORT"
trap 'kill $UP_PID 2>/dev/null || true; psql $PG -qc "drop database if exists $DST_BARE" >/dev/null 2>&1; rm -rf "$WORK"' EXIT

cargo build --release -q -p cairn
CAIRN=target/release/cairn

now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc; }
size() { stat -c %s "$1"; }
mib() { echo "scale=1; $1 / 1048576" | bc; }

echo "== preparing pgbench scale $SCALE in $SRC"
if [ "$(psql $PG -Atc "select count(*) from pg_database where datname='$SRC'")" != 1 ] \
   || [ "$(psql $PG -d $SRC -Atc "select count(*) from pgbench_accounts" 2>/dev/null)" != "$((SCALE * 100000))" ]; then
  psql $PG -qc "drop database if exists $SRC" -c "create database $SRC"
  pgbench $PG -i -q -s "$SCALE" "$SRC" >/dev/null 2>&1
fi
DBSIZE=$(psql $PG -Atc "select pg_database_size('$SRC')")
echo "database size: $(mib "$DBSIZE") MiB"

bare_backup() {
  psql $PG -qc "checkpoint" >/dev/null
  local t; t=$(now)
  /usr/bin/time -f "%M" -o "$WORK/dump.rss" pg_dump $PG -d $SRC | /usr/bin/time -f "%M" -o "$WORK/zstd.rss" zstd -3 -T0 -q -f -o "$WORK/bare.sql.zst"
  elapsed "$t"
}
bare_restore() {
  psql $PG -qc "drop database if exists $DST_BARE" -c "create database $DST_BARE" -c "checkpoint" >/dev/null
  local t; t=$(now)
  /usr/bin/time -f "%M" -o "$WORK/unzstd.rss" zstd -dc -q "$WORK/bare.sql.zst" | psql $PG -q -X -v ON_ERROR_STOP=1 -d $DST_BARE >/dev/null
  elapsed "$t"
}
cairn_backup() {
  psql $PG -qc "checkpoint" >/dev/null
  local t; t=$(now)
  $CAIRN backup bench --wait >/dev/null
  elapsed "$t"
}
cairn_restore() {
  psql $PG -qc "checkpoint" >/dev/null
  local t; t=$(now)
  $CAIRN restore bench --backup latest --yes --wait >/dev/null
  elapsed "$t"
}
min() { printf '%s\n' "$@" | sort -g | head -1; }

$CAIRN up --data-dir "$WORK/data" --listen "127.0.0.1:$PORT" >"$WORK/up.log" 2>&1 &
UP_PID=$!
for _ in $(seq 100); do curl -sf "$CAIRN_SERVER/v1/health" >/dev/null && break; sleep 0.1; done
export CAIRN_TOKEN_FILE="$WORK/data/admin.token"
$CAIRN target add bench --url "postgres://postgres@127.0.0.1:5432/$SRC" >/dev/null

# Alternate bare and cairn, twice each, and keep the best of each: checkpoints and
# WAL recycling make single runs of a 1 GB load vary by ±20 % on this machine.
echo "== backups (bare, cairn, bare, cairn)"
B1=$(bare_backup); C1=$(cairn_backup); B2=$(bare_backup); C2=$(cairn_backup)
echo "   bare: $B1 $B2   cairn: $C1 $C2"
BARE_BACKUP=$(min "$B1" "$B2"); CAIRN_BACKUP=$(min "$C1" "$C2")
BARE_STORED=$(size "$WORK/bare.sql.zst")
BARE_BACKUP_RSS=$(( $(cat "$WORK/dump.rss") + $(cat "$WORK/zstd.rss") ))
CAIRN_STORED=$($CAIRN backups bench --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["stored_bytes"])')
CAIRN_BACKUP_RSS=$(awk '/VmHWM/ {print $2}' /proc/$UP_PID/status)

# cairn restores onto the same database: it loads into a fresh database and swaps it in.
echo "== restores (bare, cairn, bare, cairn)"
R1=$(bare_restore); S1=$(cairn_restore); R2=$(bare_restore); S2=$(cairn_restore)
echo "   bare: $R1 $R2   cairn: $S1 $S2"
BARE_RESTORE=$(min "$R1" "$R2"); CAIRN_RESTORE=$(min "$S1" "$S2")
BARE_RESTORE_RSS=$(cat "$WORK/unzstd.rss")
CAIRN_RESTORE_RSS=$(awk '/VmHWM/ {print $2}' /proc/$UP_PID/status)
psql $PG -qc "drop database if exists $DST_BARE"
ROWS=$(psql $PG -d $SRC -Atc "select count(*) from pgbench_accounts")
[ "$ROWS" = "$((SCALE * 100000))" ] || { echo "restore lost rows: $ROWS" >&2; exit 1; }

printf '\n%-34s %12s %12s %10s\n' "" "bare" "cairn" "ratio"
printf '%-34s %12.2f %12.2f %10.3f\n' "backup wall (s)" "$BARE_BACKUP" "$CAIRN_BACKUP" "$(echo "$CAIRN_BACKUP / $BARE_BACKUP" | bc -l)"
printf '%-34s %12s %12s %10.3f\n' "stored size (MiB)" "$(mib "$BARE_STORED")" "$(mib "$CAIRN_STORED")" "$(echo "$CAIRN_STORED / $BARE_STORED" | bc -l)"
printf '%-34s %12.2f %12.2f %10.3f\n' "restore wall (s)" "$BARE_RESTORE" "$CAIRN_RESTORE" "$(echo "$CAIRN_RESTORE / $BARE_RESTORE" | bc -l)"
printf '%-34s %12s %12s\n' "peak RSS backup (MiB)" "$(mib $((BARE_BACKUP_RSS * 1024)))" "$(mib $((CAIRN_BACKUP_RSS * 1024)))"
printf '%-34s %12s %12s\n' "peak RSS restore (MiB)" "$(mib $((BARE_RESTORE_RSS * 1024)))" "$(mib $((CAIRN_RESTORE_RSS * 1024)))"
echo "(bare RSS = pg_dump + zstd, and zstd -dc; cairn RSS = the cairn up process alone)"
echo "database: $(mib "$DBSIZE") MiB, pgbench scale $SCALE"
