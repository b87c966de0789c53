#!/usr/bin/python3
"""scikit-learn side of bench/gmm.sh.

  gmm_sklearn.py init  DATA.f64 K COV OUT.json   k-means labelling (KMeans n_init=1,
      random_state=0) -> initial weights/means/covariances by sklearn's own
      _estimate_gaussian_parameters (reg_covar 1e-6), written as JSON
  gmm_sklearn.py time  DATA.f64 INIT.json ITERS THREADS
      GaussianMixture from that state (precisions_init = inverse covariances),
      tol=0, max_iter=ITERS, BLAS/OpenMP threads capped with threadpoolctl;
      prints one JSON line: em_s = fit time minus sklearn's own initialisation
      (which in 1.2 runs KMeans even when every *_init is given), em_s_per_iter =
      em_s / n_iter (the final E-step sklearn's fit does is included, as in
      ../shared/peers/gmm_bench.py), cpu_s_per_iter the same in process CPU
      time (steadier on a shared machine), score = score(X).
"""
import json
import sys
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")


def read_f64(path):
    with open(path, "rb") as f:
        hdr = f.read(24)
        assert hdr[:4] == b"F64M", path
        rows, cols = np.frombuffer(hdr[8:], dtype="<u8")
        x = np.fromfile(f, dtype="<f8", count=int(rows) * int(cols))
    return x.reshape(int(rows), int(cols))


def cmd_init(data, k, cov, out):
    from sklearn.cluster import KMeans
    from sklearn.mixture._gaussian_mixture import _estimate_gaussian_parameters
    x = read_f64(data)
    labels = KMeans(int(k), n_init=1, random_state=0).fit(x).labels_
    resp = np.zeros((x.shape[0], int(k)))
    resp[np.arange(x.shape[0]), labels] = 1
    w, mu, c = _estimate_gaussian_parameters(x, resp, 1e-6, cov)
    json.dump({"covariance": cov, "weights": (w / w.sum()).tolist(), "means": mu.tolist(),
               "covariances": c.tolist()}, open(out, "w"))


def cmd_time(data, init, iters, threads):
    from threadpoolctl import threadpool_limits
    from sklearn.mixture import GaussianMixture
    import sklearn
    x = read_f64(data)
    st = json.load(open(init))
    cov = st["covariance"]
    c = np.array(st["covariances"])
    prec = np.array([np.linalg.inv(ci) for ci in c]) if cov == "full" else 1.0 / c

    class TimedGMM(GaussianMixture):
        def _initialize_parameters(self, X, random_state):
            t0, c0 = time.perf_counter(), time.process_time()
            super()._initialize_parameters(X, random_state)
            self.init_time_ = time.perf_counter() - t0
            self.init_cpu_ = time.process_time() - c0

    with threadpool_limits(limits=int(threads)):
        g = TimedGMM(len(st["weights"]), covariance_type=cov, weights_init=np.array(st["weights"]),
                     means_init=np.array(st["means"]), precisions_init=prec, tol=0.0,
                     max_iter=int(iters), reg_covar=1e-6)
        t0, c0 = time.perf_counter(), time.process_time()
        g.fit(x)
        el = time.perf_counter() - t0
        em = el - g.init_time_
        em_cpu = time.process_time() - c0 - g.init_cpu_
        print(json.dumps({"sklearn": sklearn.__version__, "threads": int(threads), "cov": cov,
                          "k": len(st["weights"]), "rows": x.shape[0], "cols": x.shape[1],
                          "iterations": int(g.n_iter_), "em_s": em, "em_s_per_iter": em / g.n_iter_,
                          "cpu_s_per_iter": em_cpu / g.n_iter_,
                          "init_s": g.init_time_, "score": float(g.score(x)),
                          "lower_bound": float(g.lower_bound_)}), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "init":
        cmd_init(*sys.argv[2:6])
    elif sys.argv[1] == "time":
        cmd_time(*sys.argv[2:6])
    else:
        sys.exit(__doc__)
