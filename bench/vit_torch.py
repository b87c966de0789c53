#!/usr/bin/python3
"""PyTorch reference for features/vit: random-weight checkpoints in the three
layouts segdiscover reads, the forward passes of their public model code
re-written in plain torch (transformers and timm are not installed), and a
comparison with the Go forward pass.

  vit_torch.py fixtures DIR     tiny checkpoints + expected outputs (go test)
  vit_torch.py check WORK       several sizes, patch 8/14/16, fp32/fp16/bf16:
                                build, run the Go side on testdata/images,
                                compare tokens and keys (max rel error)
  vit_torch.py time WORK [N [NAME...]]
                                PyTorch CPU forward time (2 threads) of
                                vit-s16, vit-s8, checkpoints left in WORK

The reference modules follow, line for line where it matters:
  HF ViTModel        transformers/models/vit/modeling_vit.py
  HF Dinov2Model     transformers/models/dinov2/modeling_dinov2.py
  timm / DINO        facebookresearch/dino vision_transformer.py (and
                     dinov2's LayerScale ls1/ls2 when present)
The safetensors files are written with numpy (the safetensors package is
not available here): 8-byte little-endian header length, JSON header,
raw little-endian data.
"""
import json
import math
import os
import struct
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---------------------------------------------------------------- safetensors

