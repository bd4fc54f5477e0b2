"""Feature-store scaling: does a write cost what it adds, and do queries stay fast?

Reduces synthetic LeNet-300-100-shaped levels (3 masks of 300x784, 100x300 and 10x100 at
density 0.8**level, 10 curve points and 4 feature rows of 66 features per level, 10 levels
per run) into one store in batches (`--batch` levels, default 500) up to `--levels`, each
batch in a fresh process through the reducer's own write path (`pipeline.reduce.output`:
masks streamed into a shard one run at a time, then one commit); then one batch of
VGG-19-shaped levels (20M weights each, 10 levels per run). Per batch it records the write
seconds (store work only: data generation is excluded), wall and CPU (the CPU time is less
disturbed by other load on a shared machine), the process's peak RSS, the store's size on
disk and the levels stored. After the LeNet batches it times `lth inspect STORE` (summary
and a query), the README's xarray open, `features_frame`, reading one level's masks and
the stored keys the reducer's planning reads, each in a fresh process (`--queries-only`
times them again on the store a run left, e.g. with the VGG batch in it).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/store_scale.py --levels 50000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from pipeline.io import save_json

REPO = Path(__file__).resolve().parents[1]
LTH = Path(sys.executable).parent / "lth"
LENET = {"fc1.weight": (300, 784), "fc2.weight": (100, 300), "fc3.weight": (10, 100)}
LEVELS_PER_RUN = 10
POOL = 4
LAYER_FEATURES = [f"layer_feature_{i:02d}" for i in range(40)]
NETWORK_FEATURES = [f"network_feature_{i:02d}" for i in range(26)]


def vgg19_layers() -> dict[str, tuple[int, ...]]:
    from pipeline.data import dataset_spec
    from pipeline.models.members import build_plain, prunable_names

    spec = dataset_spec("cifar10")
    net = build_plain("vgg19", spec.input_shape, spec.num_classes)
    names = set(prunable_names(net))
    return {n: tuple(p.shape) for n, p in net.named_parameters() if n in names}


def mask_pool(
    layers: dict[str, tuple[int, ...]], rng, variants: int
) -> list[list[dict[str, np.ndarray]]]:
    """Masks at density 0.8**level, `variants` per level (drawing fresh ones for every LeNet
    run would cost more than writing them)."""
    return [
        [
            {n: rng.random(s, dtype=np.float32) < 0.8**level for n, s in layers.items()}
            for level in range(LEVELS_PER_RUN)
        ]
        for _ in range(variants)
    ]


def synthetic_run(run: int, layers: dict[str, tuple[int, ...]], pool: list, rng):
    """One run's task and result, as the reducer would hand them to its rank's output."""
    from pipeline.reduce.plan import MaskSource, RunTask
    from pipeline.reduce.run import RunResult
    from pipeline.store import CurvePoint, LevelPayload, LevelRecord, RunRecord

    rid = f"run{run:07d}"
    levels = tuple(range(LEVELS_PER_RUN))
    source = MaskSource(rid, None, frozenset(levels), frozenset())
    task = RunTask(rid, source, None, "m", "d", f"group{run // 4}", levels, True, 0, ())
    record = RunRecord(rid, "m", "d", "imp", "none", run, 0.2, "0it", "synthetic: true\n", "g")
    result = RunResult(rid, record)
    for level in levels:
        density = 0.8**level
        masks = pool[run % len(pool)][level]
        rows = [(n, f, float(v)) for n in layers for f, v in zip(LAYER_FEATURES, rng.random(40))]
        rows += [("*", f, float(v)) for f, v in zip(NETWORK_FEATURES, rng.random(26))]
        result.levels.append(LevelRecord(rid, level, density, 0.9, 0.3, 0.91, 100, 1000, 1.5))
        result.curves.extend(CurvePoint(rid, level, 100 * i, 0.9, 0.3) for i in range(10))
        result.payloads.append(LevelPayload(rid, level, masks, rows))
    return task, result


def child(store: Path, first_run: int, runs: int, layers: str) -> dict:
    """One batch in this process: the reducer's write path for `runs` synthetic runs."""
    from pipeline.reduce.output import RankOutput
    from pipeline.store.index import commit, next_write
    from pipeline.store.lock import StoreLock
    from pipeline.store.reader import open_view
    from pipeline.store.writer import provenance_attrs

    shapes = LENET if layers == "lenet" else vgg19_layers()
    rng = np.random.default_rng(first_run)
    pool = mask_pool(shapes, rng, POOL) if layers == "lenet" else None
    seconds = np.zeros(2)  # wall, CPU

    def clock() -> np.ndarray:
        return np.array([time.perf_counter(), time.process_time()])

    start = clock()
    with StoreLock(store):
        view = open_view(store) if store.exists() else None
        entries = view.entries if view is not None else []
        output = RankOutput(store, next_write(entries), 0)
        seconds += clock() - start
        for run in range(first_run, first_run + runs):
            fresh = pool or mask_pool(shapes, rng, 1)  # VGG: one run's masks at a time
            task, result = synthetic_run(run, shapes, fresh, rng)
            start = clock()
            output.add(task, result)
            seconds += clock() - start
            del task, result
        start = clock()
        report = output.finish(view, set(), view.mask_rows if view is not None else {})
        commit(store, entries, [report.entry], provenance_attrs({}, view))
        seconds += clock() - start
    return {
        "write_s": round(seconds[0], 3),
        "write_cpu_s": round(seconds[1], 3),
        "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "levels_added": report.added.levels,
    }


