#!/usr/bin/env python3
"""Gradient-boosting baseline for the hybrid model (issue 13), on exactly the same split.

One-off comparison, not part of the test suite. It reads the three CSV files written by
export-split.ts, picks HistGradientBoostingClassifier's settings by weighted AUPRC on the
validation split (never on test), then reports the test split's weighted AUPRC and ROC-AUC, the
way the model card computes them (each normal row weighs 9.742: the sample keeps ~1 in 9.742).

    apt-get install -y python3-sklearn
    node --import tsx bench/hybrid/export-split.ts           # prints the folder
    OMP_NUM_THREADS=1 /usr/bin/python3 bench/hybrid/baseline.py /tmp/fraudscore-hybrid-split
"""

import csv
import itertools
import json
import sys

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import average_precision_score, roc_auc_score

NORMAL_WEIGHT = 9.742


def load(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    data = np.asarray(rows[1:], dtype=np.float64)
    return data[:, :-1], data[:, -1].astype(np.int64)


def weighted_auprc(y, p):
    w = np.where(y == 1, 1.0, NORMAL_WEIGHT)
    return float(average_precision_score(y, p, sample_weight=w))


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else "/tmp/fraudscore-hybrid-split"
    xtr, ytr = load(f"{folder}/train.csv")
    xva, yva = load(f"{folder}/validation.csv")
    xte, yte = load(f"{folder}/test.csv")
    grid = {
        "learning_rate": [0.03, 0.1],
        "max_leaf_nodes": [15, 31],
        "class_weight": [None, "balanced"],
        "l2_regularization": [0.0, 1.0],
    }
    results = []
    for values in itertools.product(*grid.values()):
        params = dict(zip(grid.keys(), values))
        # The validation split decides when to stop (as the hybrid head's early stopping does):
        # fit with a fixed large budget, then pick the iteration count with the best val AUPRC.
        clf = HistGradientBoostingClassifier(max_iter=500, early_stopping=False, random_state=42, **params)
        clf.fit(xtr, ytr)
        best = (-1.0, 0)
        for it, p in enumerate(clf.staged_predict_proba(xva), start=1):
            if it % 10 == 0:
                best = max(best, (weighted_auprc(yva, p[:, 1]), it))
        results.append((best[0], best[1], params))
        print(f"val AUPRC {best[0]:.4f} at {best[1]} iterations: {params}", file=sys.stderr)
    val_auprc, iters, params = max(results, key=lambda r: r[0])
    clf = HistGradientBoostingClassifier(max_iter=iters, early_stopping=False, random_state=42, **params)
    clf.fit(xtr, ytr)
    p = clf.predict_proba(xte)[:, 1]
    out = {
        "model": "HistGradientBoostingClassifier",
        "params": {**params, "max_iter": iters},
        "validation_auprc": val_auprc,
        "test_auprc": weighted_auprc(yte, p),
        "test_roc_auc": float(roc_auc_score(yte, p)),
        "rows": {"train": int(len(ytr)), "validation": int(len(yva)), "test": int(len(yte))},
        "test_frauds": int(yte.sum()),
        "normal_weight": NORMAL_WEIGHT,
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