def bf16_bits(a):
    """float32 -> bfloat16 bits, round to nearest even (as torch does)."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype(np.uint16)


def write_safetensors(path, tensors, dtype="F32", metadata=None):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = np.asarray(tensors[name], dtype=np.float32)
        if dtype == "F32":
            raw = a.astype("<f4").tobytes()
        elif dtype == "F16":
            raw = a.astype("<f2").tobytes()
        elif dtype == "BF16":
            raw = bf16_bits(a).astype("<u2").tobytes()
        else:
            raise ValueError(dtype)
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    js = json.dumps(header, separators=(",", ":")).encode()
    js += b" " * ((8 - len(js) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js)))
        f.write(js)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    buf = data[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = buf[b:e]
        if info["dtype"] == "F32":
            a = np.frombuffer(raw, dtype="<f4")
        elif info["dtype"] == "F16":
            a = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif info["dtype"] == "BF16":
            a = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise ValueError(info["dtype"])
        out[name] = a.reshape(info["shape"]).astype(np.float32)
    return out


def rounded(sd, dtype):
    """The float32 values a checkpoint of dtype holds."""
    out = {}
    for k, v in sd.items():
        a = v.detach().numpy().astype(np.float32)
        if dtype == "F16":
            a = a.astype(np.float16).astype(np.float32)
        elif dtype == "BF16":
            a = (bf16_bits(a).astype(np.uint32) << 16).view(np.float32)
        out[k] = a
    return out


# ---------------------------------------------------------------- HF ViTModel

class HFSelfAttention(nn.Module):
    def __init__(s, d, heads):
        super().__init__()
        s.h, s.hd = heads, d // heads
        s.query, s.key, s.value = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)

    def forward(s, x):
        b, n, d = x.shape
        shape = (b, -1, s.h, s.hd)
        k = s.key(x)
        kl = k.view(*shape).transpose(1, 2)
        vl = s.value(x).view(*shape).transpose(1, 2)
        ql = s.query(x).view(*shape).transpose(1, 2)
        w = torch.matmul(ql, kl.transpose(-1, -2)) * (s.hd ** -0.5)
        w = F.softmax(w, dim=-1, dtype=torch.float32).to(ql.dtype)
        o = torch.matmul(w, vl).transpose(1, 2).contiguous()
        return o.reshape(b, n, d), k


class HFAttention(nn.Module):
    def __init__(s, d, heads):
        super().__init__()
        s.attention = HFSelfAttention(d, heads)
        s.output = nn.Module()
        s.output.dense = nn.Linear(d, d)

    def forward(s, x):
        o, k = s.attention(x)
        return s.output.dense(o), k


class HFViTLayer(nn.Module):
    def __init__(s, d, heads, mlp, eps):
        super().__init__()
        s.attention = HFAttention(d, heads)
        s.intermediate = nn.Module()
        s.intermediate.dense = nn.Linear(d, mlp)
        s.output = nn.Module()
        s.output.dense = nn.Linear(mlp, d)
        s.layernorm_before = nn.LayerNorm(d, eps=eps)
        s.layernorm_after = nn.LayerNorm(d, eps=eps)

    def forward(s, x):
        a, k = s.attention(s.layernorm_before(x))
        x = a + x
        y = F.gelu(s.intermediate.dense(s.layernorm_after(x)))
        return s.output.dense(y) + x, k


class HFDinov2Layer(nn.Module):
    def __init__(s, d, heads, mlp, eps):
        super().__init__()
        s.norm1 = nn.LayerNorm(d, eps=eps)
        s.attention = HFAttention(d, heads)
        s.layer_scale1 = nn.Module()
        s.layer_scale1.lambda1 = nn.Parameter(torch.ones(d))
        s.norm2 = nn.LayerNorm(d, eps=eps)
        s.mlp = nn.Module()
        s.mlp.fc1, s.mlp.fc2 = nn.Linear(d, mlp), nn.Linear(mlp, d)
        s.layer_scale2 = nn.Module()
        s.layer_scale2.lambda1 = nn.Parameter(torch.ones(d))

    def forward(s, x):
        a, k = s.attention(s.norm1(x))
        x = a * s.layer_scale1.lambda1 + x
        y = s.mlp.fc2(F.gelu(s.mlp.fc1(s.norm2(x))))
        return y * s.layer_scale2.lambda1 + x, k


class HFModel(nn.Module):
    """ViTModel (dinov2=False) or Dinov2Model (dinov2=True), no pooler."""

    def __init__(s, d, heads, layers, mlp, patch, grid, eps, dinov2):
        super().__init__()
        s.patch, s.dinov2 = patch, dinov2
        s.embeddings = nn.Module()
        s.embeddings.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        s.embeddings.position_embeddings = nn.Parameter(torch.zeros(1, grid * grid + 1, d))
        s.embeddings.patch_embeddings = nn.Module()
        s.embeddings.patch_embeddings.projection = nn.Conv2d(3, d, patch, patch)
        s.encoder = nn.Module()
        L = HFDinov2Layer if dinov2 else HFViTLayer
        s.encoder.layer = nn.ModuleList([L(d, heads, mlp, eps) for _ in range(layers)])
        s.layernorm = nn.LayerNorm(d, eps=eps)

    def interpolate_pos_encoding(s, emb, height, width):
        pos = s.embeddings.position_embeddings
        num_patches, num_positions = emb.shape[1] - 1, pos.shape[1] - 1
        if num_patches == num_positions and height == width:
            return pos
        cls, pp = pos[:, :1], pos[:, 1:]
        dim = emb.shape[-1]
        nh, nw = height // s.patch, width // s.patch
        m = int(num_positions ** 0.5)
        pp = pp.reshape(1, m, m, dim).permute(0, 3, 1, 2)
        dt = pp.dtype
        if s.dinov2:
            pp = pp.to(torch.float32)
        pp = F.interpolate(pp, size=(nh, nw), mode="bicubic", align_corners=False).to(dtype=dt)
        pp = pp.permute(0, 2, 3, 1).reshape(1, -1, dim)
        return torch.cat((cls, pp), dim=1)

    def forward(s, px):
        b, _, h, w = px.shape
        e = s.embeddings.patch_embeddings.projection(px).flatten(2).transpose(1, 2)
        e = torch.cat((s.embeddings.cls_token.expand(b, -1, -1), e), dim=1)
        x = e + s.interpolate_pos_encoding(e, h, w)
        k = None
        for layer in s.encoder.layer:
            x, k = layer(x)
        return s.layernorm(x), k


# ---------------------------------------------------------------- timm / DINO

class Mlp(nn.Module):
    def __init__(s, d, h):
        super().__init__()
        s.fc1, s.fc2 = nn.Linear(d, h), nn.Linear(h, d)

    def forward(s, x):
        return s.fc2(F.gelu(s.fc1(x)))


class Attention(nn.Module):
    def __init__(s, d, heads):
        super().__init__()
        s.h = heads
        s.scale = (d // heads) ** -0.5
        s.qkv, s.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)

    def forward(s, x):
        B, N, C = x.shape
        qkv = s.qkv(x).reshape(B, N, 3, s.h, C // s.h).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q @ k.transpose(-2, -1)) * s.scale).softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(B, N, C)
        return s.proj(x), k.transpose(1, 2).reshape(B, N, C)


class LayerScale(nn.Module):
    def __init__(s, d):
        super().__init__()
        s.gamma = nn.Parameter(torch.ones(d))

    def forward(s, x):
        return x * s.gamma


class Block(nn.Module):
    def __init__(s, d, heads, mlp, eps, ls):
        super().__init__()
        s.norm1, s.norm2 = nn.LayerNorm(d, eps=eps), nn.LayerNorm(d, eps=eps)
        s.attn, s.mlp = Attention(d, heads), Mlp(d, mlp)
        s.ls1 = LayerScale(d) if ls else nn.Identity()
        s.ls2 = LayerScale(d) if ls else nn.Identity()

    def forward(s, x):
        y, k = s.attn(s.norm1(x))
        x = x + s.ls1(y)
        x = x + s.ls2(s.mlp(s.norm2(x)))
        return x, k


class DINO(nn.Module):
    def __init__(s, d, heads, layers, mlp, patch, grid, eps, ls):
        super().__init__()
        s.patch = patch
        s.patch_embed = nn.Module()
        s.patch_embed.proj = nn.Conv2d(3, d, patch, patch)
        s.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        s.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + 1, d))
        s.blocks = nn.ModuleList([Block(d, heads, mlp, eps, ls) for _ in range(layers)])
        s.norm = nn.LayerNorm(d, eps=eps)

    def interpolate_pos_encoding(s, x, w, h):
        npatch, N = x.shape[1] - 1, s.pos_embed.shape[1] - 1
        if npatch == N and w == h:
            return s.pos_embed
        class_pos_embed, patch_pos_embed = s.pos_embed[:, 0], s.pos_embed[:, 1:]
        dim = x.shape[-1]
        w0, h0 = w // s.patch, h // s.patch
        w0, h0 = w0 + 0.1, h0 + 0.1
        patch_pos_embed = F.interpolate(
            patch_pos_embed.reshape(1, int(math.sqrt(N)), int(math.sqrt(N)), dim).permute(0, 3, 1, 2),
            scale_factor=(w0 / math.sqrt(N), h0 / math.sqrt(N)), mode="bicubic", align_corners=False)
        assert int(w0) == patch_pos_embed.shape[-2] and int(h0) == patch_pos_embed.shape[-1]
        patch_pos_embed = patch_pos_embed.permute(0, 2, 3, 1).reshape(1, -1, dim)
        return torch.cat((class_pos_embed.unsqueeze(0), patch_pos_embed), dim=1)

    def forward(s, x):
        B, nc, w, h = x.shape  # as DINO names them: w is the height
        t = s.patch_embed.proj(x).flatten(2).transpose(1, 2)
        t = torch.cat((s.cls_token.expand(B, -1, -1), t), dim=1)
        t = t + s.interpolate_pos_encoding(t, w, h)
        k = None
        for blk in s.blocks:
            t, k = blk(t)
        return s.norm(t), k


# ---------------------------------------------------------------- builders

def build(layout, d, heads, layers, mlp, patch, grid, seed, prefix=""):
    """A model with random weights of realistic scale, and its config.json
    (None for the timm layout, whose architecture is inferred)."""
    torch.manual_seed(seed)
    if layout == "hf-vit":
        eps = 1e-12
        m = HFModel(d, heads, layers, mlp, patch, grid, eps, dinov2=False)
        cfg = {"model_type": "vit", "hidden_size": d, "num_attention_heads": heads, "num_hidden_layers": layers,
               "intermediate_size": mlp, "patch_size": patch, "image_size": patch * grid,
               "layer_norm_eps": eps, "hidden_act": "gelu", "qkv_bias": True}
    elif layout == "hf-dinov2":
        eps = 1e-6
        m = HFModel(d, heads, layers, mlp, patch, grid, eps, dinov2=True)
        cfg = {"model_type": "dinov2", "hidden_size": d, "num_attention_heads": heads,
               "num_hidden_layers": layers, "mlp_ratio": mlp / d, "patch_size": patch,
               "image_size": patch * grid, "layer_norm_eps": eps, "hidden_act": "gelu",
               "layerscale_value": 1.0, "use_swiglu_ffn": False}
    else:
        eps = 1e-6
        m = DINO(d, heads, layers, mlp, patch, grid, eps, ls=(layout == "timm-ls"))
        cfg = None
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith("lambda1") or name.endswith("gamma"):
                p.copy_(0.1 + 0.05 * torch.randn(p.shape, generator=g))
            elif p.dim() == 1 and ("norm" in name):
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.1 * torch.randn(p.shape, generator=g))
            elif p.dim() == 1:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("projection.weight") or name.endswith("proj.weight") and p.dim() == 4:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p[0].numel()))
            elif p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p.shape[1]))
            else:  # cls token, position embeddings
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
    m.eval()
    sd = {prefix + k: v for k, v in m.state_dict().items()}
    return m, cfg, sd


def save_model(dirname, m, cfg, sd, dtype):
    os.makedirs(dirname, exist_ok=True)
    vals = rounded(sd, dtype)
    write_safetensors(os.path.join(dirname, "model.safetensors"), vals, dtype, {"format": "pt"})
    if cfg is not None:
        with open(os.path.join(dirname, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
    # The reference runs on exactly the (rounded) values the file holds.
    own = {k: torch.from_numpy(v) for k, v in vals.items()}
    strip = {k.split(".", 1)[1] if k.startswith(("vit.", "dinov2.", "module.", "backbone.")) else k: v for k, v in own.items()}
    m.load_state_dict(strip)


def run(m, x):
    with torch.no_grad():
        t, k = m(torch.from_numpy(x)[None])
    return t[0].numpy(), k[0].numpy()


def relerr(ours, ref):
    return float(np.max(np.abs(ours - ref)) / max(np.max(np.abs(ref)), 1e-30))


# ---------------------------------------------------------------- commands

# Tiny fixtures for go test: every layout, every dtype, patch 8/14/16,
# non-square inputs (interpolation) and a square input at the table's own
# grid (the no-interpolation shortcut).
FIXTURES = [
    # name, layout, d, heads, layers, mlp, patch, grid, dtype, prefix
    ("hf-vit", "hf-vit", 32, 2, 2, 64, 8, 4, "F32", ""),
    ("hf-dinov2", "hf-dinov2", 32, 2, 2, 96, 14, 3, "F16", "dinov2."),
    ("timm", "timm", 64, 1, 2, 128, 16, 3, "BF16", "module."),
    ("timm-ls", "timm-ls", 64, 1, 2, 128, 8, 4, "F32", ""),
]


def fixtures(out):
    rng = np.random.default_rng(7)
    for i, (name, layout, d, heads, layers, mlp, patch, grid, dtype, prefix) in enumerate(FIXTURES):
        m, cfg, sd = build(layout, d, heads, layers, mlp, patch, grid, seed=100 + i, prefix=prefix)
        dn = os.path.join(out, name)
        save_model(dn, m, cfg, sd, dtype)
        exp = {}
        sizes = [(patch * (grid + 1), patch * (grid + 3) + patch // 2), (patch * grid, patch * grid),
                 (patch * (grid - 1), patch * (grid - 1))]
        for j, (h, w) in enumerate(sizes):
            x = rng.standard_normal((3, h, w)).astype(np.float32)
            t, k = run(m, x)
            exp["input_%d" % j], exp["tokens_%d" % j], exp["keys_%d" % j] = x, t, k
        write_safetensors(os.path.join(dn, "expected.safetensors"), exp)
        print("%-10s %s %s  %d bytes" % (name, layout, dtype, os.path.getsize(os.path.join(dn, "model.safetensors"))))


# Bench configurations: several sizes, patch 8/14/16, every dtype.
CHECKS = [
    ("hf-vit-s8-f32", "hf-vit", 384, 6, 12, 1536, 8, 28, "F32", ""),
    ("hf-vit-b16-f16", "hf-vit", 768, 12, 4, 3072, 16, 14, "F16", "vit."),
    ("hf-dinov2-s14-f32", "hf-dinov2", 384, 6, 12, 1536, 14, 37, "F32", ""),
    ("hf-dinov2-t14-f16", "hf-dinov2", 192, 3, 6, 768, 14, 37, "F16", "dinov2."),
    ("timm-s16-f32", "timm", 384, 6, 12, 1536, 16, 14, "F32", ""),
    ("timm-t8-f16", "timm", 192, 3, 12, 768, 8, 28, "F16", "module."),
    ("timm-ls-s14-bf16", "timm-ls", 384, 6, 6, 1536, 14, 37, "BF16", "backbone."),
]


def check(work):
    images = os.path.join(REPO, "testdata", "images")
    models = {}
    for i, (name, layout, d, heads, layers, mlp, patch, grid, dtype, prefix) in enumerate(CHECKS):
        m, cfg, sd = build(layout, d, heads, layers, mlp, patch, grid, seed=200 + i, prefix=prefix)
        dn = os.path.join(work, name)
        save_model(dn, m, cfg, sd, dtype)
        models[name] = (m, dn)
    dirs = [models[c[0]][1] for c in CHECKS]
    subprocess.run(["go", "run", "./bench/vitbench", "check", "-images", images, "-n", "3"] + dirs,
                   cwd=REPO, check=True)
    worst = 0.0
    print("%-20s %-8s %5s %12s %12s" % ("model", "image", "grid", "tokens", "keys"))
    for c in CHECKS:
        m, dn = models[c[0]]
        inp = read_safetensors(os.path.join(dn, "inputs.safetensors"))
        ours = read_safetensors(os.path.join(dn, "ours.safetensors"))
        for j in range(len([k for k in inp if k.startswith("input_")])):
            x = inp["input_%d" % j]
            t, k = run(m, x)
            et, ek = relerr(ours["tokens_%d" % j], t), relerr(ours["keys_%d" % j], k)
            worst = max(worst, et, ek)
            grid = "%dx%d" % (x.shape[1] // c[6], x.shape[2] // c[6])
            print("%-20s %-8d %5s %12.3g %12.3g" % (c[0], j, grid, et, ek))
    print("max relative error (max|ours-torch| / max|torch|): %.3g (criterion 1e-4)" % worst)
    return 0 if worst <= 1e-4 else 1


TIMED = {"vit-s16": 16, "vit-s8": 8}


def timing(work, n=10, names=("vit-s16", "vit-s8"), threads=2):
    """Median forward time; the checkpoints (timm layout, ViT-S: 384 wide,
    6 heads, 12 blocks) are written for the Go side to time too."""
    torch.set_num_threads(threads)
    for name in names:
        patch = TIMED[name]
        m, cfg, sd = build("timm", 384, 6, 12, 1536, patch, 224 // patch, seed=1)
        if not os.path.exists(os.path.join(work, name, "model.safetensors")):
            save_model(os.path.join(work, name), m, cfg, sd, "F32")
        x = torch.randn(1, 3, 224, 224)
        with torch.no_grad():
            for _ in range(2):
                m(x)
            ts = []
            c0 = time.process_time()
            for _ in range(n):
                t0 = time.perf_counter()
                m(x)
                ts.append(time.perf_counter() - t0)
            cpu = (time.process_time() - c0) / n
        print("torch %s 224x224 batch 1 threads %d: median %.1f ms (min %.1f) over %d, %.1f CPU-ms each" %
              (name, threads, 1e3 * float(np.median(ts)), 1e3 * min(ts), n, 1e3 * cpu), flush=True)


if __name__ == "__main__":
    cmd, arg = sys.argv[1], sys.argv[2]
    if cmd == "fixtures":
        fixtures(arg)
    elif cmd == "check":
        sys.exit(check(arg))
    elif cmd == "time":
        timing(arg, int(sys.argv[3]) if len(sys.argv) > 3 else 10, sys.argv[4:] or ("vit-s16", "vit-s8"))
    else:
        sys.exit(__doc__)
