#!/usr/bin/env python3
"""PyTorch peer of `mhc-train bench step`: the same Transformer (residual, hc or mhc streams) trained in PyTorch.

Benchmark (default): builds the model of an mhc-train JSON config (--config FILE, --set key=value overrides as in
mhc-train), times full training steps (forward + backward of every micro-batch, gradient clipping, AdamW with the
config's hyper-parameters) on random token batches of the config's shape, one warm-up step then --steps timed ones,
and prints one JSON object like `mhc-train bench step` (step_ms_median, tok_s, ...).

Check (--check-checkpoint DIR_OR_FILE): loads the weights of a checkpoint written by `mhc-train train` (safetensors,
parsed here with numpy), runs `mhc-train eval --full` on a batch of random tokens and compares its loss with this
model's loss on the same tokens; exit status 1 when they differ by more than --tolerance. The model follows
the design spec (docs/math.md) as lib/model/ and lib/ops/ implement it; parameter names are mhc-train's.
Needs torch and numpy (pip install torch numpy); --help works without them.
"""
import argparse
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import time
import types

try:
    import numpy as np
    import torch
    from torch import nn
    from torch.nn import functional as F
    MISSING_MODULE = None
except ImportError as e:
    MISSING_MODULE = e.name or str(e)
    nn = types.SimpleNamespace(Module=object)  # lets the classes below be defined, so that --help works

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MHC_TRAIN = os.path.join(ROOT, "build", "app", "mhc-train")

# Every section and key of an mhc-train config with its default (to_json(default_config()), lib/config/config.hpp).
# residual.n_streams defaults to 1 for type "residual" and 4 otherwise (lib/config/parse.cpp); the keys whose default
# depends on others in a way that does not matter here (train.min_lr, train.warmup) keep the embedded default's value.
DEFAULTS = {
    "model": {"vocab_size": 256, "d_model": 128, "n_blocks": 4, "n_heads": 4, "ffn_hidden": 352, "seq_len": 128,
              "tie_embeddings": False, "rope_theta": 10000.0},
    "residual": {"type": "mhc", "n_streams": 4, "sinkhorn_iters": 20, "alpha_init": 0.01, "bias_init": "identity",
                 "head_merge": "sum", "phi_init": "xavier"},
    "data": {"source": "synthetic", "path": "", "val_fraction": 0.1, "seed": 1},
    "train": {"steps": 300, "micro_batch": 8, "micro_batches": 1, "lr": 3e-3, "min_lr": 3e-4, "warmup": 30,
              "schedule": "cosine", "weight_decay": 0.1, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8, "grad_clip": 1.0,
              "seed": 1, "eval_every": 50, "eval_batches": 4, "log_every": 10, "diag_every": 50},
    "parallel": {"pp": 1, "dp": 1, "schedule": "1f1b", "device": "cpu", "matmul": "fp32", "layout": []},
    "recompute": {"mhc": False, "block_layers": "auto"},
    "checkpoint": {"every": 0, "keep": 2},
}

NORM_EPS = 1e-6          # every RMSNorm (lib/model/sublayer.hpp kNormEps)
MHC_RMS_EPS = 1e-6       # inside the square root of the mHC and gate RMS (lib/ops/mhc_coeffs.hpp kMhcRmsEps)
SINKHORN_EPS = 1e-6      # added to every row and column sum (lib/ops/sinkhorn.hpp kSinkhornEps)
GATE_WEIGHT_EPS = 1e-6   # added to every head-merge gate weight (lib/ops/head_merge.hpp kHeadMergeWeightEps)
INIT_STD = 0.02          # linear and embedding weights (lib/model/param_specs.cpp)
HC_SCALE_INIT = 0.01     # s_a, s_b of hc (lib/ops/hc_coeffs.hpp)
TOKEN_FILE_MAGIC, TOKEN_FILE_VERSION = 20240520, 1  # llm.c token shards (lib/data/token_file.cpp)
SAFETENSORS_DTYPES = {"F32": "<f4", "F64": "<f8"}   # what mhc-train writes for weights (f32; f64 in tests)


class ConfigError(Exception):
    pass


# ---- config ------------------------------------------------------------------------------------------------------

def override_value(text, default):
    """The value of `--set key=text` for a key whose default is `default`, as mhc-train reads it (overrides.cpp):
    JSON when it parses, plain text for a text key."""
    if isinstance(default, str) and not text.startswith('"'):
        return text
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if not isinstance(default, str) or isinstance(value, str) else text


