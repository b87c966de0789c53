#!/usr/bin/python3
"""Regenerates the evaluation fixtures of pipeline/eval_test.go and
pseudolabel/assign_test.go with the peer scorers (numbers from Python, not
from our code):

    cd pipeline/testdata/eval && /usr/bin/python3 gen.py [PEERS_DIR]

PEERS_DIR defaults to ../../../../shared/peers (the module root's sibling
"shared").  Inputs are random but seeded; outputs are small PNGs and JSON.
"""
import json
import os
import shutil
import sys

import numpy as np
from PIL import Image

here = os.path.dirname(os.path.abspath(__file__))
peers = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "..", "..", "shared", "peers")
sys.path.insert(0, os.path.abspath(peers))
import eval_miou  # noqa: E402
import spmetrics  # noqa: E402
from scipy.optimize import linear_sum_assignment  # noqa: E402

rng = np.random.default_rng(20261128)


def save(path, a, mode):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if mode == "P":
        im = Image.fromarray(a.astype(np.uint8), mode="P")
        pal = []
        for i in range(256):
            pal += [(i * 37) % 256, (i * 91) % 256, (i * 53) % 256]
        im.putpalette(pal)
    elif mode == "I;16":
        im = Image.fromarray(a.astype(np.uint16))
    else:
        im = Image.fromarray(a.astype(np.uint8), mode="L")
    im.save(path)


def blocks(h, w, n_cls, ignore_frac):
    """A ground truth of rectangles of classes with some ignore pixels."""
    g = np.zeros((h, w), np.int64)
    for _ in range(6):
        y0, x0 = rng.integers(0, h), rng.integers(0, w)
        g[y0:y0 + rng.integers(2, h), x0:x0 + rng.integers(2, w)] = rng.integers(0, n_cls)
    g[rng.random((h, w)) < ignore_frac] = 255
    return g


def miou_case(name, n_cls, k, n_img, pred_mode="L", unassigned_frac=0.05, noise=0.3, extra=None, gt_cls=None):
    d = os.path.join(here, "miou", name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "gt"))
    with open(os.path.join(d, "classes.txt"), "w") as f:
        f.write("".join("class%d\n" % i for i in range(n_cls)))
    perm = rng.integers(0, k, size=n_cls)
    for i in range(n_img):
        h, w = int(rng.integers(6, 14)), int(rng.integers(6, 14))
        g = blocks(h, w, gt_cls or n_cls, 0.1)
        p = np.where(g == 255, rng.integers(0, k, (h, w)), perm[np.minimum(g, n_cls - 1)])
        flip = rng.random((h, w)) < noise
        p[flip] = rng.integers(0, k, flip.sum())
        p[rng.random((h, w)) < unassigned_frac] = 255
        if extra is not None:
            extra(i, p, g)
        save(os.path.join(d, "gt", "img%02d.png" % i), g, "L")
        save(os.path.join(d, "pred", "img%02d.png" % i), p, pred_mode)
    res = eval_miou.evaluate_dir(os.path.join(d, "pred"), os.path.join(d, "gt"))
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(res, f, indent=1)


def ignored_only_id(i, p, g):
    # A predicted id that only occurs on ignored pixels: it counts in K
    # but holds no valid pixel (a zero row: Hungarian tie-breaking).
    if i == 0:
        ys, xs = np.nonzero(g == 255)
        if len(ys):
            p[ys[0], xs[0]] = 9


miou_case("equal", 5, 5, 4)
miou_case("more_pred", 4, 9, 4)
miou_case("fewer_pred", 7, 3, 3)
miou_case("paletted", 6, 6, 3, pred_mode="P")
miou_case("pred16", 4, 6, 3, pred_mode="I;16", extra=ignored_only_id)
miou_case("zero_rows", 3, 3, 3, noise=0.0, unassigned_frac=0.3, extra=ignored_only_id)
# Classes absent from the ground truth (IoU null or 0, left out of mIoU).
miou_case("absent_classes", 6, 8, 3, gt_cls=3)
miou_case("absent_nan", 6, 3, 3, gt_cls=3)

# Superpixel metrics: 3 images, 2-3 annotators each, 16-bit ids.
d = os.path.join(here, "spmetrics")
shutil.rmtree(d, ignore_errors=True)
for i in range(3):
    h, w = int(rng.integers(10, 20)), int(rng.integers(10, 20))
    seg = np.zeros((h, w), np.int64)
    for _ in range(8):
        y0, x0 = rng.integers(0, h), rng.integers(0, w)
        seg[y0:y0 + rng.integers(2, 8), x0:x0 + rng.integers(2, 8)] = rng.integers(0, 40) * 1000
    save(os.path.join(d, "pred", "im%d.png" % i), seg, "I;16")
    for a in range(2 + i % 2):
        g = np.zeros((h, w), np.int64)
        for _ in range(5):
            y0, x0 = rng.integers(0, h), rng.integers(0, w)
            g[y0:y0 + rng.integers(2, 10), x0:x0 + rng.integers(2, 10)] = rng.integers(1, 6)
        save(os.path.join(d, "gt", "im%d_%d.png" % (i, a)), g, "I;16")
expected = {}
for tol in (0, 1, 2, 3):
    summary, per = spmetrics.score_dir(os.path.join(d, "pred"), os.path.join(d, "gt"), tol)
    expected["tol%d" % tol] = {"summary": summary, "per_image": per}
    spmetrics._GT_CACHE.clear()
with open(os.path.join(d, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1)

# Assignment problems with many ties, solved by scipy.
cases = []
for shape in [(1, 1), (1, 4), (4, 1), (3, 3), (5, 8), (8, 5), (8, 8), (6, 6), (10, 4), (4, 10), (12, 12)]:
    for hi in (1, 2, 3, 1000):
        for maximize in (False, True):
            c = rng.integers(0, hi + 1, size=shape).astype(float)
            r, col = linear_sum_assignment(c, maximize=maximize)
            cases.append({"cost": c.astype(int).tolist(), "maximize": maximize, "rows": r.tolist(), "cols": col.tolist()})
c = np.zeros((7, 7))
r, col = linear_sum_assignment(c)
cases.append({"cost": c.astype(int).tolist(), "maximize": False, "rows": r.tolist(), "cols": col.tolist()})
out = os.path.join(here, "..", "..", "..", "pseudolabel", "testdata", "lsap.json")
os.makedirs(os.path.dirname(out), exist_ok=True)
with open(out, "w") as f:
    json.dump(cases, f)
