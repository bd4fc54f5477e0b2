#!/usr/bin/env bash
# Bring up a real one-node Slurm cluster on this (Debian 12) machine, for CI.
#
#   bash .ci/slurm-up.sh        # start (idempotent: exits 0 at once if healthy)
#   bash .ci/slurm-down.sh      # stop the daemons
#
# Needs root.  No systemd: munged, slurmctld and slurmd are started by hand.
# Knobs (environment):
#   SLURM_CI_CPUS=N          CPUs advertised for the node (default: nproc).
#                            More than nproc over-subscribes the machine, so
#                            more 1-CPU jobs / array tasks run at once.
#   SLURM_CI_MEM_MB=N        RealMemory of the node (default: what slurmd -C sees).
#   SLURM_CI_ACCOUNTING=1    also run slurmdbd + MariaDB so that `sacct` works
#                            (submitit reads job states through sacct).
#   SLURM_CI_WAIT=S          seconds to wait for the node to be ready (default 30).
#   SLURM_CI_KEEP_STATE=1    on a cold start keep the jobs saved by an earlier
#                            cluster (default: drop them; job ids keep counting).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TEMPLATE="$HERE/slurm/slurm.conf.in"
CONF=/etc/slurm/slurm.conf
WAIT="${SLURM_CI_WAIT:-30}"
ACCOUNTING="${SLURM_CI_ACCOUNTING:-0}"
T0=$(date +%s.%N)

log() { echo "[slurm-up] $*" >&2; }
die() { log "ERROR: $*"; dump_logs; exit 1; }
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }

dump_logs() {
    local f
    for f in /var/log/munge/munged.log:15 /var/log/slurm/slurmdbd.log:40 \
             /var/log/slurm/slurmctld.log:60 /var/log/slurm/slurmd.log:60; do
        [ -f "${f%:*}" ] || continue
        echo "===== tail -n ${f##*:} ${f%:*} =====" >&2
        tail -n "${f##*:}" "${f%:*}" >&2 || true
    done
}

[ "$(id -u)" = 0 ] || { echo "[slurm-up] must run as root" >&2; exit 1; }

# One invocation at a time (parallel test workers may all call this).
LOCK=/run/lock/slurm-ci-up.lock
[ -d /run/lock ] || LOCK=/tmp/slurm-ci-up.lock
exec 9>"$LOCK"   # (daemons below are started with 9>&- so they do not inherit it)
flock -w 300 9 || { echo "[slurm-up] could not get the lock" >&2; exit 1; }

# pid_alive PIDFILE NAME: the process in PIDFILE exists and is called NAME.
pid_alive() {
    local pid
    [ -s "$1" ] || return 1
    pid=$(cat "$1" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ]
}

node_state() { timeout 10 sinfo -h -o %t 2>/dev/null | head -n1 || true; }
summary() {  # summary VERB STATE
    echo "slurm: $1 on $HOST (node $2, CPUs=$CPUS RealMemory=${MEM}MB, partition debug," \
         "accounting=$([ "$ACCOUNTING" = 1 ] && echo slurmdbd || echo none), $(elapsed)s)"
}

# ----------------------------------------------------------------- packages --
PKGS=(slurmctld slurmd slurm-client munge)
[ "$ACCOUNTING" = 1 ] && PKGS+=(slurmdbd mariadb-server)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Keep the packages' init scripts from trying to start anything.
    policy_created=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        policy_created=1
    fi
    { apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/slurm-ci-apt.log 2>&1 ||
      { apt-get update -q >>/tmp/slurm-ci-apt.log 2>&1 &&
        apt-get install -y -q --no-install-recommends "${missing[@]}" >>/tmp/slurm-ci-apt.log 2>&1; }; } ||
        { [ "$policy_created" = 1 ] && rm -f /usr/sbin/policy-rc.d
          tail -n 40 /tmp/slurm-ci-apt.log >&2; die "apt-get install failed"; }
    [ "$policy_created" = 1 ] && rm -f /usr/sbin/policy-rc.d
fi

# ----------------------------------------------------------- render config --
HOST=$(hostname -s)
CPUS="${SLURM_CI_CPUS:-$(nproc)}"
if [ -n "${SLURM_CI_MEM_MB:-}" ]; then
    MEM="$SLURM_CI_MEM_MB"
