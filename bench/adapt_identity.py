#!/usr/bin/env python3
"""Concept identity across `segdiscover adapt`.

The concept that the source's Hungarian matching gives to CLASS (e.g. sky)
on the source dataset: which share of the target's CLASS pixels it covers,
and which share of its target pixels are CLASS, in each target prediction
folder given (e.g. predict's and adapt's masks).

  adapt_identity.py --class sky SRC_MASKS SRC_GT TGT_GT TGT_MASKS...

Uses ../shared/peers/eval_miou.py's reader and confusion counts.
"""
import argparse, os, sys
import numpy as np
from scipy.optimize import linear_sum_assignment

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "peers"))
sys.path.insert(0, "/work/shared/peers")
from eval_miou import read_png, confusion, read_classes  # noqa: E402


def conf_dir(pred_dir, gt_dir, n_cls, n_pred=256):
    M = np.zeros((n_pred, n_cls), dtype=np.int64)
    for name in sorted(os.listdir(gt_dir)):
        if not name.endswith(".png"):
            continue
        p = os.path.join(pred_dir, name)
        if not os.path.exists(p):
            raise SystemExit("missing prediction " + p)
        M += confusion(read_png(p), read_png(os.path.join(gt_dir, name)), n_pred, n_cls)
    return M


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--class", dest="cls", default="sky")
    ap.add_argument("src_masks")
    ap.add_argument("src_gt")
    ap.add_argument("tgt_gt")
    ap.add_argument("tgt_masks", nargs="+")
    a = ap.parse_args()
    sc, tc = read_classes(a.src_gt), read_classes(a.tgt_gt)
    Ms = conf_dir(a.src_masks, a.src_gt, len(sc))
    used = np.where(Ms.sum(axis=1) > 0)[0]
    used = used[used != 255]
    rows, cols = linear_sum_assignment(Ms[used], maximize=True)
    s_idx, t_idx = sc.index(a.cls), tc.index(a.cls)
    match = {int(used[r]): int(c) for r, c in zip(rows, cols)}
    concept = [k for k, c in match.items() if c == s_idx]
    if not concept:
        raise SystemExit("no source concept matched to " + a.cls)
    k = concept[0]
    print("source: concept %d matched to %s; it covers %.1f%% of the source's %s pixels" %
          (k, a.cls, 100 * Ms[k, s_idx] / max(1, Ms[:, s_idx].sum()), a.cls))
    for d in a.tgt_masks:
        Mt = conf_dir(d, a.tgt_gt, len(tc))
        cover = Mt[k, t_idx] / max(1, Mt[:, t_idx].sum())
        purity = Mt[k, t_idx] / max(1, Mt[k].sum())
        print("%s: concept %d covers %.1f%% of the target's %s pixels; %.1f%% of its pixels are %s" %
              (d, k, 100 * cover, a.cls, 100 * purity, a.cls))


if __name__ == "__main__":
    main()
