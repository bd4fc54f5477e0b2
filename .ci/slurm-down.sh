#!/usr/bin/env bash
# Stop the one-node CI Slurm cluster started by .ci/slurm-up.sh.
# Running jobs are killed (slurmd takes its job steps down with it only if they
# are in its process tree; we stop slurmd last-but-one so slurmctld sees it go).
#   bash .ci/slurm-down.sh            # stop slurmd, slurmctld, slurmdbd, munged
#   bash .ci/slurm-down.sh --purge    # also forget saved job state (next start is clean)
# Does not uninstall anything.  Leaves MariaDB alone unless --purge is given.
set -uo pipefail

PURGE=0
[ "${1:-}" = "--purge" ] && PURGE=1

log() { echo "[slurm-down] $*" >&2; }

# stop_pid PIDFILE NAME: SIGTERM the process named NAME whose pid is in
# PIDFILE (falls back to an exact-name lookup), wait up to 10 s, then SIGKILL.
stop_pid() {
    local pidfile=$1 name=$2 pids="" pid
    if [ -s "$pidfile" ]; then
        pid=$(cat "$pidfile" 2>/dev/null)
        [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] && pids=$pid
    fi
    [ -n "$pids" ] || pids=$(pgrep -x "$name" 2>/dev/null | tr '\n' ' ')
    [ -n "${pids// /}" ] || return 0
    log "stopping $name ($pids)"
    for pid in $pids; do kill -TERM "$pid" 2>/dev/null; done
    for _ in $(seq 100); do
        local alive=0
        for pid in $pids; do
            [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] && alive=1
        done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    for pid in $pids; do
        if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]; then
            log "killing $name ($pid)"
            kill -KILL "$pid" 2>/dev/null
        fi
    done
    rm -f "$pidfile"
}

# Give running jobs a chance to be cancelled cleanly while the daemons are up.
if [ "$PURGE" = 1 ] && command -v scancel >/dev/null && [ -s /run/slurm/slurmctld.pid ]; then
    for u in $(timeout 10 squeue -h -o %u 2>/dev/null | sort -u); do
        timeout 10 scancel --user="$u" >/dev/null 2>&1 || true
    done
fi

stop_pid /run/slurm/slurmd.pid slurmd
# slurmstepd processes of still-running jobs outlive slurmd; stop them too.
for pid in $(pgrep -x slurmstepd 2>/dev/null); do kill -TERM "$pid" 2>/dev/null; done
stop_pid /run/slurm/slurmctld.pid slurmctld
stop_pid /run/slurm/slurmdbd.pid slurmdbd
stop_pid /run/munge/munged.pid munged

if [ "$PURGE" = 1 ]; then
    log "purging saved slurm state"
    rm -rf /var/lib/slurm/slurmctld/* /var/lib/slurm/slurmd/*
    if command -v mysqladmin >/dev/null && mysqladmin ping >/dev/null 2>&1; then
        log "stopping mariadb"
        mysqladmin shutdown >/dev/null 2>&1 || true
    fi
fi
echo "slurm: stopped"
