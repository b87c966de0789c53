#!/usr/bin/python3
"""Independent boundary F-measure, to check `segdiscover eval` (numpy/scipy).

A pixel is a boundary pixel when its right or lower neighbour has another id,
neither pixel being void in the ground truth.  A predicted boundary pixel is
matched when a ground-truth boundary pixel lies within Euclidean distance TOL
(scipy's exact distance transform), and back; counts are summed over the
dataset.  Usage:

    /usr/bin/python3 bench/boundary_f.py PRED_DIR --gt GT_DIR [--tol 2] [--ignore 255]
"""
import argparse, json, os
import numpy as np
from PIL import Image
from scipy.ndimage import distance_transform_edt


def boundaries(ids, void):
    b = np.zeros(ids.shape, bool)
    right = (ids[:, 1:] != ids[:, :-1]) & ~void[:, 1:] & ~void[:, :-1]
    down = (ids[1:, :] != ids[:-1, :]) & ~void[1:, :] & ~void[:-1, :]
    b[:, :-1] |= right
    b[:-1, :] |= down
    return b


def near(b, tol):
    if not b.any():
        return np.zeros_like(b)
    return distance_transform_edt(~b) <= tol


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pred")
    ap.add_argument("--gt", required=True)
    ap.add_argument("--tol", type=float, default=2)
    ap.add_argument("--ignore", type=int, default=255)
    a = ap.parse_args()
    P = PH = G = GH = 0
    n = 0
    for f in sorted(os.listdir(a.gt)):
        if not f.endswith(".png"):
            continue
        gt = np.asarray(Image.open(os.path.join(a.gt, f))).astype(np.int64)
        pred = np.asarray(Image.open(os.path.join(a.pred, f))).astype(np.int64)
        void = gt == a.ignore
        pb, gb = boundaries(pred, void), boundaries(gt, void)
        P += pb.sum(); PH += (pb & near(gb, a.tol)).sum()
        G += gb.sum(); GH += (gb & near(pb, a.tol)).sum()
        n += 1
    p, r = PH / P, GH / G
    f = 2 * p * r / (p + r) if p + r > 0 else 0.0
    out = {"images": n, "precision": p, "recall": r, "f": f, "pred_boundary_px": int(P), "gt_boundary_px": int(G)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
