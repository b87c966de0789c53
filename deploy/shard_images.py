#!/usr/bin/env python3
"""Print the images of shard WANT of N under ROOT, one <rel> per line.

An independent copy of segdiscover's shard assignment (FNV-1a 64 of the
image's name under IN_DIR without extension, mod N), used by
deploy/slurm/test.sh and deploy/s3/test.sh to pick a shard's images.

Usage: shard_images.py ROOT N WANT
"""
import os
import sys

root, n, want = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
exts = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp"}
for d, dirs, files in os.walk(root, followlinks=True):
    dirs[:] = sorted(x for x in dirs if not x.startswith("."))
    for f in sorted(files):
        stem, ext = os.path.splitext(f)
        if f.startswith(".") or ext.lower() not in exts:
            continue
        rel = os.path.relpath(os.path.join(d, stem), root).replace(os.sep, "/")
        h = 0xcbf29ce484222325
        for b in rel.encode():
            h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
        if h % n == want:
            print(rel)