def store_mb(store: Path) -> float:
    shards = store.with_name(store.name + ".shards")
    files = [store, *(shards.iterdir() if shards.is_dir() else [])]
    return round(sum(f.stat().st_size for f in files) / 1e6, 1)


def run_batch(store: Path, first_run: int, runs: int, layers: str) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(store), str(first_run), str(runs), layers],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return round(time.perf_counter() - start, 3)


XARRAY = """
import sys, time
import xarray as xr
start = time.perf_counter()
ds = xr.open_dataset(sys.argv[1], engine="h5netcdf", phony_dims="sort", group="levels")
opened = time.perf_counter() - start
ds.load()
print(round(opened, 3), round(time.perf_counter() - start - opened, 3), max(ds.sizes.values()))
"""

FRAMES = """
import sys, time
from pipeline.store import features_frame, read_masks, store_keys
start = time.perf_counter()
runs, levels = store_keys(sys.argv[1])  # what the reducer's planning reads
keys_s = time.perf_counter() - start
start = time.perf_counter()
feats = features_frame(sys.argv[1])
frame_s = time.perf_counter() - start
start = time.perf_counter()
read_masks(sys.argv[1], sys.argv[2], 4)
cold = time.perf_counter() - start
start = time.perf_counter()
read_masks(sys.argv[1], sys.argv[3], 5)
warm = time.perf_counter() - start
print(round(frame_s, 3), feats.shape[0], round(cold, 4), round(warm, 4), round(keys_s, 3))
"""


