"""The benchmark chart: one PNG from a bench result JSON, with matplotlib.

    bench/.venv/bin/python bench/plot.py bench/results/<stamp>-full.json bench/results/latest.png

bench.ts calls it at the end of a run (and creates bench/.venv with matplotlib on first use).
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

COLORS = {"direct": "#9e9e9e", "nginx": "#4caf50", "per-chunk": "#e53935", "poll": "#fb8c00", "push": "#1e88e5"}


def num(v):
    return v if isinstance(v, (int, float)) else float("nan")


def bars(ax, labels, series, title, ylabel, log=False):
    n = len(series)
    width = 0.8 / max(1, n)
    for i, (name, values, hatch) in enumerate(series):
        xs = [j + (i - (n - 1) / 2) * width for j in range(len(labels))]
        colors = [COLORS.get(l, "#607d8b") for l in labels]
        b = ax.bar(xs, [num(v) for v in values], width, label=name, color=colors, hatch=hatch, edgecolor="black", linewidth=0.4)
        for rect, v in zip(b, values):
            if isinstance(v, (int, float)):
                ax.annotate(f"{v:.3g}", (rect.get_x() + rect.get_width() / 2, rect.get_height()), ha="center", va="bottom", fontsize=6)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=8)
    if log:
        ax.set_yscale("log")
    if n > 1:
        handles = [Patch(facecolor="white", edgecolor="black", hatch=h, label=name) for name, _, h in series]
        ax.legend(handles=handles, fontsize=7)
    ax.tick_params(axis="y", labelsize=7)
    ax.grid(axis="y", alpha=0.3)


def main(src, dst):
    r = json.load(open(src))
    s = r["summary"]
    p = r["params"]
    names = list(s["load"].keys())
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))

    load = s["load"]
    bars(axes[0][0], names, [
        ("p50", [load[n]["delay_ms"]["p50"] for n in names], ""),
        ("p99", [load[n]["delay_ms"]["p99"] for n in names], "//"),
    ], f"Per-event delay at {p['streams']} streams x {p['rate']} chunks/s", "ms (log)", log=True)

    relays = [n for n in names if n != "direct"]
    bars(axes[0][1], relays, [("CPU", [load[n]["relay_cpu_ms_per_1k_chunks"] for n in relays], "")],
         "Relay CPU per 1,000 chunks (all relay processes)", "CPU ms")

    stop = s["stop"]
    modes = [n for n in names if stop.get(n, {}).get("cancels", 0) > 0]
    bars(axes[0][2], modes, [
        ("p50", [stop[n]["client_cancel_to_stop_ms"]["p50"] for n in modes], ""),
        ("p99", [stop[n]["client_cancel_to_stop_ms"]["p99"] for n in modes], "//"),
    ], "Cross-replica cancel-to-stop at load (client side)", "ms (log)", log=True)

    cost = s.get("cost", {})
    cmodes = list(cost.keys())
    chunk_keys = list(cost[cmodes[0]].keys()) if cmodes else []
    bars(axes[1][0], cmodes, [
        (f"{k} chunks", [cost[m][k]["round_trips_per_stream"] for m in cmodes], "" if i == 0 else "//")
        for i, k in enumerate(chunk_keys)
    ], "Redis commands sent per stream", "commands (log)", log=True)

    seed = s["seed"]
    bars(axes[1][1], relays, [
        (f"{p['seedChunks']} chunks", [seed[n]["seed"]["added_ms_median"] for n in relays], ""),
        (f"{p['longChunks']} chunks", [seed[n]["long"]["added_ms_median"] for n in relays], "//"),
    ], "End-to-end time added per answer vs direct", "ms")

    h = s.get("hung", {}).get("push")
    ax = axes[1][2]
    if h:
        labels = ["healthy", "hung"]
        vals50 = [h["healthy_ms"]["p50_median"], h["hung_ms"]["p50_median"]]
        vals99 = [h["healthy_ms"]["p99_median"], h["hung_ms"]["p99_median"]]
        x = [0, 1]
        b1 = ax.bar([i - 0.2 for i in x], vals50, 0.4, label="p50", color=COLORS["push"], edgecolor="black", linewidth=0.4)
        b2 = ax.bar([i + 0.2 for i in x], vals99, 0.4, label="p99", color=COLORS["push"], hatch="//", edgecolor="black", linewidth=0.4)
        for b, vals in ((b1, vals50), (b2, vals99)):
            for rect, v in zip(b, vals):
                ax.annotate(f"{v:.3g}", (rect.get_x() + rect.get_width() / 2, rect.get_height()), ha="center", va="bottom", fontsize=6)
        ax.set_xticks(x)
        ax.set_xticklabels(["Redis healthy", "Redis hung (SIGSTOP)"], fontsize=8)
        ax.legend(handles=[Patch(facecolor="white", edgecolor="black", label="p50"), Patch(facecolor="white", edgecolor="black", hatch="//", label="p99")], fontsize=7)
        ax.grid(axis="y", alpha=0.3)
    ax.set_title("push: per-event delay, Redis healthy vs hung", fontsize=9)
    ax.set_ylabel("ms", fontsize=8)
    ax.tick_params(axis="y", labelsize=7)

    m = r["machine"]
    la = m.get("loadavg_at_start", [])
    fig.suptitle(f"stopline benchmark ({r['mode']}, {r['started_at'][:10]}, {p['rounds']} interleaved rounds)", fontsize=11)
    fig.text(0.5, 0.005,
             f"{m['cores']} cores, {m['cpu_model']}; Node {m['node']}; Redis {m.get('redis')}; nginx {m.get('nginx')}; "
             f"load average at start {' / '.join(str(x) for x in la)}",
             ha="center", fontsize=7, color="#444")
    fig.tight_layout(rect=(0, 0.02, 1, 0.96))
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
