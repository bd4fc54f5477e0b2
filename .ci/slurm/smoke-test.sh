#!/usr/bin/env bash
# Smoke test of the CI Slurm cluster (run after .ci/slurm-up.sh, on an idle
# cluster: it expects both CPUs of a 2-CPU node to be free).  ~20 s.
#   bash .ci/slurm/smoke-test.sh [--quick]     (--quick: skip the requeue check, ~12 s)
# Checks: plain batch job, throttled array (2 tasks at once), scancel of one
# array task, --dependency=afterany, --signal=USR2@60 acceptance, srun step,
# scontrol requeue of a running job (SLURM_RESTART_COUNT on the second run).
set -euo pipefail

QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
D=$(mktemp -d /tmp/slurm-smoke.XXXXXX)
trap 'rm -rf "$D"' EXIT
fail() { echo "SMOKE FAIL: $*" >&2; squeue -t all >&2 || true; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.2f", b-a}'; }
# wait_gone JOBID TIMEOUT: until the job (all array tasks) left the queue.
wait_gone() {
    local end=$(( $(date +%s) + $2 ))
    while squeue -h -j "$1" -t PD,R,CG,CF,S,RQ,RS,SE 2>/dev/null | grep -q .; do
        [ "$(date +%s)" -lt "$end" ] || fail "job $1 still queued after $2 s"
        sleep 0.1
    done
}

# 1. plain job: latency from sbatch to its output.
t=$(now)
j=$(sbatch --parsable -o "$D/host-%j.out" --wrap hostname)
end=$(( $(date +%s) + 20 ))
until [ -s "$D/host-$j.out" ]; do
    [ "$(date +%s)" -lt "$end" ] || fail "hostname job $j produced no output"
    sleep 0.05
done
[ "$(cat "$D/host-$j.out")" = "$(hostname)" ] || fail "unexpected output: $(cat "$D/host-$j.out")"
echo "ok  hostname job $j: output after $(since "$t") s"

# 2. scancel of one running array task; an afterany dependent job.
c=$(sbatch --parsable --array=0-1 -o /dev/null --wrap 'sleep 30')
dep=$(sbatch --parsable --dependency=afterany:$c -o "$D/dep-%j.out" --wrap 'echo dep-ran')
end=$(( $(date +%s) + 20 ))
until [ "$(squeue -h -j "$c" -t R -o %i | wc -l)" = 2 ]; do
    [ "$(date +%s)" -lt "$end" ] || fail "array $c did not start 2 tasks at once"; sleep 0.1
done
scancel "${c}_1"
sleep 0.5
st=$(squeue -h -t all -j "${c}_1" -o %T 2>/dev/null || true)
[ "$st" = CANCELLED ] || fail "array task ${c}_1 state '$st', expected CANCELLED"
[ "$(squeue -h -j "${c}_0" -o %T)" = RUNNING ] || fail "array task ${c}_0 should still run"
scancel "$c"
wait_gone "$dep" 30
[ "$(cat "$D/dep-$dep.out" 2>/dev/null)" = dep-ran ] || fail "afterany dependent job $dep did not run"
echo "ok  scancel ${c}_1 -> CANCELLED while ${c}_0 ran; afterany:$c job $dep ran"

# 3. array, two at a time.
t=$(now)
a=$(sbatch --parsable --array=0-3%2 -o "$D/arr-%A_%a.out" \
      --wrap 'echo $SLURM_ARRAY_TASK_ID; sleep 1')
sig=$(sbatch --parsable --signal=USR2@60 -t 5 -o /dev/null --wrap true)
wait_gone "$a" 30
for i in 0 1 2 3; do
    [ "$(cat "$D/arr-${a}_$i.out" 2>/dev/null)" = "$i" ] || fail "array task ${a}_$i output wrong"
done
echo "ok  array $a (0-3%2): 4 tasks done in $(since "$t") s"
wait_gone "$sig" 20
echo "ok  --signal=USR2@60 accepted (job $sig)"
[ "$(srun -N1 -t 1 echo step-ok)" = step-ok ] || fail "srun step failed"
echo "ok  srun step"

# 4. requeue of a running job.
if [ "$QUICK" = 0 ]; then
    t=$(now)
    r=$(sbatch --parsable -o /dev/null \
          --wrap "echo run-\${SLURM_RESTART_COUNT:-0} >> $D/requeue.log; sleep 60")
    end=$(( $(date +%s) + 20 ))
    until [ -s "$D/requeue.log" ]; do
        [ "$(date +%s)" -lt "$end" ] || fail "requeue job $r never started"; sleep 0.1
    done
    scontrol requeue "$r"
    end=$(( $(date +%s) + 60 ))
    until [ "$(wc -l < "$D/requeue.log")" -ge 2 ]; do
        [ "$(date +%s)" -lt "$end" ] || fail "requeued job $r did not run again"; sleep 0.2
    done
    scancel "$r"
    [ "$(tr '\n' ' ' < "$D/requeue.log")" = "run-0 run-1 " ] ||
        fail "requeue log: $(cat "$D/requeue.log")"
    echo "ok  scontrol requeue $r: ran again (SLURM_RESTART_COUNT=1) $(since "$t") s after first start"
fi
echo "slurm smoke test passed"
