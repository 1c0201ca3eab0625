"""Figures people would rather look at than read: learning curves with seed spread,
learned weights as images, and multi-panel study summaries. Matplotlib, Agg backend."""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import matplotlib
from matplotlib.figure import Figure

class FigureSkipped(UserWarning):
    """A figure that a run folder lacks the data for (``bioplastic plot`` prints it as a note)."""


def skipped(message: str) -> None:
    """Warn that a figure was not drawn, and why (a study's ``plot`` goes on with the others)."""
    warnings.warn(message, FigureSkipped, stacklevel=3)


PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"]


def new_figure(*grid, figsize, dpi=130, **subplots):
    """A figure and its axes, without pyplot: no global backend switch, no figure registry
    to close (importing bioplastic leaves a user's matplotlib session as it was)."""
    fig = Figure(figsize=figsize, dpi=dpi)
    return fig, fig.subplots(*grid, **subplots)


def _style(ax):
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(alpha=0.25, linewidth=0.6)


def learning_curves(metrics: dict, path: Path, title: str = "") -> None:
    """Mean test accuracy ± std over seeds vs training images, one colour per variant."""
    fig, ax = new_figure(figsize=(7, 4.2), dpi=130)
    for k, (name, v) in enumerate(metrics["variants"].items()):
        color = PALETTE[k % len(PALETTE)]
        x = np.asarray(v["n_train_images"])
        primary = v["class_sets"][0]
        for curve in primary["accuracy_per_seed"].values():
            ax.plot(x, curve, color=color, alpha=0.18, linewidth=0.8)
        mean, std = np.asarray(v["accuracy_mean"]), np.asarray(v["accuracy_std"])
        n_seeds = len(primary["accuracy_per_seed"])
        ax.plot(x, mean, color=color, linewidth=2,
                label=f"{name.replace('_', ' ')} (classes {primary['classes']}, {n_seeds} seeds)")
        ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.15, linewidth=0)
        if "all_class_sets_accuracy_mean" in v:
            ax.plot(x, v["all_class_sets_accuracy_mean"], color=color, linestyle="--", linewidth=1.2,
                    label=f"{name.replace('_', ' ')}: mean of {len(v['class_sets'])} class sets")
    n_classes = len(next(iter(metrics["variants"].values()))["class_sets"][0]["classes"])
    _save_accuracy_figure(fig, ax, path, chance=100 / n_classes, xlabel="training images",
                          title=title or "Test accuracy during learning")


def _save_accuracy_figure(fig, ax, path: Path, *, chance: float, xlabel: str, title: str) -> None:
    """The common frame of accuracy curves: chance line, 0-100 %, legend, saved."""
    ax.axhline(chance, color="grey", linestyle=":", linewidth=1, label="chance")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title, fontsize=11)
    ax.legend(frameon=False, fontsize=8, loc="lower right")
    _style(ax)
    fig.tight_layout()
    fig.savefig(path)


def decision_epochs(metrics: dict, path: Path, title: str = "") -> Figure:
    """Test accuracy of a convolutional network over decision-layer epochs: seeds thin, mean ± std
    thick, and from 8 epochs on an inset with the late epochs on their own scale."""
    fig, ax = new_figure(figsize=(7, 4.2), dpi=130)
    x = np.asarray(metrics["epochs"])
    for curve in metrics["test_accuracy_per_seed"].values():
        ax.plot(x, curve["test_accuracy"], color=PALETTE[0], alpha=0.25, linewidth=0.8)
    mean, std = np.asarray(metrics["test_accuracy_mean"]), np.asarray(metrics["test_accuracy_std"])
    ax.plot(x, mean, color=PALETTE[0], linewidth=2, marker="o", markersize=3,
            label=f"mean of {len(metrics['seeds'])} seed(s)")
    ax.fill_between(x, mean - std, mean + std, color=PALETTE[0], alpha=0.15, linewidth=0)
    if len(x) >= 8:
        _late_epochs_inset(ax, x, metrics, mean)
    _save_accuracy_figure(fig, ax, path, chance=100 / metrics["n_classes"], xlabel="decision-layer epochs",
                          title=title or "Test accuracy over decision-layer epochs")
    return fig


