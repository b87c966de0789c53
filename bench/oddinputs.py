#!/usr/bin/env python3
"""Writes a folder of odd inputs for bench/oddinputs.sh: extreme aspect
ratios, a 24 MP photo-like image, tiny, 16-bit, CMYK, EXIF-rotated,
truncated, and decompression bombs. Nothing here is committed: the files
are generated (deterministically) into the folder given.

    /usr/bin/python3 bench/oddinputs.py DIR
"""
import io, os, struct, sys, zlib

import numpy as np
from PIL import Image

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(1)


def scene(h, w):
    """A photo-like scene: sky over ground with a few blobs and noise."""
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    img = np.empty((h, w, 3), np.float32)
    sky = y < 0.45 + 0.1 * np.sin(6 * x)
    img[..., 0] = np.where(sky, 90 + 60 * y, 70 + 40 * x)
    img[..., 1] = np.where(sky, 140 + 60 * y, 120 - 30 * y)
    img[..., 2] = np.where(sky, 230 - 20 * y, 50 + 20 * x)
    blob = (x - 0.7) ** 2 + (y - 0.7) ** 2 < 0.02
    img[blob] = [200, 60, 40]
    img += rng.normal(0, 6, size=(1, w, 3)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def save(name, im, **kw):
    im.save(os.path.join(out, name), **kw)


save("wide_1x5000.png", Image.fromarray(scene(1, 5000)))
save("tall_5000x1.png", Image.fromarray(scene(5000, 1)))
save("strip_3x20000.png", Image.fromarray(scene(3, 20000)))
save("photo_6000x4000.jpg", Image.fromarray(scene(4000, 6000)), quality=90)
save("tiny_1x1.png", Image.fromarray(scene(1, 1)))
save("tiny_2x3.bmp", Image.fromarray(scene(3, 2)))
g16 = (scene(240, 320)[..., 1].astype(np.uint16) * 257)
save("gray16.png", Image.fromarray(g16, mode="I;16"))
rgb16 = scene(240, 320).astype(np.uint16) * 257
# 16-bit RGB PNG by hand (Pillow cannot write it).
raw = b"".join(b"\x00" + rgb16[r].astype(">u2").tobytes() for r in range(240))
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
png16 = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 320, 240, 16, 2, 0, 0, 0)) + \
    chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
open(os.path.join(out, "rgb16.png"), "wb").write(png16)
save("cmyk.jpg", Image.fromarray(scene(240, 320)).convert("CMYK"), quality=90)
exif = Image.Exif()
exif[0x0112] = 6  # rotate 90 CW to display
save("exif_rot6.jpg", Image.fromarray(scene(240, 320)), exif=exif.tobytes())
buf = io.BytesIO()
Image.fromarray(scene(240, 320)).save(buf, "JPEG")
open(os.path.join(out, "truncated.jpg"), "wb").write(buf.getvalue()[: len(buf.getvalue()) // 2])
buf = io.BytesIO()
Image.fromarray(scene(240, 320)).save(buf, "PNG")
open(os.path.join(out, "truncated.png"), "wb").write(buf.getvalue()[: len(buf.getvalue()) // 3])
# Bombs: a PNG whose header claims 100000 x 100000 (refused from its
# header), and one of 9000 x 9000 zeros that compresses to a few kB but is
# under the default pixel limit (81 MP), so it is decoded for real.
open(os.path.join(out, "bomb_header.png"), "wb").write(
    b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)) +
    chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b""))
z = zlib.compressobj(9)
row = b"\x00" + b"\x00" * 9000
data = b"".join(z.compress(row) for _ in range(9000)) + z.flush()
open(os.path.join(out, "bomb_81mp.png"), "wb").write(
    b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 9000, 9000, 8, 0, 0, 0, 0)) +
    chunk(b"IDAT", data) + chunk(b"IEND", b""))
open(os.path.join(out, "empty.png"), "wb").write(b"")
open(os.path.join(out, "not_an_image.jpg"), "wb").write(b"hello, world\n" * 10)
for i in range(4):
    save(f"normal_{i}.jpg", Image.fromarray(scene(240 + 10 * i, 320)), quality=90)
