"""What a run costs, for scripts/compare.py: the parameter counts `mhc-train plan` prints (read from its text, which
has no machine-readable form) and the training FLOPs per token of a resolved config (a formula, FLOPS_FORMULA)."""
import re
import subprocess

FLOPS_FORMULA = ("FLOPs per token = 6 x (multiply-accumulates per token of the matrix products: attention 4C^2 and "
                 "MLP 3CF per block, LM head VC, mHC phi nC(n^2+2n) or HC w nC(n+2) per residual layer, the gate "
                 "phi nCn) + 6 L C T (L blocks, context T; causal attention scores and weighted sums, half the T x T "
                 "square, as `bench step` counts) + 6 x 2L x (n^2+2n) C (mixing the n streams: H_res, H_pre, H_post; hc and "
                 "mhc); elementwise ops (norms, activations, Sinkhorn) not counted; forward + backward = 3 x forward")


class PlanError(Exception):
    pass


def plan_parameters(binary, config_path):
    """{component: count, ..., "total": count} from `BINARY plan --config CONFIG_PATH`."""
    try:
        r = subprocess.run([binary, "plan", "--config", config_path], capture_output=True, text=True, timeout=120)
    except OSError as e:
        raise PlanError(f"cannot run {binary}: {e.strerror}") from None
    if r.returncode != 0:
        raise PlanError(f"{binary} plan --config {config_path} failed (exit {r.returncode}): {r.stderr.strip()}")
    return parse_plan_parameters(r.stdout)


def parse_plan_parameters(text):
    """The "parameters by component:" section of plan's output as a dict (its "total" line included)."""
    lines = text.splitlines()
    try:
        start = lines.index("parameters by component:") + 1
    except ValueError:
        raise PlanError("no 'parameters by component:' in the output of plan") from None
    counts = {}
    for line in lines[start:]:
        m = re.match(r"\s+(\w+)\s+(\d+)\s", line + " ")
        if not m:
            break
        counts[m.group(1)] = int(m.group(2))
    if "total" not in counts or sum(v for k, v in counts.items() if k != "total") != counts["total"]:
        raise PlanError("plan's parameter table has no total, or its components do not add up to it")
    return counts


def non_embedding(counts):
    """Parameters outside the vocabulary matrices (token embedding and an untied LM head)."""
    return counts["total"] - counts.get("embedding", 0) - counts.get("head", 0)


def flops_per_token(config):
    """Training FLOPs per token of a resolved config (FLOPS_FORMULA)."""
    model, residual = config["model"], config["residual"]
    C, F, L_blocks, T, V = (model["d_model"], model["ffn_hidden"], model["n_blocks"], model["seq_len"],
                            model["vocab_size"])
    kind, n = residual["type"], residual.get("n_streams", 1)
    layers = 2 * L_blocks  # residual layers: attention and MLP of every block
    macs = L_blocks * (4 * C * C + 3 * C * F) + V * C
    if kind == "mhc":
        macs += layers * n * C * (n * n + 2 * n)
    elif kind == "hc":
        macs += layers * n * C * (n + 2)
    if kind != "residual":
        macs += layers * (n * n + 2 * n) * C
        if residual.get("head_merge") == "gate":
            macs += n * C * n
    return 6.0 * macs + 6.0 * L_blocks * C * T
