import pytest

from pipeline.config import LauncherConfig
from pipeline.launch.sizing import CPU_CANDIDATES, cohort_size, member_bytes


def test_member_bytes_counts_weights_grads_optimizer_and_activations():
    # LeNet-300-100: 266,610 parameters x 4 copies (weights, grads, 2 optimizer slots),
    # activations 300 + 100 + 10 per image x batch 128, kept for backward (x2), fp32.
    expected = 4 * (4 * 266_610 + 2 * 410 * 128)
    assert member_bytes("lenet_300_100", (1, 28, 28), 10, 128) == expected


def test_cohort_size_from_the_target_gpu_memory_the_cpu_default_or_the_request():
    lenet = ("lenet_300_100", (1, 28, 28), 10, 128)
    need = member_bytes(*lenet)
    assert cohort_size(LauncherConfig(gpu_memory_gb=0.05), *lenet) == int(0.6 * 0.05e9 // need)
    assert cohort_size(LauncherConfig(gpu_memory_gb=80), *lenet) == 256  # capped
    assert cohort_size(LauncherConfig(device="cpu"), *lenet) in CPU_CANDIDATES
    assert cohort_size(LauncherConfig(cohort_size=3, gpu_memory_gb=80), *lenet) == 3


@pytest.mark.parametrize("preset", ["nautilus", "narwhal", "narwhal_slurm"])
def test_gpu_presets_size_cohorts_by_their_gpus(preset, monkeypatch):
    from pipeline.compose import expand

    monkeypatch.setenv("LTH_ACCOUNT", "ABC123")
    (cfg,) = expand(
        ["sweep=none", f"launcher={preset}", "model=lenet_300_100", "data=synthetic_mnist"]
    )
    assert cfg.launcher.gpu_memory_gb >= 32
    assert cohort_size(cfg.launcher, "lenet_300_100", (1, 28, 28), 10, 128) == 256
