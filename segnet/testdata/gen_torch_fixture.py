#!/usr/bin/python3
"""Generates torch_fixture.json: conv2d and bilinear interpolate outputs of
PyTorch (Debian's python3-torch 1.13, CPU) on fixed random inputs, for
segnet's TestTorchFixture. Run once from this directory:

    /usr/bin/python3 gen_torch_fixture.py
"""
import json

import torch
import torch.nn.functional as F

torch.manual_seed(0)
cases = []
for n, c, o, h, w, s, d in [(2, 3, 4, 9, 11, 1, 1), (2, 3, 4, 9, 11, 2, 1), (1, 2, 3, 10, 7, 1, 2),
                            (1, 2, 3, 10, 7, 2, 2), (1, 2, 2, 12, 13, 1, 4)]:
    x = torch.randn(n, c, h, w)
    wt = torch.randn(o, c, 3, 3)
    y = F.conv2d(x, wt, stride=s, padding=d, dilation=d)
    cases.append({"op": "conv2d", "n": n, "c": c, "o": o, "h": h, "w": w, "stride": s, "dilation": d,
                  "x": x.flatten().tolist(), "weight": wt.flatten().tolist(),
                  "out_shape": list(y.shape), "y": y.flatten().tolist()})
for ih, iw, oh, ow in [(3, 4, 12, 16), (5, 7, 19, 30), (6, 6, 4, 9)]:
    x = torch.randn(1, 2, ih, iw)
    y = F.interpolate(x, size=(oh, ow), mode="bilinear", align_corners=False)
    cases.append({"op": "bilinear", "n": 1, "c": 2, "h": ih, "w": iw, "oh": oh, "ow": ow,
                  "x": x.flatten().tolist(), "out_shape": list(y.shape), "y": y.flatten().tolist()})
with open("torch_fixture.json", "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f)
