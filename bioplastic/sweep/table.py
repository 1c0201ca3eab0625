"""Results across the points of a sweep: a tidy table (one row per point x seed x metric,
parquet and CSV), a summary (mean ± std over seeds) and plots: a line plot over one swept
key, a heatmap over two.

A study's ``metrics.json`` is flattened without knowing the study: every number is a metric
named by its dotted path, every list of numbers (a learning curve) gives one metric per
element, ``accuracy_mean[3]``. ``name[-1]`` selects a list's last element.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import yaml

MAX_LIST = 200          # longer lists (weights, predictions) are not metrics


def flatten_metrics(metrics, prefix: str = "") -> dict[str, float]:
    out = {}
    if isinstance(metrics, dict):
        for key, value in metrics.items():
            out.update(flatten_metrics(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(metrics, (int, float)) and not isinstance(metrics, bool):
        out[prefix] = float(metrics)
    elif isinstance(metrics, list) and 0 < len(metrics) <= MAX_LIST and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in metrics):
        out.update({f"{prefix}[{i}]": float(v) for i, v in enumerate(metrics)})
    return out


def rows(results: list[dict], keys: list[str]) -> list[dict]:
    """Tidy rows: point, task, seed, one column per swept key, metric, value."""
    out = []
    for result in sorted(results, key=lambda r: (r["point"], r["seed"])):
        base = {"point": result["point"], "task": result["task_id"], "seed": result["seed"],
                **{key: _cell(result["overrides"].get(key)) for key in keys}}
        for metric, value in result["metrics"].items():
            out.append({**base, "metric": metric, "value": value})
    return out


def _cell(value):
    """A swept value as a table cell: lists and maps (``data.classes=[0,1,2]``) as their YAML text."""
    if isinstance(value, (list, dict)):
        return yaml.safe_dump(value, default_flow_style=True).strip()
    return value


def _column_type(values):
    if all(isinstance(v, bool) for v in values if v is not None):
        return "bool"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values if v is not None):
        return "int"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values if v is not None):
        return "float"
    return "str"


def write(table: list[dict], keys: list[str], directory: Path) -> list[Path]:
    """``results.csv`` and, where pyarrow is installed, ``results.parquet``."""
    columns = ["point", "task", "seed", *keys, "metric", "value"]
    types = {key: _column_type([row[key] for row in table]) for key in keys}

    def cell(key, value):
        return str(value) if types.get(key) == "str" and value is not None else value
    written = []
    with open(directory / "results.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in table:
            writer.writerow({key: cell(key, row[key]) for key in columns})
    written.append(directory / "results.csv")
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return written
    data = {key: [cell(key, row[key]) for row in table] for key in columns}
    pq.write_table(pa.table(data), directory / "results.parquet")
    written.append(directory / "results.parquet")
    return written


def metric_values(table: list[dict], metric: str) -> dict[str, float]:
    """{task: value} of one metric; ``name[-1]`` is the last element of the list ``name``."""
    match = re.match(r"^(.*)\[-1\]$", metric)
    if not match:
        return {row["task"]: row["value"] for row in table if row["metric"] == metric}
    last = {}
    pattern = re.compile(re.escape(match[1]) + r"\[(\d+)\]$")
    for row in table:
        index = pattern.match(row["metric"])
        if index and int(index[1]) >= last.get(row["task"], (-1, None))[0]:
            last[row["task"]] = (int(index[1]), row["value"])
    return {task: value for task, (_, value) in last.items()}


def default_metric(table: list[dict]) -> str | None:
    names = {row["metric"] for row in table}
    if any(re.match(r"^accuracy_mean\[\d+\]$", name) for name in names):
        return "accuracy_mean[-1]"
    return min(names) if names else None


def by_point(table: list[dict], keys: list[str], metric: str) -> list[dict]:
    """One entry per point: its swept values, and the metric's mean, std and values over seeds."""
    values = metric_values(table, metric)
    points: dict[int, dict] = {}
    for row in table:
        if row["task"] in values:
            entry = points.setdefault(row["point"], {"point": row["point"], **{k: row[k] for k in keys}, "seeds": {}})
            entry["seeds"][row["seed"]] = values[row["task"]]
    for entry in points.values():
        seed_values = np.array(list(entry["seeds"].values()))
        entry.update(mean=float(seed_values.mean()), std=float(seed_values.std()), n=len(seed_values))
    return [points[p] for p in sorted(points)]