else
    MEM=$(slurmd -C 2>/dev/null | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -n1)
    [ -n "$MEM" ] || MEM=$(awk '/^MemTotal:/{printf "%d", $2/1024}' /proc/meminfo)
fi
if [ "$ACCOUNTING" = 1 ]; then
    ACCT_LINES="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819"
else
    ACCT_LINES="AccountingStorageType=accounting_storage/none"
fi
rendered=$(mktemp)
trap 'rm -f "$rendered"' EXIT
awk -v host="$HOST" -v cpus="$CPUS" -v mem="$MEM" -v acct="$ACCT_LINES" '
    { gsub(/@HOST@/, host); gsub(/@CPUS@/, cpus); gsub(/@MEM@/, mem);
      if ($0 == "@ACCOUNTING@") { print acct; next }
      print }' "$TEMPLATE" > "$rendered"

# --------------------------------------------- already up and healthy? ------
# Compare settings only: a comment-only change to the template does not restart.
settings() { grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$1" 2>/dev/null || true; }
config_same=0
[ "$(settings "$rendered")" = "$(settings "$CONF")" ] && config_same=1
dbd_ok=1
if [ "$ACCOUNTING" = 1 ]; then
    pid_alive /run/slurm/slurmdbd.pid slurmdbd || dbd_ok=0
    mysqladmin ping >/dev/null 2>&1 || dbd_ok=0
fi
if [ "$config_same" = 1 ] && [ "$dbd_ok" = 1 ] &&
   pid_alive /run/munge/munged.pid munged &&
   pid_alive /run/slurm/slurmctld.pid slurmctld &&
   pid_alive /run/slurm/slurmd.pid slurmd; then
    st=$(node_state)
    case "$st" in
        idle|mix|alloc|comp)
            summary "already up" "$st"
            exit 0 ;;
    esac
fi

# Cold start: no controller was running when we were called.
cold_start=1
pid_alive /run/slurm/slurmctld.pid slurmctld && cold_start=0

# ------------------------------------------------------------------ munge ---
install -d -o munge -g munge -m 0700 /etc/munge /var/log/munge
install -d -o munge -g munge -m 0711 /var/lib/munge
install -d -o munge -g munge -m 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
    log "creating munge key"
    if command -v mungekey >/dev/null; then
        mungekey --create --keyfile=/etc/munge/munge.key --force
    else
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
    fi
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
if ! pid_alive /run/munge/munged.pid munged; then
    log "starting munged"
    rm -f /run/munge/munged.pid
    # --force: start even if a stale socket is left behind.
    runuser -u munge -- /usr/sbin/munged --force 9>&- ||
        die "munged failed to start"
fi
for _ in $(seq 50); do
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
    sleep 0.1
done
munge -n | unmunge >/dev/null || die "munge credential round trip failed"

# ------------------------------------------------------------ state dirs ----
install -d -o slurm -g slurm -m 0755 /run/slurm /var/log/slurm /var/lib/slurm
install -d -o slurm -g slurm -m 0700 /var/lib/slurm/slurmctld
install -d -o root -g root -m 0755 /var/lib/slurm/slurmd /etc/slurm

# ------------------------------------------------- (re)write the config -----
if [ "$config_same" = 0 ]; then
    log "writing $CONF"
    install -m 0644 "$rendered" "$CONF"
    # A running daemon has the old config: restart it below.
    for d in slurmd slurmctld slurmdbd; do
        if pid_alive "/run/slurm/$d.pid" "$d"; then
            log "stopping $d (config changed)"
            kill "$(cat "/run/slurm/$d.pid")" || true
            for _ in $(seq 100); do pid_alive "/run/slurm/$d.pid" "$d" || break; sleep 0.1; done
        fi
    done
fi

