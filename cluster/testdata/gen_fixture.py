#!/usr/bin/python3
"""Writes the scikit-learn equality fixture for cluster's tests (run once).

Data: the first rows of the fixed synthetic sets of
../shared/peers/gmm_bench.py (its make_data, imported from there, so the
numbers are those of X_n10000_d<D>.f64), saved in that script's raw .f64
format:
    gmm_n2000_d16.f64   first 2000 rows of X_n10000_d16
    gmm_n1000_d64.f64   first 1000 rows of X_n10000_d64
Cases (gmm_sklearn.json): for each, a k-means labelling (sklearn KMeans,
random_state 0) turned into initial weights/means/covariances by sklearn's own
_estimate_gaussian_parameters (reg_covar 1e-6), then
GaussianMixture(weights_init, means_init, precisions_init=inv(cov), tol=0,
max_iter=n) for several n, recording score(X) (mean log-likelihood),
lower_bound_ and weights_. Full and diag on both sets; tied and
spherical on the first.

Run from the module root:  /usr/bin/python3 cluster/testdata/gen_fixture.py
"""
import json
import os
import sys
import warnings

import numpy as np
import sklearn
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture
from sklearn.mixture._gaussian_mixture import _estimate_gaussian_parameters

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.join(HERE, "..", "..", "..", "shared", "peers")
sys.path.insert(0, PEERS)
from gmm_bench import make_data, write_f64  # noqa: E402

warnings.filterwarnings("ignore")


def case(name, x, k, cov, iters):
    labels = KMeans(k, n_init=1, random_state=0).fit(x).labels_
    resp = np.zeros((x.shape[0], k))
    resp[np.arange(x.shape[0]), labels] = 1
    w, mu, c = _estimate_gaussian_parameters(x, resp, 1e-6, cov)
    w = w / w.sum()
    if cov == "full":
        prec = np.array([np.linalg.inv(ci) for ci in c])
    elif cov == "tied":
        prec = np.linalg.inv(c)
    else:  # diag, spherical
        prec = 1.0 / c
    covs = c
    runs = []
    for n in iters:
        g = GaussianMixture(k, covariance_type=cov, weights_init=w, means_init=mu, precisions_init=prec,
                            tol=0.0, max_iter=n, reg_covar=1e-6)
        g.fit(x)
        runs.append({"iterations": int(g.n_iter_), "score": float(g.score(x)),
                     "lower_bound": float(g.lower_bound_),
                     "weights": g.weights_.tolist()})
    return {"name": name, "k": k, "covariance": cov, "weights": w.tolist(), "means": mu.tolist(),
            "covariances": covs.tolist(), "runs": runs}


def main():
    out = {"sklearn": sklearn.__version__, "numpy": np.__version__, "reg_covar": 1e-6, "cases": []}
    x16, _ = make_data(10000, 16)
    x16 = x16[:2000]
    write_f64(os.path.join(HERE, "gmm_n2000_d16.f64"), x16)
    x64, _ = make_data(10000, 64)
    x64 = x64[:1000]
    write_f64(os.path.join(HERE, "gmm_n1000_d64.f64"), x64)
    for cov in ("full", "diag", "tied", "spherical"):
        c = case("n2000_d16_k8_" + cov, x16, 8, cov, [1, 5, 20])
        c["data"] = "gmm_n2000_d16.f64"
        out["cases"].append(c)
    for cov in ("full", "diag"):
        c = case("n1000_d64_k6_" + cov, x64, 6, cov, [1, 10])
        c["data"] = "gmm_n1000_d64.f64"
        out["cases"].append(c)
    with open(os.path.join(HERE, "gmm_sklearn.json"), "w") as f:
        json.dump(out, f)
        f.write("\n")


if __name__ == "__main__":
    main()
