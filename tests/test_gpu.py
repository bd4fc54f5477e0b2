"""GPU tests (`pytest -m gpu`): the compiled and CUDA-graph paths on the device itself.

They skip where CUDA is not available; benchmarks/gpu_check.sh runs them on a GPU node.
Tolerances (docs/GPU.md):
- eager, compiled (Inductor kernels) and CUDA graphs (mode "reduce-overhead"): the drift of
  tests/test_compile.py, after one step (1e-3) and after 200 steps (SGD 1e-3, Adam 3e-2);
- channels_last against the default layout: one step within 1e-2 of the movement (cuDNN
  picks other algorithms, in TF32 by default), final test accuracy within 0.03;
- bf16 autocast against fp32: weights stay fp32, final test accuracy within 0.03.
"""

from __future__ import annotations

import signal
import time

import pytest
import torch
from sweep_helpers import assert_same_results, dry_run, results, task, wait_for
from test_compile import RECIPES, STEPS, _drift, _images, _members, _plan

from pipeline.config import LauncherConfig, TrainConfig
from pipeline.data.batches import iterations_per_epoch
from pipeline.data.tensors import TensorDataset
from pipeline.launch.sizing import cohort_size
from pipeline.models import initial_state
from pipeline.steps import Schedule
from pipeline.train.schedule import learning_rate
from pipeline.train.trainer import CohortTrainer, LevelPlan, Member

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.fixture(scope="module")
def cuda() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device())


def _run(model, data, batch, recipe, device, end, mode=None, compile=True, members=None):
    plan = _plan(model, data, batch, recipe, end, compile)
    trainer = CohortTrainer(plan, members or _members(model, data), data, device, mode)
    return trainer.run(), trainer


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_eager_compiled_and_cuda_graphs_train_alike_on_the_device(cuda, optimizer):
    data = _images((1, 28, 28), train=2048, test=1024).to(cuda)
    recipe, allowed = RECIPES[optimizer]
    start = _members("lenet_300_100", data)
    eager = {}
    for end in (1, STEPS):
        eager[end], _ = _run("lenet_300_100", data, 64, recipe, cuda, end, compile=False)
    for mode in ("default", "reduce-overhead"):
        torch._dynamo.utils.counters.clear()
        one, _ = _run("lenet_300_100", data, 64, recipe, cuda, 1, mode)
        assert _drift(eager[1], one, start) < 1e-3, mode
        full, trainer = _run("lenet_300_100", data, 64, recipe, cuda, STEPS, mode)
        assert trainer.cohort.fallback is None, trainer.cohort.fallback
        assert _drift(eager[STEPS], full, start) < allowed, mode
        if mode == "reduce-overhead":  # every compiled piece really ran as a CUDA graph
            assert torch._dynamo.utils.counters["inductor"]["cudagraph_skips"] == 0
        for a, b in zip(eager[STEPS], full):
            assert b.evaluations[-1]["test_accuracy"] == pytest.approx(
                a.evaluations[-1]["test_accuracy"], abs=0.02
            )


def _conv_data(device) -> TensorDataset:
    return _images((3, 32, 32), train=4096, test=2048).to(device)


def _level(data, train: TrainConfig, end: int, device, **plan):
    ipe = iterations_per_epoch(len(data.y_train), train.batch_size)
    level = LevelPlan(
        "conv2", train, 0, 0, end, learning_rate(train, Schedule.resolve(train, ipe)), **plan
    )
    start = [Member(s, initial_state("conv2", data.input_shape, 10, s)) for s in range(2)]
    return CohortTrainer(level, start, data, device).run()


def test_channels_last_and_bf16_against_fp32_on_the_device(cuda):
    data = _conv_data(cuda)
    train = TrainConfig(optimizer="sgd", lr=0.01, momentum=0.9, batch_size=64)
    start = [Member(s, initial_state("conv2", data.input_shape, 10, s)) for s in range(2)]
    one = _level(data, train, 1, cuda)
    assert _drift(one, _level(data, train, 1, cuda, channels_last=True), start) < 1e-2
    fp32 = _level(data, train, 300, cuda)
    nhwc = _level(data, train, 300, cuda, channels_last=True)
    bf16_train = TrainConfig(
        optimizer="sgd", lr=0.01, momentum=0.9, batch_size=64, precision="bf16"
    )
    bf16 = _level(data, bf16_train, 300, cuda, channels_last=True)
    assert all(v.dtype == torch.float32 for v in bf16[0].state.values() if v.is_floating_point())
    assert not torch.equal(fp32[0].state["convs.0.weight"], bf16[0].state["convs.0.weight"])
    for a, b, c in zip(fp32, nhwc, bf16):
        reference = a.evaluations[-1]["test_accuracy"]
        assert reference > 0.15  # learned something: chance is 0.1
        assert b.evaluations[-1]["test_accuracy"] == pytest.approx(reference, abs=0.03)
        assert c.evaluations[-1]["test_accuracy"] == pytest.approx(reference, abs=0.03)


@pytest.mark.parametrize(
    "model, shape, compile",
    [("resnet20", (3, 32, 32), False), ("lenet_300_100", (1, 28, 28), True)],
)
def test_the_cohort_sized_from_free_memory_trains_without_running_out(cuda, model, shape, compile):
    """The K that `launcher.cohort_size=0` picks from the free memory (ResNet-20, the largest
    per member; LeNet-300-100 compiled, with CUDA graphs' memory pools, at the cap of 256):
    training steps and a full 10k-image evaluation fit in the memory it was sized from."""
    torch.cuda.empty_cache()
    free, _ = torch.cuda.mem_get_info(cuda)
    k = cohort_size(LauncherConfig(device=str(cuda)), model, shape, 10, 128)
    assert k > 1
    data = _images(shape, train=1024, test=10000).to(cuda)
    train = TrainConfig(optimizer="sgd", lr=0.05, momentum=0.9, batch_size=128, drop_last=True)
    plan = LevelPlan(model, train, 0, 0, 3, lambda _: 0.05, compile=compile)
    start = initial_state(model, shape, 10, 0)
    members = [Member(s, start) for s in range(k)]
    torch.cuda.reset_peak_memory_stats(cuda)
    trained = CohortTrainer(plan, members, data, cuda).run()  # evaluates at 0 and at 3
    assert len(trained) == k and len(trained[0].evaluations) == 2
    assert torch.cuda.max_memory_allocated(cuda) < free


def test_a_killed_gpu_task_resumes_to_the_uninterrupted_result(tmp_path):
    """`lth task` on the GPU, killed with SIGKILL after a mid-level checkpoint, then run
    again: the same masks, weights and accuracies as a task that was never interrupted."""
    overrides = (
        "launcher.device=cuda",
        "launcher.compile=true",
        "train.duration=60ep",
        "seed=0",
    )
    paths, manifest = dry_run(tmp_path / "killed", *overrides)
    run = manifest.layout.run(manifest.cohorts[0][0]).dir
    victim = task(paths, 0)
    partial = run / "level_0" / "partial.pt"
    wait_for(lambda: partial.is_file() or victim.poll() is not None, 600, "a checkpoint")
    assert victim.poll() is None, "the level finished before it could be killed"
    time.sleep(0.5)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=60)
    assert not (run / "level_1" / "metrics.json").exists()
    assert task(paths, 0).wait(timeout=900) == 0
    whole_paths, whole = dry_run(tmp_path / "whole", *overrides)
    assert task(whole_paths, 0).wait(timeout=900) == 0
    run_id = manifest.cohorts[0][0]
    assert_same_results(results(tmp_path / "killed", run_id), results(tmp_path / "whole", run_id))
