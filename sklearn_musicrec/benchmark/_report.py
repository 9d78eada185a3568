"""The report of a benchmark run: terminal table, Markdown, HTML, JSON, CSV, plots.

The report is built once as a list of blocks (headings, paragraphs, tables,
figures, lists) and rendered twice: ``report.md`` (figures linked as PNG
files beside it) and ``report.html`` (self-contained: inline style, figures
embedded as base64 ``data:`` URIs, readable offline).
"""

import base64
import csv
import html
import io
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["format_table", "write_report"]

_SAMPLED_CAVEAT = (
    "All metrics rank the full catalogue (every item the user has not played in the "
    "training part is a candidate). Many papers instead rank each held-out item against "
    "a sample of 100 or so random items; such sampled metrics are inconsistent with the "
    "full ranking and can even reverse the order of two models (Krichene & Rendle, "
    "KDD 2020), so figures here are not comparable with sampled figures from papers."
)


def _fmt(x, digits=4):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.{digits}f}"


def _pm(fig, digits=4):
    if fig.get("sem") is None or math.isnan(fig["sem"]):
        return _fmt(fig["mean"], digits)
    return f"{fig['mean']:.{digits}f} ± {fig['sem']:.{digits}f}"


def _nan_low(x):
    return -np.inf if x is None or math.isnan(x) else x


def _p(p):
    if p is None or math.isnan(p):
        return "-"
    return "<1e-4" if p < 1e-4 else f"{p:.4f}"


def _ordered(results):
    primary = results["settings"]["primary_metric"]
    return sorted(
        results["models"], key=lambda m: -np.nan_to_num(m["metrics"][primary]["mean"], nan=-np.inf)
    )


def _stats_for(results, metric):
    for block in results["statistics"]:
        if block["metric"] == metric:
            return block
    return None


def format_table(results):
    """The terminal table: primary metrics ± standard error, times, memory, p-values."""
    s = results["settings"]
    k = s["primary_metric"].split("@")[1]
    stats = _stats_for(results, s["primary_metric"])
    by_model = {c["model"]: c for c in stats["comparisons"]} if stats else {}
    header = [
        "model",
        f"NDCG@{k}",
        f"Recall@{k}",
        f"Cov@{k}",
        f"LongTail@{k}",
        "fit s",
        "rec s",
        "peak MiB",
        "p (Holm)",
    ]
    rows = []
    for m in _ordered(results):
        fig = m["metrics"]
        t = m["timing"]
        if stats and m["name"] == stats["best"]:
            p = "best"
        else:
            p = _p(by_model.get(m["name"], {}).get("p_holm"))
        rows.append(
            [
                m["name"],
                _pm(fig[f"ndcg@{k}"]),
                _pm(fig[f"recall@{k}"]),
                _fmt(fig[f"coverage@{k}"]["mean"], 3),
                _fmt(fig[f"long_tail@{k}"]["mean"], 3),
                _fmt(t["fit_time_s"], 2),
                _fmt(t["recommend_time_s"], 2),
                _fmt(t["peak_memory_mib"], 0),
                p,
            ]
        )
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths))
        )
    ]
    lines.append("-" * len(lines[0]))
    for r in rows:
        lines.append(
            "  ".join(
                str(c).ljust(w) if i == 0 else str(c).rjust(w)
                for i, (c, w) in enumerate(zip(r, widths))
            )
        )
    lines.append(
        "mean ± standard error over users; fit/rec s: mean wall-clock seconds per fold; "
        "peak MiB: RSS growth during fit + recommend; p: paired t-test against the best "
        f"NDCG@{k}, Holm-corrected."
        + (" With --tune, fit s includes the grid search." if s["tune"] else "")
    )
    return "\n".join(lines)


