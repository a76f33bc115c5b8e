"""benchmarks/hessian.py: power iteration for the Hessian's top eigenvalue, against a case with
a closed form."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from hessian import top_hessian_eigenvalue  # noqa: E402


def test_a_linear_least_squares_hessian_has_its_closed_form() -> None:
    """Mean squared error of a linear layer: H = 2 / (n outputs) X^T X / n over its weights,
    so the top eigenvalue is 2 lambda_max(X^T X / n) / n_out (the bias adds a row and column)."""
    torch.manual_seed(0)
    x = torch.randn(64, 5) * torch.tensor([3.0, 1.0, 1.0, 0.5, 0.2])
    model = nn.Linear(5, 2, bias=False)
    batches = [(x[:32], torch.randn(32, 2)), (x[32:], torch.randn(32, 2))]
    expected = 2 * torch.linalg.eigvalsh(x.T @ x / 64).max().item() / 2
    estimate, quotients = top_hessian_eigenvalue(model, batches, nn.functional.mse_loss)
    assert estimate == pytest.approx(expected, rel=1e-3)
    assert len(quotients) == 20 and quotients[0] < estimate  # it climbed to it


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one batch"):
        top_hessian_eigenvalue(nn.Linear(2, 2), [])
    with pytest.raises(ValueError, match="iterations"):
        top_hessian_eigenvalue(
            nn.Linear(2, 2), [(torch.zeros(1, 2), torch.zeros(1).long())], iterations=1
        )
