"""Writes Tests/Fixtures/lp-logistic-sklearn.json: scikit-learn's LogisticRegressionCV on real
all-MiniLM-L6-v2 features, for the logistic LP solver to be tested against (issue 15).

Each case: 300 training and 100 held-out examples (a seeded sample of a task's training split),
the first WIDTH coordinates of each mean-pooled feature (float32, as lpft computes them;
mean-pooled rather than [CLS] because a few dozen [CLS] coordinates of the untuned model are at
chance on 300 examples, which would test the solver on noise), the
StratifiedKFold(5) fold of every training row, and sklearn's C, per-C mean fold accuracy,
coefficients, intercepts and held-out accuracy. sklearn is run to a tight tolerance so its
result is the optimum; the gradient there and the Hessian's smallest eigenvalue are recorded
so a test can bound the distance between two near-optimal solutions: |Δθ| ≤ Σ|g| / λ_min.

Rows and features, then the fixture:

    for t in rt-polarity tweets-sentiment-3; do
        python bench/sklearn_logistic_fixture.py sample $t > $t.jsonl
        lpft embed --data $t.jsonl > $t.features
    done
    python bench/sklearn_logistic_fixture.py rt-polarity.jsonl rt-polarity.features \
        tweets-sentiment-3.jsonl tweets-sentiment-3.features > Tests/Fixtures/lp-logistic-sklearn.json
"""
import json
import os
import random
import sys

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold

WIDTH = 64
TRAIN = 300
FEATURE = "mean_pooled"


def case(rows_path, features_path):
    rows = [json.loads(line) for line in open(rows_path)]
    features = [json.loads(line)[FEATURE] for line in open(features_path)]
    assert len(rows) == len(features)
    names = sorted({r["label"] for r in rows})
    y = np.array([names.index(r["label"]) for r in rows])
    x = np.array([f[:WIDTH] for f in features], dtype=np.float32)
    xtr, ytr, xte, yte = x[:TRAIN], y[:TRAIN], x[TRAIN:], y[TRAIN:]
    folds = np.zeros(TRAIN, dtype=int)
    splits = list(StratifiedKFold(5).split(xtr, ytr))
    for k, (_, held) in enumerate(splits):
        folds[held] = k
    model = LogisticRegressionCV(Cs=10, cv=splits, l1_ratios=(0,), scoring="accuracy", tol=1e-12, max_iter=100_000,
                                 use_legacy_attributes=False)
    model.fit(xtr.astype(np.float64), ytr)
    c = float(np.ravel(model.C_)[0])
    coef, intercept = model.coef_, model.intercept_
    gradient, smallest = optimality(xtr.astype(np.float64), ytr, coef, intercept, c, len(names))
    scores = np.asarray(model.scores_).reshape(5, 10) if not isinstance(model.scores_, dict) \
        else np.asarray(next(iter(model.scores_.values()))).reshape(5, 10)
    return {
        "task": rows_path.split("/")[-1].removesuffix(".jsonl"),
        "labels": names,
        "width": WIDTH,
        "train": {"features": shortest(xtr), "labels": ytr.tolist(), "folds": folds.tolist()},
        "test": {"features": shortest(xte), "labels": yte.tolist()},
        "grid": [float(v) for v in model.Cs_],
        "cv_accuracy": scores.mean(axis=0).tolist(),
        "C": c,
        "coef": coef.tolist(),
        "intercept": intercept.tolist(),
        "test_accuracy": float(model.score(xte.astype(np.float64), yte)),
        "gradient_norm": gradient,
        "hessian_min_eigenvalue": smallest,
    }


def shortest(rows):
    """float32 values written as their shortest decimal: parsed as Float, each is exact again."""
    return [[float(str(v)) for v in r] for r in rows]


def optimality(x, y, coef, intercept, c, classes):
    """‖∇f‖₂ and λ_min(∇²f) at sklearn's solution, f = mean loss + ‖W‖²/(2Cn), the bias-shift
    direction of a multinomial fit (where f is flat) replaced by a unit curvature."""
    n = len(y)
    lam = 1 / (c * n)
    xt = np.hstack([x, np.ones((n, 1))])
    theta = np.hstack([coef, intercept[:, None]])  # rows × (width + 1)
    z = xt @ theta.T
    if classes == 2:
        z = np.hstack([np.zeros((n, 1)), z])
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    onehot = np.eye(classes)[y]
    free = p[:, 1:] if classes == 2 else p
    residual = (free - (onehot[:, 1:] if classes == 2 else onehot)) / n
    g = residual.T @ xt
    g[:, :-1] += lam * theta[:, :-1]
    rows, s = theta.shape
    h = np.zeros((rows * s, rows * s))
    for k in range(rows):
        for l in range(rows):
            w = free[:, k] * ((k == l) - free[:, l]) / n
            h[k * s:(k + 1) * s, l * s:(l + 1) * s] = xt.T @ (w[:, None] * xt)
    for k in range(rows):
        h[np.arange(k * s, k * s + s - 1), np.arange(k * s, k * s + s - 1)] += lam
    if classes > 2:
        bias = np.arange(rows) * s + s - 1
        h[np.ix_(bias, bias)] += 1
    return float(np.linalg.norm(g)), float(np.linalg.eigvalsh(h)[0])


def sample(task):
    """400 rows {"text", "label"} of the task's fetched training split, seeded."""
    path = os.path.expanduser(f"~/.cache/lpft/data/{task}/train.jsonl")
    rows = [json.loads(line) for line in open(path)]
    random.Random(15).shuffle(rows)
    for r in rows[:400]:
        print(json.dumps({"text": r["text"], "label": r["label"]}))


if __name__ == "__main__":
    if sys.argv[1] == "sample":
        sample(sys.argv[2])
        sys.exit()
    paths = sys.argv[1:]
    cases = [case(paths[i], paths[i + 1]) for i in range(0, len(paths), 2)]
    json.dump({"generator": f"bench/sklearn_logistic_fixture.py, scikit-learn {sklearn.__version__}", "cases": cases},
              sys.stdout, separators=(",", ":"))