def _late_epochs_inset(ax, x, metrics: dict, mean) -> None:
    """The last three quarters of the epochs on their own scale: late gains of a few tenths of a
    point, invisible on 0-100 %, are what decides how many more epochs are worth running."""
    late = slice(len(x) // 4, None)
    curves = [np.asarray(c["test_accuracy"])[late] for c in metrics["test_accuracy_per_seed"].values()]
    low, high = min(float(np.min(c)) for c in curves), max(float(np.max(c)) for c in curves)
    pad = max(0.1, 0.1 * (high - low))
    inset = ax.inset_axes([0.42, 0.24, 0.55, 0.42])
    for curve in curves:
        inset.plot(x[late], curve, color=PALETTE[0], alpha=0.35, linewidth=0.8)
    inset.plot(x[late], mean[late], color=PALETTE[0], linewidth=1.6)
    best = late.start + int(np.argmax(mean[late]))
    inset.annotate(f"{mean[best]:.1f} %", (x[best], mean[best]), textcoords="offset points", xytext=(0, 5),
                   ha="center", fontsize=7)
    inset.set_ylim(low - pad, high + pad)
    inset.set_title(f"epochs {int(x[late][0])}-{int(x[-1])}, zoomed", fontsize=7)
    inset.tick_params(labelsize=7)
    _style(inset)


def weight_grid(weights: np.ndarray, path: Path, *, n_per_class: int | None = None, title: str = "",
                shape=(28, 28), class_names=None) -> None:
    """Input weights of each excitatory neuron as an image; one row per class segment."""
    n_inputs, n_exc = weights.shape
    cols = n_per_class or int(np.ceil(np.sqrt(n_exc)))
    rows = int(np.ceil(n_exc / cols))
    fig, axes = new_figure(rows, cols, figsize=(cols * 1.0 + 0.6, rows * 1.0 + 0.6), dpi=130, squeeze=False)
    vmax = float(weights.max()) or 1.0
    for k, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if k < n_exc:
            im = ax.imshow(weights[:, k].reshape(shape), cmap="hot_r", vmin=0, vmax=vmax, interpolation="nearest")
            if n_per_class and k % n_per_class == 0:
                name = class_names[k // n_per_class] if class_names is not None else k // n_per_class
                ax.set_ylabel(f"class {name}", fontsize=7)
        else:
            ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.colorbar(im, ax=axes, shrink=0.6, label="weight")
    fig.savefig(path, bbox_inches="tight")


def weight_mosaic(weights: np.ndarray, path: Path, *, title: str = "", shape=(28, 28), assignments=None) -> None:
    """Input weights of many neurons tiled into one image (fast for thousands of neurons), with
    the class each neuron was assigned to in its corner when given."""
    n_inputs, n = weights.shape
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    h, w = shape
    canvas = np.full((rows * (h + 1), cols * (w + 1)), np.nan)
    for k in range(n):
        r, c = divmod(k, cols)
        canvas[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = weights[:, k].reshape(shape)
    size = min(12.0, 0.35 * cols + 1)
    fig, ax = new_figure(figsize=(size + 1, size * rows / cols + 0.6), dpi=150)
    im = ax.imshow(canvas, cmap="hot_r", vmin=0, vmax=float(np.nanmax(canvas)) or 1.0, interpolation="nearest")
    if assignments is not None and n <= 1600:
        for k, a in enumerate(assignments):
            r, c = divmod(k, cols)
            ax.text(c * (w + 1) + 1, r * (h + 1) + 4, str(a) if a >= 0 else "", fontsize=max(3, 60 / cols),
                    color="tab:blue")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.6, label="weight")
    fig.savefig(path, bbox_inches="tight")


def weight_comparison(weight_vectors, labels, path: Path, *, title: str = "", shape=(28, 28)) -> None:
    """The input weights of one neuron under several conditions, side by side, same colour scale."""
    fig, axes = new_figure(1, len(weight_vectors), figsize=(3.2 * len(weight_vectors) + 0.8, 3.4), dpi=130,
                             squeeze=False)
    vmax = max(float(np.max(w)) for w in weight_vectors) or 1.0
    for ax, w, label in zip(axes.flat, weight_vectors, labels):
        im = ax.imshow(np.asarray(w).reshape(shape), cmap="hot_r", vmin=0, vmax=vmax, interpolation="nearest")
        ax.set_title(label, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=axes, shrink=0.8, label="weight")
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, bbox_inches="tight")


def forgetting_panels(metrics: dict, panels: dict, path: Path) -> None:
    """Digit (task 1) and letter (task 2) accuracy during task 2, one panel per protection."""
    panels = {title: name for title, name in panels.items() if name in metrics["variants"]} or \
        {name: name for name in list(metrics["variants"])[:4]}
    cols = min(len(panels), 4)
    fig, axes = new_figure(1, cols, figsize=(3.6 * cols, 3.5), dpi=130, sharey=True, squeeze=False)
    for ax, (title, name) in zip(axes.flat, panels.items()):
        v = metrics["variants"][name]
        x = np.asarray(v["n_letters_seen"])
        for key, label, color in (("curve_digits", "digits (task 1)", PALETTE[0]),
                                  ("curve_letters", "letters (task 2)", PALETTE[1])):
            curves = np.asarray(v[key])
            mean, std = curves.mean(0), curves.std(0)
            ax.plot(x, mean, color=color, linewidth=2, label=label)
            ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.15, linewidth=0)
        ax.axhline(v["task1_digits"]["mean"], color=PALETTE[0], linestyle=":", linewidth=1,
                   label="digits after task 1")
        ax.set_title(f"{title}\n({name.replace('_', ' ')})", fontsize=9)
        ax.set_xlabel("letter images trained (task 2)")
        ax.set_ylim(0, 100)
        _style(ax)
    axes.flat[0].set_ylabel("test accuracy (%)")
    axes.flat[0].legend(frameon=False, fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path)