def summary_text(table: list[dict], keys: list[str], metric: str) -> str:
    points = by_point(table, keys, metric)
    if not points:
        return f"no finished point has the metric {metric!r}."
    width = [max(len(key), *(len(str(p[key])) for p in points)) for key in keys]
    lines = [f"{metric}, mean ± std over seeds:",
             "  " + "  ".join(key.ljust(w) for key, w in zip(keys, width)) + "  mean ± std    (seeds)"]
    for p in points:
        lines.append("  " + "  ".join(str(p[key]).ljust(w) for key, w in zip(keys, width))
                     + f"  {p['mean']:7.3g} ± {p['std']:<7.3g}({p['n']})")
    return "\n".join(lines)


def _axis(values: list) -> tuple[list, list[str], bool]:
    """Distinct values in order; numeric axes keep their numbers, others are categories."""
    distinct = list(dict.fromkeys(values))
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in distinct)
    if numeric:
        distinct = sorted(distinct)
    return distinct, [str(v) for v in distinct], numeric


def line_plot(table: list[dict], keys: list[str], metric: str, path: Path) -> Path:
    """The metric over the first swept key (mean ± std over seeds), one line per value of the others."""
    from bioplastic.plotting import new_figure

    points = by_point(table, keys, metric)
    x_key, others = keys[0], keys[1:]
    xs, labels, numeric = _axis([p[x_key] for p in points])
    fig, ax = new_figure(figsize=(6, 4))
    groups = dict.fromkeys(tuple(p[k] for k in others) for p in points)
    for group in groups:
        members = {p[x_key]: p for p in points if tuple(p[k] for k in others) == group}
        present = [x for x in xs if x in members]
        position = present if numeric else [xs.index(x) for x in present]
        mean = np.array([members[x]["mean"] for x in present])
        std = np.array([members[x]["std"] for x in present])
        label = ", ".join(f"{k}={v}" for k, v in zip(others, group)) or None
        ax.errorbar(position, mean, yerr=std, marker="o", capsize=3, label=label)
    ax.set_xticks(xs if numeric else range(len(xs)), labels)
    ax.set_xlabel(x_key)
    ax.set_ylabel(f"{metric}\n(mean ± std over seeds)")
    if others:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def heatmap(table: list[dict], keys: list[str], metric: str, path: Path) -> Path:
    """The metric over two swept keys: colour = mean over seeds, text = mean ± std."""
    from bioplastic.plotting import new_figure

    points = by_point(table, keys, metric)
    (y_key, x_key) = keys[:2]
    xs, x_labels, _ = _axis([p[x_key] for p in points])
    ys, y_labels, _ = _axis([p[y_key] for p in points])
    mean = np.full((len(ys), len(xs)), np.nan)
    std = np.full_like(mean, np.nan)
    for p in points:
        mean[ys.index(p[y_key]), xs.index(p[x_key])] = p["mean"]
        std[ys.index(p[y_key]), xs.index(p[x_key])] = p["std"]
    fig, ax = new_figure(figsize=(2.4 + 1.3 * len(xs), 1.5 + 0.8 * len(ys)))
    image = ax.imshow(mean, origin="lower", aspect="auto", cmap="viridis")
    for (i, j), value in np.ndenumerate(mean):
        if np.isfinite(value):
            ax.text(j, i, f"{value:.3g}\n± {std[i, j]:.2g}", ha="center", va="center", fontsize=8,
                    color="white" if value < np.nanmean(mean) else "black")
    ax.set_xticks(range(len(xs)), x_labels)
    ax.set_yticks(range(len(ys)), y_labels)
    ax.set_xlabel(x_key)
    ax.set_ylabel(y_key)
    ax.set_title("mean ± std over seeds", fontsize=9)
    fig.colorbar(image, ax=ax, label=metric)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path
