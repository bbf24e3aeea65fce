"""Clinical tables as tokens: one token per variable (the FT-Transformer feature tokenizer;
Gorishniy et al., "Revisiting Deep Learning Models for Tabular Data", NeurIPS 2021), fed by
the preprocessor of :mod:`hybridnets.data.tabular`.

    pre = TabularPreprocessor(numeric=["age"], categorical=["sex", "site"]).fit(train_rows)
    tokens = TabularTokenizer(pre.spec, dim=64)(*pre.transform(test_rows))  # (N, 3, 64)
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hybridnets.data.tabular import TabularSpec

__all__ = ["TabularClassifier", "TabularTokenizer"]


class TabularTokenizer(nn.Module):
    """One ``dim``-wide token per variable: ``value · w_j + b_j`` for numeric column j (a
    learned missing token where missing), an embedding table per categorical column.

    ``TabularTokenizer(pre.spec, 64)(*pre.transform(rows)).shape == (N, spec.num_vars, 64)``
    """

    def __init__(self, spec: TabularSpec, dim: int = 64) -> None:
        super().__init__()
        if spec.num_vars == 0:
            raise ValueError("the tabular spec has no columns")
        self.spec = spec
        self.dim = dim
        n_num = len(spec.numeric)
        # 3 × (n_num, dim); empty without numeric columns, and then frozen: a parameter that
        # never takes part in the loss stops DistributedDataParallel at the second step
        self.weight, self.bias, self.missing_token = (
            nn.Parameter(torch.randn(n_num, dim) * 0.02, requires_grad=n_num > 0) for _ in range(3)
        )
        self.embeddings = nn.ModuleList(nn.Embedding(size, dim) for _, size in spec.categorical)
        for table in self.embeddings:
            nn.init.normal_(table.weight, std=0.02)

    def forward(
        self,
        numeric: Tensor,
        numeric_missing: Tensor | None = None,
        categorical: Tensor | None = None,
    ) -> Tensor:
        """Args: numeric ``(B, n_num)``; numeric_missing bool ``(B, n_num)``; categorical long
        ``(B, n_cat)``. Returns ``(B, n_num + n_cat, dim)``, numeric tokens first."""
        tokens = []
        if self.spec.numeric:
            num = numeric[..., None] * self.weight + self.bias  # (B, n_num, dim)
            if numeric_missing is not None:
                num = torch.where(numeric_missing[..., None], self.missing_token, num)
            tokens.append(num)
        if self.spec.categorical:
            if categorical is None:
                raise ValueError(f"categorical columns {self.spec.categorical} need indices")
            cat = [table(categorical[:, j]) for j, table in enumerate(self.embeddings)]
            tokens.append(torch.stack(cat, 1))  # (B, n_cat, dim)
        return torch.cat(tokens, 1)


class TabularClassifier(nn.Module):
    """Table-only baseline: tokens → mean over variables → MLP head.

    ``TabularClassifier(pre.spec, num_classes=7)(*pre.transform(rows)).shape == (N, 7)``
    """

    def __init__(self, spec: TabularSpec, num_classes: int, dim: int = 64, drop_rate: float = 0.0):
        super().__init__()
        self.tokenizer = TabularTokenizer(spec, dim)
        norm, hidden = nn.LayerNorm(dim), nn.Linear(dim, dim)
        self.head = nn.Sequential(
            norm, hidden, nn.GELU(), nn.Dropout(drop_rate), nn.Linear(dim, num_classes)
        )

    def forward(
        self,
        numeric: Tensor,
        numeric_missing: Tensor | None = None,
        categorical: Tensor | None = None,
    ) -> Tensor:
        """Same inputs as :class:`TabularTokenizer`; returns logits ``(B, num_classes)``."""
        return self.head(self.tokenizer(numeric, numeric_missing, categorical).mean(1))