def variant_label(name: str) -> str:
    """A task-2 variant's name as a reader writes it: ``r5_2`` -> ``r = (5, 2)``,
    ``langevin_d10_d90`` -> ``Langevin D10–D90``, ``freeze`` -> ``freezing``."""
    if re.fullmatch(r"r\d+(_\d+)*", name):
        return f"r = ({', '.join(name[1:].split('_'))})"
    if name.startswith("langevin_"):
        return "Langevin " + "–".join(part.upper() for part in name.removeprefix("langevin_").split("_"))
    return {"freeze": "freezing", "joint": "joint training", "fresh": "new decision layer"}.get(
        name, name.replace("_", " "))


def task2_panels(metrics: dict, path: Path, title: str = "") -> Figure:
    """The reference's four-panel figure: letter (task 2, solid) and digit (task 1, dashed)
    test accuracy over task-2 epochs, mean ± std over seeds; (a) no protection, (b) lateral
    inhibition radii, (c) freezing, rehearsal, joint training and a new decision layer trained
    on the letters alone, (d) Langevin ranges. Panels
    (c) and (d) draw, in grey, the unprotected variant at the radii the protections start from."""
    table = metrics["task2"]
    radii = [name for name in table if re.fullmatch(r"r\d+(_\d+)*", name)]
    third = [n for n in ("freeze", "rehearsal", "joint", "fresh") if n in table]
    groups = {"(a) no protection": radii[:1], "(b) lateral inhibition": radii[1:],
              "(c) " + ", ".join(variant_label(n) for n in third): third,
              "(d) Langevin ranges": [n for n in table if n.startswith("langevin")]}
    groups = {k: v for k, v in groups.items() if v}
    fig, axes = new_figure(1, len(groups), figsize=(3.9 * len(groups), 4.8), dpi=130, sharey=True, squeeze=False)
    x = np.asarray(metrics["epochs"])

    def curves(ax, name, color, width, label):
        for key, style in (("letters_curve", "-"), ("digits_curve", "--")):
            mean, std = np.asarray(table[name][key]["mean"]), np.asarray(table[name][key]["std"])
            ax.plot(x, mean, color=color, linestyle=style, linewidth=width, label=label if style == "-" else None)
            ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.12, linewidth=0)
        if table[name]["task1_digits"]:         # none for a layer that never learnt the digits
            ax.plot([0], [table[name]["task1_digits"][0]], marker="*", markersize=9, color=color, linestyle="none")

    for ax, (panel, names) in zip(axes.flat, groups.items()):
        protected = panel[:3] in ("(c)", "(d)")
        base = f"r{'_'.join(map(str, table[names[0]]['radii']))}" if protected else None
        if base in table:
            curves(ax, base, "#9a9a9a", 1.2, f"{variant_label(base)}, unprotected")
        for k, name in enumerate(names):
            curves(ax, name, PALETTE[k % len(PALETTE)], 1.8,
                   variant_label(name) + (f" at {variant_label(base)}" if protected and k == 0 and base else ""))
        ax.axhline(100 / 10, color="grey", linestyle=":", linewidth=1)
        ax.plot([], [], color="black", linestyle="-", label="letters (task 2)")
        ax.plot([], [], color="black", linestyle="--", label="digits (task 1)")
        ax.set_title(panel, fontsize=10)
        ax.set_xlabel("task-2 epochs (star: digits after task 1)")
        ax.set_ylim(0, 100)
        ax.legend(frameon=False, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
        _style(ax)
    axes.flat[0].set_ylabel("test accuracy (%)")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path)
    return fig