# ------------------------------------------- optional accounting (sacct) ----
if [ "$ACCOUNTING" = 1 ]; then
    # MariaDB, started by hand (no systemd).
    if ! mysqladmin ping >/dev/null 2>&1; then
        log "starting mariadb"
        install -d -o mysql -g mysql -m 0755 /run/mysqld
        if [ ! -d /var/lib/mysql/mysql ]; then
            mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/tmp/slurm-ci-mariadb-init.log 2>&1 ||
                { cat /tmp/slurm-ci-mariadb-init.log >&2; die "mariadb-install-db failed"; }
        fi
        (cd / && exec setsid -f mysqld_safe --user=mysql --bind-address=127.0.0.1 \
            >/var/log/slurm/mysqld_safe.log 2>&1 < /dev/null) 9>&-
        for _ in $(seq 300); do mysqladmin ping >/dev/null 2>&1 && break; sleep 0.1; done
        mysqladmin ping >/dev/null 2>&1 || { tail -n 40 /var/log/slurm/mysqld_safe.log /var/log/mysql/error.log 2>/dev/null >&2; die "mariadb did not start"; }
    fi
    mysql -u root <<'SQL'
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurmci';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
FLUSH PRIVILEGES;
SQL
    dbd_conf=$(mktemp)
    cat > "$dbd_conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=slurm
DebugLevel=info
LogFile=/var/log/slurm/slurmdbd.log
PidFile=/run/slurm/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurmci
StorageLoc=slurm_acct_db
EOF
    if ! cmp -s "$dbd_conf" /etc/slurm/slurmdbd.conf; then
        install -o slurm -g slurm -m 0600 "$dbd_conf" /etc/slurm/slurmdbd.conf
        if pid_alive /run/slurm/slurmdbd.pid slurmdbd; then
            kill "$(cat /run/slurm/slurmdbd.pid)" || true
            for _ in $(seq 100); do pid_alive /run/slurm/slurmdbd.pid slurmdbd || break; sleep 0.1; done
        fi
    fi
    rm -f "$dbd_conf"
    if ! pid_alive /run/slurm/slurmdbd.pid slurmdbd; then
        log "starting slurmdbd"
        /usr/sbin/slurmdbd 9>&- || die "slurmdbd failed to start"
        for _ in $(seq 100); do
            timeout 5 sacctmgr -n list cluster >/dev/null 2>&1 && break; sleep 0.2
        done
    fi
    # Register the cluster (and root's association) once.
    if ! timeout 10 sacctmgr -n -P list cluster format=cluster 2>/dev/null | grep -qx ci; then
        timeout 20 sacctmgr -i add cluster ci >/dev/null || die "sacctmgr add cluster failed"
    fi
fi

# ----------------------------------------------------------- slurm daemons --
if ! pid_alive /run/slurm/slurmctld.pid slurmctld; then
    rm -f /run/slurm/slurmctld.pid
    # -i: ignore errors in (possibly stale) saved state instead of refusing to start.
    # -c: on a cold start, also drop jobs saved by an earlier cluster (a previous
    #     session's leftovers would otherwise be recovered and requeued/run again).
    ctld_flags=(-i)
    if [ "$cold_start" = 1 ] && [ "${SLURM_CI_KEEP_STATE:-0}" != 1 ]; then ctld_flags=(-c -i); fi
    log "starting slurmctld ${ctld_flags[*]}"
    runuser -u slurm -- /usr/sbin/slurmctld "${ctld_flags[@]}" 9>&- || die "slurmctld failed to start"
fi
if ! pid_alive /run/slurm/slurmd.pid slurmd; then
    log "starting slurmd"
    rm -f /run/slurm/slurmd.pid
    /usr/sbin/slurmd -N "$HOST" 9>&- || die "slurmd failed to start"
fi

# ---------------------------------------------------- wait for the node -----
deadline=$(( $(date +%s) + WAIT ))
resumed=0
st=""
while :; do
    st=$(node_state)
    case "$st" in
        idle|mix|alloc|comp) break ;;
        down|drain|drng|fail|inval)
            # e.g. left DOWN in recovered state: put it back in service once.
            if [ "$resumed" = 0 ]; then
                scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true
                resumed=1
            fi ;;
    esac
    [ "$(date +%s)" -lt "$deadline" ] || break
    sleep 0.2
done
case "$st" in
    idle|mix|alloc|comp) ;;
    *)
        sinfo -N -l >&2 || true
        scontrol show node "$HOST" >&2 || true
        die "node $HOST not ready after ${WAIT}s (state: '${st:-no answer}')" ;;
esac

summary "up" "$st"