# -- plots ------------------------------------------------------------------------------
def _plots(results, per_user_rows, out):
    """Write the PNG plots; return ``[(file, caption)]`` (or None without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    s = results["settings"]
    primary = s["primary_metric"]
    k = primary.split("@")[1]
    models = _ordered(results)
    names = [m["name"] for m in models]
    colors = {n: plt.get_cmap("tab20")(i % 20) for i, n in enumerate(names)}
    acc = [m["metrics"][primary]["mean"] for m in models]
    written = []

    def save(fig, name, caption):
        fig.tight_layout()
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        written.append((name, caption))

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for m, a in zip(models, acc):
        t = max(m["timing"]["fit_time_s"], 1e-3)
        ax.scatter(t, a, color=colors[m["name"]], s=40)
        ax.annotate(m["name"], (t, a), fontsize=8, xytext=(4, 2), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("fit time per fold (s, log scale)")
    ax.set_ylabel(f"NDCG@{k}")
    ax.set_title("Accuracy against fit time (up and left is better)")
    ax.grid(alpha=0.3)
    save(fig, "accuracy_vs_fit_time.png", f"NDCG@{k} against fit time per fold.")

    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), sharey=True)
    for ax, (metric, label) in zip(
        axes,
        [
            (f"coverage@{k}", f"catalogue coverage@{k}"),
            (f"long_tail@{k}", f"long-tail share@{k}"),
            (f"novelty@{k}", f"novelty@{k} (bits)"),
        ],
    ):
        for m, a in zip(models, acc):
            x = m["metrics"][metric]["mean"]
            ax.scatter(x, a, color=colors[m["name"]], s=36)
            ax.annotate(m["name"], (x, a), fontsize=7, xytext=(3, 2), textcoords="offset points")
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"NDCG@{k}")
    fig.suptitle("Accuracy against beyond-accuracy figures (up and right is better)")
    save(
        fig,
        "accuracy_vs_beyond.png",
        f"NDCG@{k} against catalogue coverage, long-tail share and novelty of the lists.",
    )

    # popularity bias: users binned by the popularity of their histories
    hist = {}
    recs = {}
    for row in per_user_rows:
        hist.setdefault(row["model"], []).append(row["history_popularity"])
        recs.setdefault(row["model"], []).append(row[f"popularity@{k}"])
    fig, ax = plt.subplots(figsize=(9, 4.8))
    first = np.asarray(hist[names[0]])
    edges = np.unique(np.quantile(first[~np.isnan(first)], np.linspace(0, 1, 11)))
    lo = hi = None
    for n in names:
        h = np.asarray(hist[n])
        r = np.asarray(recs[n])
        bins = np.clip(np.searchsorted(edges, h, side="right") - 1, 0, max(len(edges) - 2, 0))
        xs, ys = [], []
        for b in range(max(len(edges) - 1, 1)):
            sel = (bins == b) & ~np.isnan(r) & ~np.isnan(h)
            if sel.any():
                xs.append(h[sel].mean())
                ys.append(r[sel].mean())
        ax.plot(xs, ys, marker="o", ms=3, color=colors[n], label=n)
        if xs:
            lo = min(min(xs), min(ys), lo if lo is not None else np.inf)
            hi = max(max(xs), max(ys), hi if hi is not None else -np.inf)
    if lo is not None:
        ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="recommended = history")
    ax.set_xlabel("mean popularity of the user's history (training users per item)")
    ax.set_ylabel(f"mean popularity of the top-{k} list")
    ax.set_title("Popularity bias: above the dashed line, lists are more popular than tastes")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax.grid(alpha=0.3)
    save(
        fig,
        "popularity_bias.png",
        "Users in ten bins of the popularity of their history: the mean popularity of "
        "their recommendations against that of their history, per model.",
    )

    fig, ax = plt.subplots(figsize=(7, 0.35 * len(models) + 1.5))
    ys = np.arange(len(models))[::-1]
    means = [m["metrics"][primary]["mean"] for m in models]
    errs = [1.96 * np.nan_to_num(m["metrics"][primary]["sem"]) for m in models]
    ax.barh(ys, means, xerr=errs, color=[colors[n] for n in names], capsize=3)
    ax.set_yticks(ys, names, fontsize=8)
    ax.set_xlabel(f"NDCG@{k} (error bars: 95% interval, 1.96 standard errors over users)")
    ax.set_title(f"NDCG@{k} per model")
    ax.grid(alpha=0.3, axis="x")
    save(fig, "ndcg.png", f"NDCG@{k} per model with 95% error bars.")
    return written


# -- the report as blocks ---------------------------------------------------------------
def _blocks(results, plots):
    s = results["settings"]
    d = results["dataset"]
    ks = s["k"]
    primary = s["primary_metric"]
    models = _ordered(results)
    out = [("h1", "Which recommender for this data? Benchmark report")]
    out.append(("p", f"Command: `{results['command']}`" if results["command"] else ""))
    out.append(
        (
            "p",
            (
                f"Dataset **{d['name']}**: {d['n_users']} users × {d['n_items']} items, "
                f"{d['n_interactions']} interactions (density {d['density']:.4%}). "
                f"{d['description']}."
            ),
        )
    )
    out.append(
        (
            "p",
            (
                f"Protocol **{s['protocol']}**: {s['protocol_description']}"
                + (f"; {s['n_splits']} folds" if s["protocol"] == "new-users" else "")
                + f". Ranking: {s['ranking']}. Cut-offs k = {', '.join(map(str, ks))}; "
                f"seed {s['seed']}."
                + (
                    f" Tuning: {s['tuning']}."
                    if s["tune"]
                    else " Models at their default settings "
                    "(use --tune for a small grid search on the training users)."
                )
            ),
        )
    )
    best = _stats_for(results, primary)
    if best:
        sig = [c["model"] for c in best["comparisons"] if not c["significant"]]
        tie = (
            f" Not significantly different from it (Holm-corrected paired t-test, "
            f"α = 0.05): {', '.join(sig)}."
            if sig
            else " Every other model is significantly worse (Holm-corrected paired t-test, "
            "α = 0.05)."
        )
        out.append(("p", f"**Best by {primary}: {best['best']}**.{tie}"))

    out.append(("h2", "Accuracy"))
    for kk in ks:
        header = ["model", f"NDCG@{kk}", f"Recall@{kk}", f"Precision@{kk}", f"MRR@{kk}"]
        rows = [
            [
                m["name"],
                *(_pm(m["metrics"][f"{x}@{kk}"]) for x in ("ndcg", "recall", "precision", "mrr")),
            ]
            for m in models
        ]
        out.append(("table", header, rows))
    out.append(
        (
            "p",
            "Mean ± standard error over the evaluated users (all folds pooled; "
            "each user is a test user once under new-users).",
        )
    )

    out.append(("h2", "Beyond accuracy, time and memory"))
    kk = int(primary.split("@")[1])
    header = [
        "model",
        f"coverage@{kk}",
        f"Gini@{kk}",
        f"novelty@{kk}",
        f"long-tail@{kk}",
        f"ARP@{kk} (users)",
        "fit s",
        "recommend s",
        "peak MiB",
    ]
    rows = []
    for m in models:
        f = m["metrics"]
        rows.append(
            [
                m["name"],
                _fmt(f[f"coverage@{kk}"]["mean"], 3),
                _fmt(f[f"gini@{kk}"]["mean"], 3),
                _pm(f[f"novelty@{kk}"], 3),
                _pm(f[f"long_tail@{kk}"], 3),
                _pm(f[f"popularity@{kk}"], 1),
                _fmt(m["timing"]["fit_time_s"], 2),
                _fmt(m["timing"]["recommend_time_s"], 2),
                _fmt(m["timing"]["peak_memory_mib"], 0),
            ]
        )
    out.append(("table", header, rows))
    out.append(
        (
            "p",
            (
                "Coverage: share of the catalogue in at least one list; Gini: concentration of "
                "the recommendations over items (0 even, 1 one item); novelty: mean "
                "self-information −log2(popularity) of the listed items; long-tail: share of "
                "listed items outside the most popular items that make up 80% of the training "
                "plays; ARP: average number of training users who played each listed item. "
                "Times are "
                "wall-clock seconds per fold (noisy on a shared machine"
                + ("; fit includes the grid search of --tune" if s["tune"] else "")
                + f"); peak memory is {s['peak_memory']}."
            ),
        )
    )

    out.append(("h2", "Statistics: each model against the best"))
    k_primary = primary.split("@")[1]
    for block in [b for b in results["statistics"] if b["metric"].endswith(f"@{k_primary}")]:
        header = [
            "model",
            "mean difference [95% CI]",
            "Cohen's d_z",
            "t",
            "p",
            "p (Holm)",
            "significant",
        ]
        rows = [
            [
                c["model"],
                f"{_fmt(c['mean_diff'])} [{_fmt(c['ci_low'])}, {_fmt(c['ci_high'])}]",
                _fmt(c["cohens_dz"], 3),
                _fmt(c["t"], 2),
                _p(c["p_value"]),
                _p(c["p_holm"]),
                "yes" if c["significant"] else "no",
            ]
            for c in sorted(block["comparisons"], key=lambda c: -_nan_low(c["mean_diff"]))
        ]
        out.append(("h3", f"{block['metric']} (best: {block['best']})"))
        out.append(("table", header, rows))
    out.append(
        (
            "p",
            (
                "Paired two-sided t-tests over users (scipy.stats.ttest_rel) between each model "
                "and "
                "the best one, on the users where both values are defined; p-values adjusted "
                "across the models by Holm's step-down method. Effect sizes: the mean paired "
                "difference (model − best) with its 95% t interval, and Cohen's d_z = mean "
                "difference / standard deviation of the differences (|d_z| ≈ 0.2 small, 0.5 "
                "medium, 0.8 large). With thousands of users tiny differences are significant: "
                "read the effect size too."
            ),
        )
    )
    out.append(("p", "**On sampled metrics.** " + _SAMPLED_CAVEAT))

    out.append(("h2", "Plots"))
    if plots is None:
        out.append(
            ("p", "Plots were skipped: matplotlib is not installed (pip install matplotlib).")
        )
    else:
        for name, caption in plots:
            out.append(("img", name, caption))

    tuned = [m for m in results["models"] if any("best_params" in f for f in m["folds"])]
    if tuned:
        out.append(("h2", "Tuning"))
        rows = []
        for m in tuned:
            grid = "; ".join(f"{p}: {', '.join(map(str, v))}" for p, v in m["tuning_grid"].items())
            chosen = " / ".join(
                ", ".join(f"{p}={v}" for p, v in f["best_params"].items()) for f in m["folds"]
            )
            rows.append([m["name"], grid, chosen, str(m["folds"][0]["n_users_searched"])])
        out.append(("table", ["model", "grid", "chosen per fold", "users searched (fold 1)"], rows))
        out.append(
            (
                "p",
                "Each fold's search (GridSearchCV, KFold(3) over users, the "
                "package's holdout scorer) saw only that fold's training users; the "
                "test users were never used to choose a setting.",
            )
        )

    extra = []
    for sk in results["skipped"]:
        extra.append(f"peer {sk['name']}: {sk['reason']}")
    extra.extend(results["notes"])
    if extra:
        out.append(("h2", "Notes"))
        out.append(("ul", extra))
    mach = results["machine"]
    versions = ", ".join(f"{n} {v}" for n, v in mach["packages"].items() if v)
    out.append(("h2", "Machine"))
    out.append(
        (
            "p",
            (
                f"{mach['cpu']}, {mach['cores_visible']} cores visible, "
                f"{mach['memory_gb']} GB memory, load average at start "
                f"{', '.join(map(str, mach['load_average_at_start']))}; Python {mach['python']}; "
                f"{versions}; commit {mach['git_commit']}. "
                f"Run took {results['elapsed_s']:.1f} s. Files: results.json (every "
                "figure, settings, versions), per_user.csv (one row per model × fold × user)."
            ),
        )
    )
    return out


def _md_cell(text):
    return str(text).replace("|", "\\|")


def _render_md(blocks):
    lines = []
    for b in blocks:
        kind = b[0]
        if kind in ("h1", "h2", "h3"):
            lines += ["#" * int(kind[1]) + " " + b[1], ""]
        elif kind == "p":
            if b[1]:
                lines += [b[1], ""]
        elif kind == "table":
            header, rows = b[1], b[2]
            lines.append("| " + " | ".join(map(_md_cell, header)) + " |")
            lines.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
            lines += ["| " + " | ".join(map(_md_cell, r)) + " |" for r in rows]
            lines.append("")
        elif kind == "img":
            lines += [f"![{b[2]}]({b[1]})", "", f"*{b[2]}*", ""]
        elif kind == "ul":
            lines += [f"- {item}" for item in b[1]] + [""]
    return "\n".join(lines).rstrip() + "\n"


def _inline(text):
    """Escape, then render **bold** and `code` spans."""
    parts = html.escape(text).split("`")
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"<code>{part}</code>")
        else:
            bits = part.split("**")
            out.append("".join(f"<strong>{x}</strong>" if j % 2 else x for j, x in enumerate(bits)))
    return "".join(out)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
table{border-collapse:collapse;margin:0.6em 0 1.2em;font-size:0.9em}
th,td{border:1px solid #ccc;padding:3px 8px}td:not(:first-child){text-align:right}
th{background:#f0f0f0}tr:nth-child(even) td{background:#fafafa}
img{max-width:100%;border:1px solid #ddd}figure{margin:1em 0}figcaption{color:#555}
code{background:#f4f4f4;padding:1px 4px}h1{font-size:1.6em}
"""


