"""The statistics of scripts/compare.py: Student t quantiles and tail probabilities (scipy.stats when installed, else a
regularized incomplete beta), t-based 95 % confidence intervals of a mean, Welch's two-sample t-test with the
confidence interval of the difference, an EMA smoother and interpolation of a curve at a budget."""
import math

CONFIDENCE = 0.95


# ---- Student's t without scipy ------------------------------------------------------------------------------------

def _betacf(a, b, x):
    """Continued fraction of the regularized incomplete beta (modified Lentz; Numerical Recipes 6.4)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 1000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def betainc(a, b, x):
    """Regularized incomplete beta I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def t_sf_fallback(t, df):
    """P(T > t) for Student's t with df degrees of freedom."""
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return tail if t >= 0 else 1.0 - tail


def t_ppf_fallback(q, df):
    """The q-quantile of Student's t (0.5 < q < 1), by bisection of t_sf_fallback."""
    lo, hi = 0.0, 1.0
    while t_sf_fallback(hi, df) > 1.0 - q:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if t_sf_fallback(mid, df) > 1.0 - q else (lo, mid)
    return 0.5 * (lo + hi)


def t_sf(t, df):
    try:
        from scipy import stats
    except ImportError:
        return t_sf_fallback(t, df)
    return float(stats.t.sf(t, df))


def t_ppf(q, df):
    try:
        from scipy import stats
    except ImportError:
        return t_ppf_fallback(q, df)
    return float(stats.t.ppf(q, df))


# ---- intervals and tests ------------------------------------------------------------------------------------------

def _mean_var(values):
    n = len(values)
    mean = sum(values) / n
    return mean, sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else float("nan")


def mean_ci(values):
    """(n, mean, half-width of the t-based 95 % CI); the half-width is None for fewer than 2 values."""
    values = [float(v) for v in values]
    if not values:
        return 0, None, None
    mean, var = _mean_var(values)
    n = len(values)
    if n < 2:
        return n, mean, None
    return n, mean, t_ppf(0.5 + CONFIDENCE / 2, n - 1) * math.sqrt(var / n)


def welch(a, b):
    """Welch's two-sample t-test of mean(a) - mean(b): a dict with diff, half (95 % CI half-width), t, df and the
    two-sided p; None when either sample has fewer than 2 values. t, df, half and p are NaN when both variances are 0."""
    if len(a) < 2 or len(b) < 2:
        return None
    (ma, va), (mb, vb) = _mean_var([float(v) for v in a]), _mean_var([float(v) for v in b])
    sa, sb = va / len(a), vb / len(b)
    diff = ma - mb
    if sa + sb == 0.0:
        return {"diff": diff, "half": float("nan"), "t": float("nan"), "df": float("nan"), "p": float("nan")}
    se = math.sqrt(sa + sb)
    df = (sa + sb) ** 2 / (sa ** 2 / (len(a) - 1) + sb ** 2 / (len(b) - 1))
    t = diff / se
    return {"diff": diff, "half": t_ppf(0.5 + CONFIDENCE / 2, df) * se, "t": t, "df": df,
            "p": min(1.0, 2.0 * t_sf(abs(t), df))}


# ---- curves -------------------------------------------------------------------------------------------------------

def ema(values, weight):
    """Exponential moving average with weight `weight` on the past, bias-corrected (TensorBoard's smoothing): the
    first output is the first value."""
    out, acc, norm = [], 0.0, 0.0
    for v in values:
        acc = weight * acc + (1.0 - weight) * v
        norm = weight * norm + (1.0 - weight)
        out.append(acc / norm)
    return out


def interpolate_at(xs, ys, x):
    """y at x by linear interpolation between the points (xs increasing); None outside [xs[0], xs[-1]]."""
    if not xs or x < xs[0] or x > xs[-1]:
        return None
    for i in range(1, len(xs)):
        if x <= xs[i]:
            x0, x1 = xs[i - 1], xs[i]
            return ys[i] if x1 == x0 else ys[i - 1] + (ys[i] - ys[i - 1]) * (x - x0) / (x1 - x0)
    return ys[0]
