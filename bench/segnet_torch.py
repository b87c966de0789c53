#!/usr/bin/python3
"""PyTorch side of bench/segnet.sh: the peers/segnet_ref.py architecture
(imported from it) on synthetic 240x320 images, batch 8, K=8, Adam 1e-3,
torch.set_num_threads(--threads). Prints one JSON line: training images/s
(after one warm-up batch; includes random flips like segnet_ref.py) and
inference images/s (eval mode, no_grad, forward only, after one warm-up
batch) and, as infer_full_img_per_s, the same plus what segnet's
PredictBatch also returns: the arg-max class and the 8-bit softmax
confidence of every pixel."""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("--peers", required=True)
ap.add_argument("--train", type=int, default=32)
ap.add_argument("--infer", type=int, default=64)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--h", type=int, default=240)
ap.add_argument("--w", type=int, default=320)
a = ap.parse_args()
sys.path.insert(0, os.path.abspath(a.peers))
from segnet_ref import build_model  # noqa: E402

torch.set_num_threads(a.threads)
torch.manual_seed(0)
K, B = 8, 8
n = max(a.train, B)
X = torch.randn(n, 3, a.h, a.w)
Y = torch.randint(0, K, (n, a.h, a.w))
model = build_model(K)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
model.train()


def step(xb, yb):
    flip = torch.rand(len(xb)) < 0.5
    if flip.any():
        xb = xb.clone()
        yb = yb.clone()
        xb[flip] = xb[flip].flip(-1)
        yb[flip] = yb[flip].flip(-1)
    loss = F.cross_entropy(model(xb), yb)
    opt.zero_grad()
    loss.backward()
    opt.step()


step(X[:B], Y[:B])
t0 = time.perf_counter()
for b in range(0, n, B):
    step(X[b:b + B], Y[b:b + B])
train = n / (time.perf_counter() - t0)

model.eval()
with torch.no_grad():
    model(X[:B])
    t0 = time.perf_counter()
    done = 0
    while done < a.infer:
        model(X[:B])
        done += B
    infer = done / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    done = 0
    while done < a.infer:
        conf, idx = F.softmax(model(X[:B]), 1).max(1)
        idx.to(torch.uint8), (conf * 255).round().to(torch.uint8)
        done += B
    infer_full = done / (time.perf_counter() - t0)
print(json.dumps({"backend": "pytorch " + torch.__version__, "threads": torch.get_num_threads(),
                  "train_img_per_s": train, "infer_img_per_s": infer, "infer_full_img_per_s": infer_full}))