def latency_encoding(images, latency, path: Path, *, n_steps: int, map_names=None, title: str = "") -> None:
    """A few images and their latency code: one row per image, the image, then each map's
    first-spike step (dark = early, blank = silent), then the earliest step over all maps."""
    images, latency = np.asarray(images), np.asarray(latency)
    n_images, n_maps = latency.shape[:2]
    map_names = map_names or [f"map {m}" for m in range(n_maps)]
    cols = n_maps + 2
    fig, axes = new_figure(n_images, cols, figsize=(1.3 * cols + 0.8, 1.35 * n_images + 0.5), dpi=130,
                             squeeze=False)
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="white")
    for row in range(n_images):
        lat = np.ma.masked_less(latency[row].astype(float), 0)
        panels = [(images[row], "gray_r", None, "image")]
        panels += [(lat[m], cmap, (0, n_steps - 1), map_names[m]) for m in range(n_maps)]
        panels += [(lat.min(axis=0), cmap, (0, n_steps - 1), "earliest")]
        for col, (data, colormap, limits, label) in enumerate(panels):
            ax = axes[row, col]
            vmin, vmax = limits or (None, None)
            im = ax.imshow(data, cmap=colormap, vmin=vmin, vmax=vmax, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(label, fontsize=7)
    fig.colorbar(im, ax=axes, shrink=0.6, label="first-spike step")
    fig.suptitle(title or f"Latency coding in {n_steps} steps", fontsize=9)
    fig.savefig(path, bbox_inches="tight")


def input_kernels(kernels, path: Path, *, channel_names, per_row: int = 5, title: str = "") -> Figure:
    """The kernels of the first convolutional layer on on/off input maps (channels in pairs: on,
    off of each scale), each as its on − off weights per scale: red where the feature wants
    light, blue where it wants dark (SpykeTorch-style weights in 0..1, so −1..1 here). One
    framed panel per feature (its number above, one image per scale inside)."""
    kernels = np.asarray(kernels, dtype=float)
    n_maps, n_channels = kernels.shape[:2]
    scales = n_channels // 2
    rows = -(-n_maps // per_row)
    fig = Figure(figsize=(0.62 * per_row * scales + 1.4, 0.8 * rows + 0.3), dpi=130)
    grid, side = fig.subfigures(1, 2, width_ratios=[per_row * scales, 1.2], wspace=0)
    panels = grid.subfigures(rows, per_row, squeeze=False, wspace=0.04, hspace=0.02)
    scale_names = [name.split(" ", 1)[-1] for name in channel_names[::2]]
    for m, panel in enumerate(panels.flat):
        if m >= n_maps:
            continue
        panel.set_facecolor("0.97")
        panel.suptitle(f"feature {m}", fontsize=7, y=0.98)
        for s, ax in enumerate(panel.subplots(1, scales)):
            im = ax.imshow(kernels[m, 2 * s] - kernels[m, 2 * s + 1], cmap="RdBu_r", vmin=-1, vmax=1,
                           interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if m >= n_maps - per_row:                      # the scale under the panels of the last row
                ax.set_xlabel(scale_names[s], fontsize=6)
    side.colorbar(im, cax=side.add_axes([0.15, 0.3, 0.25, 0.4]), label="on − off weight")
    fig.suptitle(title or f"{n_maps} learned features, on − off per input scale", fontsize=9, y=1.0, va="bottom")
    fig.savefig(path, bbox_inches="tight")
    return fig