def apply_overrides(doc, sets):
    for item in sets:
        key, eq, text = item.partition("=")
        section, _, name = key.partition(".")
        if not eq or section not in DEFAULTS or name not in DEFAULTS[section]:
            raise ConfigError(f"--set {item}: expected section.key=value with a key of the mhc-train config")
        doc.setdefault(section, {})[name] = override_value(text, DEFAULTS[section][name])


def resolve_config(doc, sets, source):
    """The config document `doc` with `sets` applied and every absent key at its default (a new dict)."""
    doc = json.loads(json.dumps(doc))
    apply_overrides(doc, sets)
    for section, keys in doc.items():
        if section not in DEFAULTS or not isinstance(keys, dict):
            raise ConfigError(f"{source}: '{section}' is not a section of the mhc-train config ({', '.join(DEFAULTS)})")
        unknown = sorted(set(keys) - set(DEFAULTS[section]))
        if unknown:
            raise ConfigError(f"{source}: unknown key {section}.{unknown[0]}")
    cfg = {section: dict(keys, **doc.get(section, {})) for section, keys in DEFAULTS.items()}
    if "n_streams" not in doc.get("residual", {}):
        cfg["residual"]["n_streams"] = 1 if cfg["residual"]["type"] == "residual" else 4
    m, r = cfg["model"], cfg["residual"]
    if r["type"] not in ("residual", "hc", "mhc"):
        raise ConfigError(f"{source}: residual.type {r['type']!r} is not residual, hc or mhc")
    if r["type"] == "residual" and r["n_streams"] != 1:
        raise ConfigError(f"{source}: residual.type \"residual\" needs residual.n_streams = 1")
    if m["d_model"] % m["n_heads"] or (m["d_model"] // m["n_heads"]) % 2:
        raise ConfigError(f"{source}: model.d_model / model.n_heads must be a whole, even head size")
    return cfg


def load_config_file(path, sets):
    with open(path, encoding="utf-8") as f:
        return resolve_config(json.load(f), sets, path)


# ---- model -------------------------------------------------------------------------------------------------------

def rope_tables(seq_len, head_dim, theta):
    """cos and sin (T, 1, D/2) of t * theta^(-2i/D), computed in double as lib/ops/cpu/rope_cpu.cpp does."""
    freq = theta ** (-2.0 * torch.arange(head_dim // 2, dtype=torch.float64) / head_dim)
    angle = torch.arange(seq_len, dtype=torch.float64)[:, None] * freq
    return angle.cos().float().unsqueeze(1), angle.sin().float().unsqueeze(1)


def rope(x, cos, sin):
    """Rotates the interleaved pairs (2i, 2i + 1) of the last dimension of x (B, T, H, D) by the position's angle."""
    x0, x1 = x.unflatten(-1, (-1, 2)).unbind(-1)
    return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1).flatten(-2)


def sinkhorn(logits, iters):
    """Sinkhorn-Knopp (spec 2.4) on the (.., n, n) logits: exp of the shifted logits, then `iters` times columns and
    rows divided by (their sum + eps), rows last. Autograd backpropagates through every iterate."""
    m = torch.exp(logits - logits.amax(dim=(-2, -1), keepdim=True))
    for _ in range(iters):
        m = m / (m.sum(dim=-2, keepdim=True) + SINKHORN_EPS)
        m = m / (m.sum(dim=-1, keepdim=True) + SINKHORN_EPS)
    return m


def mix(h_res, h_post, x, y):
    """x_out[i] = sum_j H_res[i, j] x[j] + H_post[i] y: h_res (B, T, n, n), h_post (B, T, n), x (B, T, n, C)."""
    return torch.einsum("btij,btjc->btic", h_res, x) + h_post.unsqueeze(-1) * y.unsqueeze(-2)


def rms_scale(v):
    """1 / RMS of the last dimension, eps inside the square root (the mHC and gate convention)."""
    return torch.rsqrt(v.pow(2).mean(dim=-1, keepdim=True) + MHC_RMS_EPS)


def xavier_or_zero(rows, cols, phi_init):
    phi = torch.empty(rows, cols)
    return nn.init.xavier_uniform_(phi) if phi_init == "xavier" else nn.init.zeros_(phi)


class ResidualConnection(nn.Module):
    """x + F(x) on the single stream (B, T, C)."""

    def forward(self, x, f):
        return x + f(x)


class HcConnection(nn.Module):
    """Dynamic Hyper-Connections (spec 2.2, lib/ops/hc_coeffs.hpp) on the streams (B, T, n, C); w packs the
    columns [w_m | W_r | w_b], s = (s_a, s_b)."""

    def __init__(self, d_model, n, layer):
        super().__init__()
        self.n = n
        self.norm = nn.RMSNorm(d_model, eps=NORM_EPS)
        self.w = nn.Parameter(torch.zeros(d_model, n + 2))
        self.s = nn.Parameter(torch.full((2,), HC_SCALE_INIT))
        self.am = nn.Parameter(F.one_hot(torch.tensor(layer % n), n).float())
        self.ar = nn.Parameter(torch.eye(n))
        self.bb = nn.Parameter(torch.ones(n))

    def forward(self, x, f):
        n = self.n
        t = torch.tanh(self.norm(x) @ self.w)       # (B, T, n, n + 2), from each stream's own features
        h_pre = self.s[0] * t[..., 0] + self.am     # A_m
        a_r = self.s[0] * t[..., 1:n + 1] + self.ar  # A_r[i, j]: what stream i sends to output stream j
        h_post = self.s[1] * t[..., n + 1] + self.bb  # B
        y = f(torch.einsum("bti,btic->btc", h_pre, x))
        return mix(a_r.transpose(-1, -2), h_post, x, y)  # H_res = A_r^T


class MhcConnection(nn.Module):
    """mHC (spec 2.3, lib/ops/mhc_coeffs.hpp): coefficients from vec(x) phi / RMS(vec(x)), column blocks
    [pre (n) | post (n) | res (n * n, row-major)], alpha = (alpha_pre, alpha_post, alpha_res), H_res by Sinkhorn."""

    def __init__(self, d_model, n, layer, res):
        super().__init__()
        self.n, self.iters = n, res["sinkhorn_iters"]
        self.phi = nn.Parameter(xavier_or_zero(n * d_model, n * n + 2 * n, res["phi_init"]))
        self.alpha = nn.Parameter(torch.full((3,), float(res["alpha_init"])))
        bias = torch.zeros(n * n + 2 * n)
        if res["bias_init"] == "identity":  # b_pre = -3 except +3 at the home stream, b_post = 0, b_res = 6 I - 3
            bias[:n] = -3.0
            bias[layer % n] = 3.0
            bias[2 * n:] = (6.0 * torch.eye(n) - 3.0).flatten()
        self.bias = nn.Parameter(bias)

    def forward(self, x, f):
        n = self.n
        v = x.flatten(-2)  # vec(x): (B, T, n C)
        z_pre, z_post, z_res = ((v @ self.phi) * rms_scale(v)).split([n, n, n * n], dim=-1)
        b_pre, b_post, b_res = self.bias.split([n, n, n * n])
        h_pre = torch.sigmoid(self.alpha[0] * z_pre + b_pre)
        h_post = 2.0 * torch.sigmoid(self.alpha[1] * z_post + b_post)
        h_res = sinkhorn((self.alpha[2] * z_res + b_res).unflatten(-1, (n, n)), self.iters)
        y = f(torch.einsum("bti,btic->btc", h_pre, x))
        return mix(h_res, h_post, x, y)


def make_connection(cfg, layer):
    res, d_model = cfg["residual"], cfg["model"]["d_model"]
    if res["type"] == "hc":
        return HcConnection(d_model, res["n_streams"], layer)
    if res["type"] == "mhc":
        return MhcConnection(d_model, res["n_streams"], layer, res)
    return ResidualConnection()


class AttentionLayer(nn.Module):
    """One residual layer: pre-RMSNorm causal self-attention with RoPE on q and k, and its connection."""

    def __init__(self, cfg, layer, out_std):
        super().__init__()
        m = cfg["model"]
        C = m["d_model"]
        self.n_heads = m["n_heads"]
        self.norm = nn.RMSNorm(C, eps=NORM_EPS)
        self.wq, self.wk, self.wv, self.wo = (nn.Linear(C, C, bias=False) for _ in range(4))
        for w in (self.wq, self.wk, self.wv):
            nn.init.normal_(w.weight, std=INIT_STD)
        nn.init.normal_(self.wo.weight, std=out_std)
        cos, sin = rope_tables(m["seq_len"], C // self.n_heads, m["rope_theta"])
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self.conn = make_connection(cfg, layer)

    def sublayer(self, u):
        B, T, C = u.shape
        xn = self.norm(u)
        cos, sin = self.cos[:T], self.sin[:T]
        q = rope(self.wq(xn).view(B, T, self.n_heads, -1), cos, sin).transpose(1, 2)
        k = rope(self.wk(xn).view(B, T, self.n_heads, -1), cos, sin).transpose(1, 2)
        v = self.wv(xn).view(B, T, self.n_heads, -1).transpose(1, 2)
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.wo(o.transpose(1, 2).reshape(B, T, C))

    def forward(self, x):
        return self.conn(x, self.sublayer)


class MlpLayer(nn.Module):
    """One residual layer: pre-RMSNorm SwiGLU MLP, w_down(silu(w_gate n) * w_up n), and its connection."""

    def __init__(self, cfg, layer, out_std):
        super().__init__()
        C, Fh = cfg["model"]["d_model"], cfg["model"]["ffn_hidden"]
        self.norm = nn.RMSNorm(C, eps=NORM_EPS)
        self.w_gate, self.w_up = nn.Linear(C, Fh, bias=False), nn.Linear(C, Fh, bias=False)
        self.w_down = nn.Linear(Fh, C, bias=False)
        nn.init.normal_(self.w_gate.weight, std=INIT_STD)
        nn.init.normal_(self.w_up.weight, std=INIT_STD)
        nn.init.normal_(self.w_down.weight, std=out_std)
        self.conn = make_connection(cfg, layer)

    def sublayer(self, u):
        xn = self.norm(u)
        return self.w_down(F.silu(self.w_gate(xn)) * self.w_up(xn))

    def forward(self, x):
        return self.conn(x, self.sublayer)


class Block(nn.Module):
    def __init__(self, cfg, block):
        super().__init__()
        out_std = INIT_STD / (2.0 * cfg["model"]["n_blocks"]) ** 0.5  # GPT-2 scaling of wo and w_down
        self.attn = AttentionLayer(cfg, 2 * block, out_std)
        self.mlp = MlpLayer(cfg, 2 * block + 1, out_std)

    def forward(self, x):
        return self.mlp(self.attn(x))


class HeadMergeGate(nn.Module):
    """residual.head_merge "gate": y = sum_i w_i x_L[i], w = sigmoid(alpha vec(x) phi / RMS + bias) + 1e-6."""

    def __init__(self, d_model, n, res):
        super().__init__()
        self.phi = nn.Parameter(xavier_or_zero(n * d_model, n, res["phi_init"]))
        self.alpha = nn.Parameter(torch.full((1,), float(res["alpha_init"])))
        self.bias = nn.Parameter(torch.zeros(n))

    def forward(self, x):
        v = x.flatten(-2)
        w = torch.sigmoid(self.alpha * (v @ self.phi) * rms_scale(v) + self.bias) + GATE_WEIGHT_EPS
        return torch.einsum("bti,btic->btc", w, x)


class Transformer(nn.Module):
    """Embedding, n-stream expansion (hc, mhc), the residual layers, stream merge, final RMSNorm, LM head."""

    def __init__(self, cfg):
        super().__init__()
        m, res = cfg["model"], cfg["residual"]
        self.n_streams = res["n_streams"]
        self.streams = res["type"] != "residual"  # x (B, T, n, C); type residual keeps the plain (B, T, C)
        self.embed = nn.Embedding(m["vocab_size"], m["d_model"])
        nn.init.normal_(self.embed.weight, std=INIT_STD)
        self.blocks = nn.ModuleList(Block(cfg, b) for b in range(m["n_blocks"]))
        gate = self.streams and res["head_merge"] == "gate"
        self.head_merge = HeadMergeGate(m["d_model"], self.n_streams, res) if gate else None
        self.final_norm = nn.RMSNorm(m["d_model"], eps=NORM_EPS)
        self.lm_head = nn.Linear(m["d_model"], m["vocab_size"], bias=False)
        if m["tie_embeddings"]:
            self.lm_head.weight = self.embed.weight
        else:
            nn.init.normal_(self.lm_head.weight, std=INIT_STD)

    def forward(self, idx):
        h = self.embed(idx)
        x = h.unsqueeze(2).expand(-1, -1, self.n_streams, -1) if self.streams else h  # x_0 = (h, ..., h)
        for block in self.blocks:
            x = block(x)
        if self.streams:
            x = self.head_merge(x) if self.head_merge is not None else x.sum(dim=2)
        return self.lm_head(self.final_norm(x))

    def loss(self, rows, reduction="mean"):
        """Cross-entropy of rows (B, T + 1): inputs rows[:, :T], targets rows[:, 1:]."""
        logits = self(rows[:, :-1])
        return F.cross_entropy(logits.flatten(0, 1), rows[:, 1:].flatten(), reduction=reduction)


# mhc-train's parameter names are the PyTorch ones except for the nn.Linear weights of the blocks ("blocks.0.attn.wq"
# for "blocks.0.attn.wq.weight").
LINEAR_WEIGHT = re.compile(r"^(blocks\.\d+\.(attn\.w[qkvo]|mlp\.w_(gate|up|down)))\.weight$")
DECAYED_LEAVES = {"wq", "wk", "wv", "wo", "w_gate", "w_up", "w_down", "phi", "w"}


def mhc_name(torch_name):
    return LINEAR_WEIGHT.sub(r"\1", torch_name)


def named_parameters(model):
    """(mhc-train name, parameter) of every parameter once (a tied LM head is embed.weight)."""
    return [(mhc_name(name), p) for name, p in model.named_parameters()]


def decays(name):
    """Whether AdamW decays the parameter (ParamSpec::weight_decay, lib/model/param_specs.cpp): the embedding, the
    LM head, the matrices of attention and MLP, mHC phi and HC w; not norms, alphas, biases or HC's s, am, ar, bb."""
    return name in ("embed.weight", "lm_head.weight") or name.rsplit(".", 1)[-1] in DECAYED_LEAVES


def parameter_count(model):
    return sum(p.numel() for _, p in named_parameters(model))


def make_optimizer(model, train):
    params = named_parameters(model)
    groups = [{"params": [p for name, p in params if decays(name)], "weight_decay": train["weight_decay"]},
              {"params": [p for name, p in params if not decays(name)], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=train["lr"], betas=(train["beta1"], train["beta2"]), eps=train["eps"])


# ---- benchmark ---------------------------------------------------------------------------------------------------

def cpu_model():
    """The CPU's model name from /proc/cpuinfo, else lscpu, else "unknown"."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except OSError:
        return "unknown"
    found = re.search(r"^Model name:\s*(.+)$", out, re.MULTILINE)
    return found.group(1).strip() if found else "unknown"


def upper_median(values):
    """v[len / 2] of the sorted values: the median as `mhc-train bench step` takes it."""
    return sorted(values)[len(values) // 2]


def run_benchmark(cfg, args):
    m, t, res = cfg["model"], cfg["train"], cfg["residual"]
    torch.manual_seed(t["seed"])
    model = Transformer(cfg)
    optimizer = make_optimizer(model, t)
    loss_of = torch.compile(model.loss) if args.compile else model.loss
    shape = (t["micro_batches"], t["micro_batch"], m["seq_len"] + 1)
    generator = torch.Generator().manual_seed(t["seed"])
    step_s, cpu_s, losses = [], [], []
    for step in range(args.steps + 1):  # step 0 is the warm-up
        rows = torch.randint(0, m["vocab_size"], shape, generator=generator)
        t0, c0 = time.perf_counter(), time.process_time()
        optimizer.zero_grad(set_to_none=True)
        loss = 0.0
        for micro in rows:
            micro_loss = loss_of(micro) / t["micro_batches"]
            micro_loss.backward()
            loss += micro_loss.item()
        if t["grad_clip"] > 0:
            nn.utils.clip_grad_norm_(model.parameters(), t["grad_clip"])
        optimizer.step()
        if step > 0:
            step_s.append(time.perf_counter() - t0)
            cpu_s.append(time.process_time() - c0)
        losses.append(loss)
    tokens = t["micro_batch"] * t["micro_batches"] * m["seq_len"]
    median_s = upper_median(step_s)
    return {"config": args.config or "default", "tool": "pytorch", "torch": torch.__version__, "device": "cpu",
            "cpu": cpu_model(), "threads": torch.get_num_threads(), "compile": args.compile,
            "residual": res["type"], "n_streams": res["n_streams"], "d_model": m["d_model"],
            "n_blocks": m["n_blocks"], "n_heads": m["n_heads"], "ffn_hidden": m["ffn_hidden"],
            "seq_len": m["seq_len"], "micro_batch": t["micro_batch"], "micro_batches": t["micro_batches"],
            "parameters": parameter_count(model), "tokens_per_step": tokens, "steps_timed": args.steps,
            "step_ms_median": median_s * 1e3, "step_cpu_ms_median": upper_median(cpu_s) * 1e3,
            "tok_s": tokens / median_s, "loss_first": losses[0], "loss_last": losses[-1]}


# ---- checkpoint check --------------------------------------------------------------------------------------------

def read_safetensors(path):
    """{name: numpy array} of a safetensors file: 8-byte little-endian header length, JSON header, raw data."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ConfigError(f"{path}: not a safetensors file (shorter than 8 bytes)")
    (length,) = struct.unpack("<Q", data[:8])
    if 8 + length > len(data):
        raise ConfigError(f"{path}: header length {length} runs beyond the file")
    header = json.loads(data[8:8 + length])
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if entry["dtype"] not in SAFETENSORS_DTYPES:
            raise ConfigError(f"{path}: tensor {name} has dtype {entry['dtype']}, not F32 or F64")
        dtype = np.dtype(SAFETENSORS_DTYPES[entry["dtype"]])
        begin, end = entry["data_offsets"]
        count = int(np.prod(entry["shape"], dtype=np.int64))
        if end - begin != count * dtype.itemsize or 8 + length + end > len(data):
            raise ConfigError(f"{path}: tensor {name}: data offsets {begin}..{end} do not fit shape {entry['shape']}")
        tensors[name] = np.frombuffer(data, dtype=dtype, count=count, offset=8 + length + begin).reshape(entry["shape"])
    return tensors


def checkpoint_dir(path):
    """The checkpoint directory of a model.safetensors file, a checkpoint directory or a run directory (its newest
    checkpoint, as mhc-train eval takes it)."""
    if os.path.isfile(path):
        return os.path.dirname(os.path.abspath(path))
    if os.path.isfile(os.path.join(path, "model.safetensors")):
        return os.path.abspath(path)
    steps = sorted(d for d in os.listdir(os.path.join(path, "checkpoints")) if re.fullmatch(r"step_\d{8,}", d))
    if not steps:
        raise ConfigError(f"{path}: no checkpoints/step_XXXXXXXX directory")
    return os.path.abspath(os.path.join(path, "checkpoints", max(steps, key=lambda d: int(d[5:]))))


def load_weights(model, tensors, source):
    """Copies every parameter from `tensors` (mhc-train names); the two name sets and shapes must be equal."""
    params = dict(named_parameters(model))
    if set(params) != set(tensors):
        raise ConfigError(f"{source}: tensors only in the file: {sorted(set(tensors) - set(params))}; "
                          f"only in the PyTorch model: {sorted(set(params) - set(tensors))}")
    with torch.no_grad():
        for name, p in params.items():
            if tuple(tensors[name].shape) != tuple(p.shape):
                raise ConfigError(f"{source}: {name} has shape {tensors[name].shape}, the model {tuple(p.shape)}")
            p.copy_(torch.from_numpy(tensors[name].astype(np.float32)))


def write_check_tokens(path, cfg, count, seed):
    """`count` random tokens (numpy array) in the file format mhc-train eval --file reads for cfg: an llm.c shard
    (uint16) for data.source "tokens", else raw bytes."""
    vocab = cfg["model"]["vocab_size"]
    tokens_source = cfg["data"]["source"] == "tokens"
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, vocab if tokens_source else min(vocab, 256), size=count)
    with open(path, "wb") as f:
        if tokens_source:
            header = np.zeros(256, dtype="<i4")
            header[:3] = (TOKEN_FILE_MAGIC, TOKEN_FILE_VERSION, count)
            f.write(header.tobytes() + tokens.astype("<u2").tobytes())
        else:
            f.write(tokens.astype(np.uint8).tobytes())
    return tokens


def mhc_train_eval(binary, ck_dir, token_file, sets):
    cmd = [binary, "eval", "--checkpoint", ck_dir, "--full", "--file", token_file]
    for item in sets:
        cmd += ["--set", item]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise ConfigError(f"{' '.join(cmd)} failed (exit {r.returncode}): {r.stderr.strip()[-2000:]}")
    return json.loads(r.stdout)


def torch_window_loss(model, tokens, seq_len, batch):
    """Mean token loss over the non-overlapping windows of seq_len + 1 tokens (train/full_eval.cpp), `batch` windows
    per forward, the per-token losses summed in double."""
    windows = (len(tokens) - 1) // seq_len
    rows = torch.stack([torch.from_numpy(tokens[w * seq_len:w * seq_len + seq_len + 1].astype(np.int64))
                        for w in range(windows)])
    total = 0.0
    with torch.no_grad():
        for first in range(0, windows, batch):
            total += model.loss(rows[first:first + batch], reduction="none").double().sum().item()
    return total / (windows * seq_len)


def run_check(args):
    ck_dir = checkpoint_dir(args.check_checkpoint)
    state_file = os.path.join(ck_dir, "state.json")
    with open(state_file, encoding="utf-8") as f:
        cfg = resolve_config(json.load(f)["config"], args.set, state_file)  # what mhc-train eval uses too
    m, t = cfg["model"], cfg["train"]
    model = Transformer(cfg)
    model_file = os.path.join(ck_dir, "model.safetensors")
    load_weights(model, read_safetensors(model_file), model_file)
    with tempfile.TemporaryDirectory(prefix="bench-torch-check-") as tmp:
        token_file = os.path.join(tmp, "tokens.bin")
        tokens = write_check_tokens(token_file, cfg, t["micro_batch"] * m["seq_len"] + 1, args.check_seed)
        reference = mhc_train_eval(args.mhc_train, ck_dir, token_file, args.set)
    torch_loss = torch_window_loss(model, tokens, m["seq_len"], t["micro_batch"])
    diff = abs(torch_loss - reference["loss"])
    return {"checkpoint": ck_dir, "step": reference["step"], "residual": cfg["residual"]["type"],
            "n_streams": cfg["residual"]["n_streams"], "d_model": m["d_model"], "parameters": parameter_count(model),
            "windows": reference["windows"], "tokens": reference["tokens"], "mhc_train_loss": reference["loss"],
            "torch_loss": torch_loss, "abs_diff": diff, "tolerance": args.tolerance, "ok": diff <= args.tolerance,
            "torch": torch.__version__}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("--config", help="mhc-train JSON config (default: the embedded tiny mHC config; "
                                         "--check-checkpoint reads the checkpoint's own)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set model.n_blocks=6 (repeatable)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps after one warm-up (the median is reported)")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: PyTorch's own choice)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model's forward and loss")
    parser.add_argument("--check-checkpoint", metavar="DIR_OR_FILE",
                        help="compare the loss of this mhc-train checkpoint (run or checkpoint directory, or its "
                             "model.safetensors) with mhc-train eval's instead of benchmarking")
    parser.add_argument("--mhc-train", default=DEFAULT_MHC_TRAIN, help="the mhc-train binary for --check-checkpoint")
    parser.add_argument("--tolerance", type=float, default=1e-5,
                        help="largest accepted |loss difference| of --check-checkpoint (f32 round-off: ~1e-8 on "
                             "the tiny configs)")
    parser.add_argument("--check-seed", type=int, default=1, help="seed of the random tokens of --check-checkpoint")
    args = parser.parse_args()
    if args.steps < 1:
        parser.error("--steps must be >= 1")
    if args.check_checkpoint and args.config:
        parser.error("--check-checkpoint evaluates the checkpoint with its own config (state.json); drop --config")
    if MISSING_MODULE:
        sys.exit(f"bench_torch.py: needs torch and numpy; {sys.executable} cannot import {MISSING_MODULE}. "
                 f"Install them (pip install torch numpy) or run the script with a python3 that has them.")
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        if args.check_checkpoint:
            out = run_check(args)
        else:
            out = run_benchmark(load_config_file(args.config, args.set) if args.config
                                else resolve_config({}, args.set, "the embedded default config"), args)
    except (ConfigError, OSError, json.JSONDecodeError) as e:
        sys.exit(f"bench_torch.py: {e}")
    print(json.dumps(out, indent=2))
    if not out.get("ok", True):
        sys.exit(1)


if __name__ == "__main__":
    main()
