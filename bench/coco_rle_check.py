#!/usr/bin/env python3
"""Checks a COCO export of segdiscover against the masks it came from,
with an RLE decoder written here from the COCO format's definition
(pycocotools is not packaged in Debian): every annotation's compressed RLE
must decode to exactly the pixels of its concept in the mask PNG, and every
concept present in a mask must have its annotation. Also checks area and
bbox.

    /usr/bin/python3 bench/coco_rle_check.py OUT_DIR EXPORT_DIR/annotations.json
"""
import json
import os
import sys
from collections import defaultdict

import numpy as np
from PIL import Image


def counts_from_string(s):
    """pycocotools rleFrString, from its definition."""
    counts, p = [], 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            c = ord(s[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def decode(rle):
    h, w = rle["size"]
    flat = np.zeros(h * w, np.uint8)
    pos, val = 0, 0
    for c in counts_from_string(rle["counts"]):
        flat[pos:pos + c] = val
        pos += c
        val ^= 1
    assert pos == h * w, f"runs cover {pos} pixels, the image {h * w}"
    return flat.reshape((w, h)).T  # column-major


def mask_path(out, file_name):
    stem, ext = os.path.splitext(file_name)
    for rel in (file_name, stem):  # same-stem images keep their extension
        for d in ("masks", "pseudolabels"):
            p = os.path.join(out, d, rel + ".png")
            if os.path.exists(p):
                return p
    raise FileNotFoundError(file_name)


def main():
    out, ann = sys.argv[1], sys.argv[2]
    doc = json.load(open(ann))
    by_image = defaultdict(list)
    for a in doc["annotations"]:
        by_image[a["image_id"]].append(a)
    checked = bad = 0
    for im in doc["images"]:
        ids = np.asarray(Image.open(mask_path(out, im["file_name"])))
        assert ids.shape == (im["height"], im["width"]), (im, ids.shape)
        seen = set()
        for a in by_image[im["id"]]:
            c = a["category_id"] - 1
            seen.add(c)
            got = decode(a["segmentation"])
            want = (ids == c).astype(np.uint8)
            ys, xs = np.nonzero(want)
            bbox = [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]
            ok = np.array_equal(got, want) and a["area"] == int(want.sum()) and [int(v) for v in a["bbox"]] == bbox
            checked += 1
            if not ok:
                bad += 1
                print("MISMATCH", im["file_name"], "concept", c, file=sys.stderr)
        present = set(int(v) for v in np.unique(ids) if v != 255)
        if present != seen:
            bad += 1
            print("MISSING", im["file_name"], sorted(present - seen), file=sys.stderr)
    print(f"{checked} annotations over {len(doc['images'])} images: {checked - bad} pixel-identical, {bad} bad")
    sys.exit(1 if bad else 0)


main()
