"""Superpixels for bench/features_eval: skimage SLIC (300 segments,
compactness 10, start_label 0, as peers/pipeline_ref.py) of every image of
Stanford Background, written as 16-bit PNG label maps.

    /usr/bin/python3 bench/features_eval/slic_skimage.py \
        ../shared/data/stanford_background/images /tmp/sp
"""
import glob, os, sys

import cv2
import numpy as np
from skimage.segmentation import slic

src, dst = sys.argv[1], sys.argv[2]
os.makedirs(dst, exist_ok=True)
for p in sorted(glob.glob(os.path.join(src, "*.jpg"))):
    rgb = cv2.cvtColor(cv2.imread(p), cv2.COLOR_BGR2RGB)
    sp = slic(rgb, n_segments=300, compactness=10, start_label=0)
    iid = os.path.splitext(os.path.basename(p))[0]
    cv2.imwrite(os.path.join(dst, iid + ".png"), sp.astype(np.uint16))