def _render_html(blocks, out):
    body = []
    for b in blocks:
        kind = b[0]
        if kind in ("h1", "h2", "h3"):
            body.append(f"<{kind}>{_inline(b[1])}</{kind}>")
        elif kind == "p":
            if b[1]:
                body.append(f"<p>{_inline(b[1])}</p>")
        elif kind == "table":
            head = "".join(f"<th>{html.escape(str(h))}</th>" for h in b[1])
            rows = "".join(
                "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>"
                for r in b[2]
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif kind == "img":
            data = base64.b64encode((out / b[1]).read_bytes()).decode("ascii")
            body.append(
                f'<figure><img alt="{html.escape(b[2])}" src="data:image/png;base64,{data}">'
                f"<figcaption>{html.escape(b[2])}</figcaption></figure>"
            )
        elif kind == "ul":
            body.append("<ul>" + "".join(f"<li>{_inline(x)}</li>" for x in b[1]) + "</ul>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>sklearn-musicrec benchmark report</title>"
        f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def _json_ready(obj):
    if isinstance(obj, dict):
        return {str(k): _json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_ready(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return None if math.isnan(v) or math.isinf(v) else v
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return _json_ready(obj.tolist())
    return obj


def _write_atomic(path, text):
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # mkstemp makes it private
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_report(results, per_user_rows, out):
    """Write every output file into ``out``; return ``(paths, plots_written)``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plots = _plots(results, per_user_rows, out)
    results["files"] = {
        "report_md": "report.md",
        "report_html": "report.html",
        "results_json": "results.json",
        "per_user_csv": "per_user.csv",
        "plots": [name for name, _ in plots] if plots is not None else [],
    }
    if plots is None:
        results["notes"] = [*results["notes"], "plots skipped: matplotlib is not installed"]
    results = _json_ready(results)
    blocks = _blocks(results, plots)
    buf = io.StringIO()
    if per_user_rows:
        writer = csv.DictWriter(buf, fieldnames=list(per_user_rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in per_user_rows:
            writer.writerow(
                {k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            )
    _write_atomic(out / "per_user.csv", buf.getvalue())
    _write_atomic(out / "results.json", json.dumps(results, indent=2, allow_nan=False) + "\n")
    _write_atomic(out / "report.md", _render_md(blocks))
    _write_atomic(out / "report.html", _render_html(blocks, out))
    return results, plots is not None
