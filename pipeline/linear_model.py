"""A trained linear classifier kept as JSON: labels, feature names, weights, bias and metadata.

What the project's trained components are made of (the span typer, the stance model): sparse
named features in, label probabilities out. Fitted with scikit-learn's ``LogisticRegression`` at
training time (``from_sklearn``); read and applied with numpy alone, so tagging needs neither
scikit-learn nor pickle (a pickle runs code when loaded and breaks across library versions).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

Features = Mapping[str, float]
M = TypeVar("M", bound="LinearModel")


class LinearModel:
    def __init__(self, labels: Sequence[str], features: dict[str, int], weights: np.ndarray, bias: np.ndarray,
                 meta: dict[str, Any] | None = None) -> None:
        self.labels = tuple(labels)
        self.features = features  # feature name -> row of ``weights``
        self.weights = weights  # (n_features, n_labels)
        self.bias = bias
        self.meta = meta or {}

    @classmethod
    def from_sklearn(cls: type[M], model: Any, feature_names: Sequence[str], labels: Sequence[str],
                     meta: dict[str, Any], **extra: Any) -> M:
        """From a fitted multinomial ``LogisticRegression``; ``labels`` fixes the column order (a
        label the training data lacked gets a bias that rules it out)."""
        classes = list(model.classes_)
        coef = np.zeros((len(feature_names), len(labels)))
        bias = np.full(len(labels), -30.0)
        for j, label in enumerate(labels):
            if label not in classes:
                continue
            k = classes.index(label)
            if len(classes) > 2:
                coef[:, j], bias[j] = model.coef_[k], model.intercept_[k]
            else:  # a binary model has one row, for classes_[1]
                coef[:, j], bias[j] = (model.coef_[0], model.intercept_[0]) if k == 1 else (0.0, 0.0)
        return cls(labels, {n: i for i, n in enumerate(feature_names)}, coef, bias, meta, **extra)

    @classmethod
    def read(cls, path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
        """(constructor arguments, the file's other keys)."""
        data = json.loads(path.read_text(encoding="utf-8"))
        names: list[str] = data.pop("features")
        args = {"labels": data.pop("labels"), "features": {n: i for i, n in enumerate(names)},
                "weights": np.asarray(data.pop("weights"), dtype=np.float64),
                "bias": np.asarray(data.pop("bias"), dtype=np.float64), "meta": data.pop("meta", None)}
        return args, data

    @classmethod
    def load(cls: type[M], path: Path) -> M:
        args, _ = cls.read(path)
        return cls(**args)

    def save(self, path: Path, **extra: Any) -> None:
        names = sorted(self.features, key=self.features.__getitem__)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"labels": list(self.labels), "features": names,
                "weights": [[round(float(x), 5) for x in row] for row in self.weights],
                "bias": [round(float(x), 5) for x in self.bias], **extra, "meta": self.meta}
        path.write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")

    @property
    def version(self) -> str:
        return str(self.meta.get("version", "0"))

    def probabilities(self, rows: Sequence[Features]) -> np.ndarray:
        """Label probabilities per row of features (rows x ``labels``); unknown features are ignored."""
        out = np.tile(self.bias, (len(rows), 1))
        for i, row in enumerate(rows):
            for name, value in row.items():
                col = self.features.get(name)
                if col is not None:
                    out[i] += value * self.weights[col]
        if len(rows):
            out -= out.max(axis=1, keepdims=True)
            np.exp(out, out=out)
            out /= out.sum(axis=1, keepdims=True)
        return out

    def predict(self, row: Features) -> str:
        return self.labels[int(np.argmax(self.probabilities([row])[0]))]