def queries(store: Path, runs: int) -> dict:
    """Each in a fresh process, as a user meets it; the imports are timed too where noted."""
    baseline = timed([sys.executable, "-c", "pass"])
    inspect_s = timed([str(LTH), "inspect", str(store)])
    inspect_module_s = timed([sys.executable, "-m", "pipeline.store.inspect", str(store)])
    query_s = timed(
        [str(LTH), "inspect", str(store), "--max-density", "0.2", "--features",
         "network_feature_03", "--csv"]
    )  # fmt: skip
    xr_out = subprocess.run(
        [sys.executable, "-c", XARRAY, str(store)], check=True, capture_output=True, text=True
    ).stdout.split()
    frames_out = subprocess.run(
        [sys.executable, "-c", FRAMES, str(store), f"run{runs // 3:07d}", f"run{runs - 1:07d}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return {
        "python_startup_s": baseline,
        "lth_inspect_s": inspect_s,
        "inspect_module_s": inspect_module_s,
        "lth_inspect_query_s": query_s,
        "xarray_open_s": float(xr_out[0]),
        "xarray_load_s": float(xr_out[1]),
        "xarray_rows": int(xr_out[2]),
        "features_frame_s": float(frames_out[0]),
        "features_frame_rows": int(frames_out[1]),
        "read_masks_first_s": float(frames_out[2]),
        "read_masks_next_s": float(frames_out[3]),
        "store_keys_s": float(frames_out[4]),
    }


def paired(store: Path, report: dict, batch: int, repeats: int = 3) -> dict:
    """A batch into a new store and a batch into the big one, alternately, so both see the
    same load on a shared machine: the write-cost ratio without the drift of a long run."""
    runs = report["batches"][-1]["levels_stored"] // LEVELS_PER_RUN
    fresh, big = [], []
    for i in range(repeats):
        empty = Path(tempfile.mkdtemp(prefix="lth_store_fresh_")) / "store.h5"
        fresh.append(run_batch(empty, 0, batch // LEVELS_PER_RUN, "lenet"))
        big.append(run_batch(store, runs + i * batch // LEVELS_PER_RUN, batch // LEVELS_PER_RUN,
                             "lenet"))  # fmt: skip
        report["batches"].append({"layers": "lenet_300_100 (paired)",
                                  "levels_stored": report["batches"][-1]["levels_stored"] + batch,
                                  **big[-1], "file_mb": store_mb(store)})  # fmt: skip

    def median(rows: list[dict], key: str) -> float:
        return float(np.median([r[key] for r in rows]))

    return {
        "repeats": repeats,
        **{f"new_store_{k}": median(fresh, k) for k in ("write_s", "write_cpu_s", "rss_mb")},
        **{f"big_store_{k}": median(big, k) for k in ("write_s", "write_cpu_s", "rss_mb")},
        **{
            f"ratio_{k}": round(median(big, k) / median(fresh, k), 3)
            for k in ("write_s", "write_cpu_s", "rss_mb")
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--levels", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--vgg-levels", type=int, default=50)
    parser.add_argument("--dir", type=Path, help="where the store goes (default: a temp dir)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/store_scale.json")
    parser.add_argument(
        "--queries-only",
        action="store_true",
        help="on the store a run left in --dir: time batches into it against batches into a "
        "new store, alternately (`paired`), and the queries again (`queries_at_end`); "
        "both are added to --out",
    )
    args = parser.parse_args()
    if args.queries_only:
        report = json.loads(args.out.read_text())
        report["paired"] = paired(args.dir / "store.h5", report, args.batch)
        stored = report["batches"][-1]["levels_stored"]
        report["queries_at_end"] = queries(args.dir / "store.h5", stored // LEVELS_PER_RUN)
        save_json(args.out, report)
        print(json.dumps({k: report[k] for k in ("paired", "queries_at_end")}, indent=1))
        return
    directory = args.dir or Path(tempfile.mkdtemp(prefix="lth_store_scale_"))
    store = directory / "store.h5"
    batches = []
    stored = 0
    while stored < args.levels:
        result = run_batch(store, stored // LEVELS_PER_RUN, args.batch // LEVELS_PER_RUN, "lenet")
        stored += result["levels_added"]
        batches.append({"layers": "lenet_300_100", "levels_stored": stored, **result,
                        "file_mb": store_mb(store)})  # fmt: skip
        print(json.dumps(batches[-1]), flush=True)
    at_lenet = queries(store, stored // LEVELS_PER_RUN)
    print(json.dumps(at_lenet), flush=True)
    result = run_batch(store, stored // LEVELS_PER_RUN, args.vgg_levels // LEVELS_PER_RUN, "vgg")
    stored += result["levels_added"]
    batches.append({"layers": "vgg19", "levels_stored": stored, **result,
                    "file_mb": store_mb(store)})  # fmt: skip
    print(json.dumps(batches[-1]), flush=True)
    lenet = [b for b in batches if b["layers"] == "lenet_300_100"]
    first, last = lenet[0], lenet[-1]
    report = {
        "machine": f"{platform.node()}: {os.cpu_count()} vCPUs, {platform.processor() or '?'}, "
        f"Python {platform.python_version()}",
        "batch_levels": args.batch,
        "batches": batches,
        "queries_at_lenet_end": at_lenet,
        "write_ratio_last_to_first": round(last["write_s"] / first["write_s"], 3),
        "write_cpu_ratio_last_to_first": round(last["write_cpu_s"] / first["write_cpu_s"], 3),
        "rss_ratio_last_to_first": round(last["rss_mb"] / first["rss_mb"], 3),
    }
    save_json(args.out, report)
    print(json.dumps({k: v for k, v in report.items() if k != "batches"}, indent=1))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        out = child(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
        print(json.dumps(out))
    else:
        main()
