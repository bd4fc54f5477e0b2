"""The scores of SNIP, GraSP and SynFlow on tiny networks, against hand derivations and
autograd's own Hessian-vector product."""

import pytest
import torch
from torch import nn
from torch.func import functional_call

from pipeline.prune.pai.grasp import TEMPERATURE, grasp_scores, hessian_gradient
from pipeline.prune.pai.snip import snip_scores
from pipeline.prune.pai.synflow import linearize, synflow_scores

W1 = torch.tensor([[0.5, -1.0, 0.25], [1.5, 0.5, -0.5]], dtype=torch.float64)
W2 = torch.tensor([[1.0, -2.0], [0.5, 1.0]], dtype=torch.float64)
X = torch.tensor([[1.0, 2.0, -1.0], [0.5, -1.0, 2.0]], dtype=torch.float64)
Y = torch.tensor([0, 1])


def _linear_chain(*weights: torch.Tensor) -> nn.Sequential:
    layers = [nn.Linear(w.shape[1], w.shape[0], bias=False) for w in weights]
    with torch.no_grad():
        for layer, w in zip(layers, weights):
            layer.weight.copy_(w)
    return nn.Sequential(*layers).double()


def test_snip_scores_a_two_layer_linear_net_as_derived_by_hand():
    # z = W2 W1 x; for the mean cross-entropy over B examples dL/dz = (softmax(z) - onehot) / B,
    # so dL/dW2 = delta^T h with h = x W1^T, and dL/dW1 = (delta W2)^T x.
    h = X @ W1.T
    delta = (torch.softmax(h @ W2.T, dim=1) - nn.functional.one_hot(Y, 2)) / len(Y)
    expected = {
        "0.weight": (W1 * ((delta @ W2).T @ X)).abs(),
        "1.weight": (W2 * (delta.T @ h)).abs(),
    }
    scores = snip_scores(_linear_chain(W1, W2), ["0.weight", "1.weight"], [(X, Y)])
    for name, value in expected.items():
        torch.testing.assert_close(scores[name], value)
    # a few batches average their gradients: two copies of one batch score the same
    twice = snip_scores(_linear_chain(W1, W2), ["0.weight", "1.weight"], [(X, Y), (X, Y)])
    torch.testing.assert_close(twice["0.weight"], expected["0.weight"])


@pytest.mark.parametrize("temperature", [1.0, TEMPERATURE])
def test_grasp_hessian_gradient_product_matches_autograd_hvp(temperature):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3)).double()
    batches = [(torch.randn(5, 3, dtype=torch.float64), torch.randint(3, (5,))) for _ in range(2)]
    names = ["0.weight", "2.weight"]

    def loss(w0, w2):  # the mean over batches of the tempered cross-entropy; biases fixed
        return sum(
            nn.functional.cross_entropy(
                functional_call(model, {"0.weight": w0, "2.weight": w2}, (x,)) / temperature, y
            )
            for x, y in batches
        ) / len(batches)

    weights = tuple(dict(model.named_parameters())[n].detach() for n in names)
    grad = torch.func.grad(lambda ws: loss(*ws))(weights)
    _, expected = torch.autograd.functional.hvp(loss, weights, grad)
    product = hessian_gradient(model, names, batches, temperature)
    for name, value in zip(names, expected):
        assert value.abs().max() > 0
        torch.testing.assert_close(product[name], value, rtol=1e-9, atol=1e-15)
    if temperature == TEMPERATURE:
        scores = grasp_scores(model, names, batches)
        torch.testing.assert_close(scores["2.weight"], -weights[1] * expected[1])


def test_synflow_score_of_a_linear_chain_is_the_path_product():
    # R = 1^T A3 A2 A1 1 with A = |W|. Each entry of A_l lies on the paths through its unit
    # pair, so dR/dA2[i, j] = (1^T A3)[i] * (A1 1)[j]: the column sum of A3 at i times the
    # row sum of A1 at j; dR/dA1[i, j] = (1^T A3 A2)[i] and dR/dA3[i, j] = (A2 A1 1)[j].
    w3 = torch.tensor([[2.0, -1.0], [0.5, 3.0]], dtype=torch.float64)
    a1, a2, a3 = W1.abs(), W2.abs(), w3.abs()
    model = linearize(_linear_chain(W1, W2, w3))
    names = ["0.weight", "1.weight", "2.weight"]
    full = {n: torch.ones_like(a, dtype=torch.bool) for n, a in zip(names, (a1, a2, a3))}
    scores = synflow_scores(model, dict(zip(names, (a1, a2, a3))), full, (3,))
    ones3, ones2 = torch.ones(3, dtype=torch.float64), torch.ones(2, dtype=torch.float64)
    expected = {
        "0.weight": a1 * torch.outer(ones2 @ a3 @ a2, ones3),
        "1.weight": a2 * torch.outer(ones2 @ a3, a1 @ ones3),
        "2.weight": a3 * torch.outer(ones2, a2 @ a1 @ ones3),
    }
    # A1 1 = [1.75, 2.5], A2 A1 1 = [6.75, 3.375], 1^T A3 = [2.5, 4]: R = 16.875 + 13.5
    flow = 30.375
    for name, value in expected.items():
        torch.testing.assert_close(scores[name], value)
        assert float(scores[name].sum()) == pytest.approx(flow)  # conserved in every layer
    # masking A2[0, 1] = 2 removes its flow 2.5 * 2 * 2.5 = 12.5 from every layer's total
    assert float(scores["1.weight"][0, 1]) == pytest.approx(12.5)
    cut = {**full, "1.weight": torch.tensor([[True, False], [True, True]])}
    masked = synflow_scores(model, dict(zip(names, (a1, a2, a3))), cut, (3,))
    assert masked["1.weight"][0, 1] == 0
    for name in names:
        assert float(masked[name].sum()) == pytest.approx(flow - 12.5)
