"""The report's PNG figures, drawn with matplotlib's Agg backend (the optional extra ``hgq-core[report]``)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .summary import LayerBits

INSTALL_HINT = "pip install 'hgq-core[report]' (or: pip install 'matplotlib>=3.7')"

_BLUE, _ORANGE, _GREEN, _RED, _GREY = '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9a9a9a'


class MissingDependency(ImportError):
    """A package needed for this step is not installed; the message says what to install."""


def require_matplotlib():
    """``matplotlib.pyplot`` on the Agg backend; `MissingDependency` naming the extra when not installed."""
    try:
        import matplotlib
    except ImportError:
        raise MissingDependency(f'the report plots need matplotlib, which is not installed: {INSTALL_HINT}') from None
    matplotlib.use('Agg', force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str, dpi: int) -> str:
    fig.savefig(path, dpi=dpi, metadata={'Software': None})  # no version string: the same plot, the same bytes
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def _fmt_ebops(v: float) -> str:
    return f'{v:,.0f}'


def _compact(v: float, _pos=None) -> str:
    """12 -> '12', 1500 -> '1.5k', 23000 -> '23k', 2.5e6 -> '2.5M'."""
    for scale, suffix in ((1e9, 'G'), (1e6, 'M'), (1e3, 'k')):
        if abs(v) >= scale:
            return f'{v / scale:.3g}{suffix}'
    return f'{v:.3g}'


def _log_axis(axis, lo: float, hi: float) -> None:
    """A log axis labelled with plain numbers (1.5k, 20k) at 1-2-5 steps, or at ~6 round values when the data
    span less than a decade (where a log axis has no major tick of its own)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, MaxNLocator, NullFormatter, NullLocator

    if lo > 0 and hi > lo and hi / lo < 10:
        pad = (hi / lo) ** 0.08
        ticks = [t for t in MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]).tick_values(lo / pad, hi * pad) if t > 0]
        axis.set_major_locator(FixedLocator(ticks))
        axis.set_minor_locator(NullLocator())
    else:
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_minor_formatter(NullFormatter())
    axis.set_major_formatter(FuncFormatter(_compact))


def plot_pareto(
    path: str,
    front: Sequence[Mapping[str, Any]],
    chosen: int | None = None,
    dropped: Sequence[Mapping[str, Any]] = (),
    epochs: Sequence[tuple[float, float]] = (),
    title: str = 'Accuracy vs. resources',
    dpi: int = 100,
) -> str:
    """Accuracy vs EBOPs (log x) of the Pareto front, the chosen model marked.

    Args:
        path: PNG file to write.
        front: The front's entries (``accuracy``, ``ebops``, ``epoch``; ``csim_equal``/``csim_total`` when
            converted), any order.
        chosen: Index into ``front`` of the chosen model.
        dropped: Checkpoints that re-tracing showed dominated (``accuracy``, ``ebops``).
        epochs: ``(training EBOPs, validation accuracy)`` of every epoch (the training estimate), drawn faintly.
    """
    plt = require_matplotlib()
    fig, ax = plt.subplots(figsize=(7.2, 4.4))
    if epochs:
        e = np.asarray([p for p in epochs if all(math.isfinite(v) and v > 0 for v in p)], dtype=float).reshape(-1, 2)
        ax.scatter(e[:, 0], e[:, 1], s=9, color=_GREY, alpha=0.45, lw=0,
                   label='every epoch (validation acc., training EBOPs estimate)')
    if dropped:
        d = np.asarray([(p['ebops'], p['accuracy']) for p in dropped], dtype=float)
        ax.scatter(d[:, 0], d[:, 1], s=28, marker='x', color=_ORANGE, lw=1.2, label='dominated after re-tracing')
    order = sorted(range(len(front)), key=lambda i: front[i]['ebops'])
    xs = np.asarray([front[i]['ebops'] for i in order], dtype=float)
    ys = np.asarray([front[i]['accuracy'] for i in order], dtype=float)
    if len(xs):
        ax.step(xs, ys, where='post', color=_BLUE, lw=1.2, alpha=0.8)
        ax.scatter(xs, ys, s=34, color=_BLUE, zorder=3, label='Pareto front (test acc., exact EBOPs)')
        bad = [i for i in order if front[i].get('csim_total') and front[i].get('csim_equal') != front[i]['csim_total']]
        if bad:
            ax.scatter([front[i]['ebops'] for i in bad], [front[i]['accuracy'] for i in bad], s=90, facecolors='none',
                       edgecolors=_RED, lw=1.5, zorder=4, label='C simulation differs')
    if chosen is not None and 0 <= chosen < len(front):
        c = front[chosen]
        ax.scatter([c['ebops']], [c['accuracy']], s=260, marker='*', color=_GREEN, edgecolors='black', lw=0.8,
                   zorder=5, label='chosen')
    ax.set_xscale('log')
    xs_all = list(xs) + [p['ebops'] for p in dropped]
    if xs_all:
        _log_axis(ax.xaxis, min(xs_all), max(xs_all))
    if chosen is not None and 0 <= chosen < len(front):
        c = front[chosen]
        lo, hi = ax.get_xlim()
        right = hi > lo > 0 and math.log(c['ebops'] / lo) / math.log(hi / lo) > 0.55
        ax.annotate(f"chosen: epoch {c['epoch']}\nacc. {c['accuracy']:.3f}, {_fmt_ebops(c['ebops'])} EBOPs",
                    (c['ebops'], c['accuracy']), xytext=(-16, -40) if right else (16, -40), textcoords='offset points',
                    ha='right' if right else 'left', fontsize=9,
                    bbox={'boxstyle': 'round,pad=0.25', 'fc': 'white', 'ec': '#bbbbbb', 'alpha': 0.9},
                    arrowprops={'arrowstyle': '-', 'color': 'black', 'lw': 0.6})
    ax.set_xlabel('EBOPs (log scale; exact after trace_minmax, ≈ LUT + 55·DSP)')
    ax.set_ylabel('accuracy')
    ax.set_title(title)
    ax.grid(True, which='both', alpha=0.25)
    ys_all = list(ys) + [p['accuracy'] for p in dropped]
    if ys_all:
        lo, hi = min(ys_all), max(ys_all)
        span = max(hi - lo, 0.02)
        ax.set_ylim(max(0.0, lo - 0.25 * span), min(1.0, hi + 0.12 * span))
    ax.legend(loc='lower right', fontsize=8, framealpha=0.9)
    fig.tight_layout()
    return _save(fig, path, dpi)


def plot_history(path: str, history: Mapping[str, Sequence[float]], front_epochs: Sequence[int] = (),
                 chosen_epoch: int | None = None, dpi: int = 100) -> str:
    """Loss, accuracy, training EBOPs and beta per epoch (the front's epochs marked on the EBOPs panel)."""
    plt = require_matplotlib()
    n = len(next(iter(history.values()), []))
    ep = np.arange(n)
    fig, axes = plt.subplots(2, 2, figsize=(10, 6), sharex=True)
    panels = [
        (axes[0, 0], 'loss', [('loss', 'training (with the beta·EBOPs term)'), ('val_loss', 'validation')], False),
        (axes[0, 1], 'accuracy', [('accuracy', 'training'), ('val_accuracy', 'validation')], False),
        (axes[1, 0], 'EBOPs (training estimate)', [('bops', 'EBOPs')], True),
        (axes[1, 1], 'beta (BOPs penalty)', [('beta', 'beta')], True),
    ]
    for ax, title, keys, log in panels:
        drawn = False
        for (key, label), color in zip(keys, (_BLUE, _ORANGE)):
            if key in history and len(history[key]) == n:
                v = np.asarray(history[key], dtype=float)
                if log and not np.all(v > 0):
                    log = False
                ax.plot(ep, v, color=color, lw=1.3, label=label)
                drawn = True
        if not drawn:
            ax.text(0.5, 0.5, 'not recorded', ha='center', va='center', transform=ax.transAxes, color=_GREY)
        if log:
            ax.set_yscale('log')
            v = np.concatenate([np.asarray(history[k], dtype=float) for k, _ in keys if k in history])
            _log_axis(ax.yaxis, float(v.min()), float(v.max()))
        ax.set_title(title, fontsize=10)
        ax.grid(True, which='both', alpha=0.25)
        if len(keys) > 1 and drawn:
            ax.legend(fontsize=8)
    if front_epochs and 'bops' in history:
        b = np.asarray(history['bops'], dtype=float)
        fe = [e for e in front_epochs if 0 <= e < n]
        axes[1, 0].scatter(fe, b[fe], s=18, color=_BLUE, zorder=3, label='Pareto-front epochs')
        if chosen_epoch is not None and 0 <= chosen_epoch < n:
            axes[1, 0].scatter([chosen_epoch], [b[chosen_epoch]], s=160, marker='*', color=_GREEN,
                               edgecolors='black', lw=0.7, zorder=4, label='chosen')
        axes[1, 0].legend(fontsize=8)
    for ax in axes[1]:
        ax.set_xlabel('epoch')
    fig.tight_layout()
    return _save(fig, path, dpi)


def plot_layer_ebops(path: str, layers: Sequence[LayerBits], title: str = 'EBOPs per layer', dpi: int = 100) -> str:
    """Horizontal bars: exact EBOPs of each H-layer (share of the total written next to each bar)."""
    plt = require_matplotlib()
    names = [f'{lb.name} ({lb.cls})' for lb in layers]
    vals = np.asarray([lb.ebops for lb in layers], dtype=float)
    total = float(vals.sum())
    fig, ax = plt.subplots(figsize=(8, 0.5 + 0.45 * max(1, len(layers))))
    y = np.arange(len(layers))
    ax.barh(y, vals, color=_BLUE)
    ax.set_yticks(y, names, fontsize=9)
    ax.invert_yaxis()
    for yi, v in zip(y, vals):
        share = f' ({100 * v / total:.0f} %)' if total > 0 else ''
        ax.text(v, yi, f' {_fmt_ebops(v)}{share}', va='center', fontsize=8)
    ax.set_xlim(0, max(1.0, float(vals.max()) if len(vals) else 1.0) * 1.3)
    ax.set_xlabel(f'EBOPs (total {_fmt_ebops(total)})')
    ax.set_title(title, fontsize=10)
    ax.grid(True, axis='x', alpha=0.25)
    fig.tight_layout()
    return _save(fig, path, dpi)


def _hist(ax, bits: np.ndarray, color: str, what: str) -> None:
    top = int(bits.max()) if bits.size else 0
    edges = np.arange(-0.5, top + 1.5)
    counts, _ = np.histogram(bits, bins=edges)
    xs = np.arange(top + 1)
    colors = [_RED if x == 0 else color for x in xs]
    ax.bar(xs, counts, width=0.85, color=colors)
    zero = float(np.mean(bits == 0)) if bits.size else 0.0
    ax.set_title(f'{what}: mean {bits.mean():.2f}, max {top}, {100 * zero:.0f} % at 0 bits', fontsize=9)
    ax.set_xticks(xs if top <= 16 else np.arange(0, top + 1, 2))
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
    ax.tick_params(labelsize=8)
    ax.grid(True, axis='y', alpha=0.25)


def plot_bit_histograms(path: str, layers: Sequence[LayerBits], dpi: int = 100) -> str:
    """Per layer, the distribution of kernel bits (left) and activation bits (right); the 0-bit bar (pruned
    weights, constant-zero outputs) is red."""
    plt = require_matplotlib()
    n = max(1, len(layers))
    fig, axes = plt.subplots(n, 2, figsize=(10, 0.6 + 2.0 * n), squeeze=False)
    for row, lb in zip(axes, layers):
        if lb.kernel_bits is not None and lb.kernel_bits.size:
            _hist(row[0], lb.kernel_bits, _BLUE, f'{lb.name} kernel bits')
        else:
            row[0].text(0.5, 0.5, f'{lb.name} ({lb.cls}): no kernel', ha='center', va='center',
                        transform=row[0].transAxes, color=_GREY)
            row[0].set_xticks([])
            row[0].set_yticks([])
        _hist(row[1], lb.act_bits, _ORANGE, f'{lb.name} activation bits')
        row[0].set_ylabel('count', fontsize=8)
    axes[-1][0].set_xlabel('bits per weight (sign not counted; 0 = pruned)', fontsize=9)
    axes[-1][1].set_xlabel('bits per output element (sign included; 0 = always zero)', fontsize=9)
    fig.tight_layout()
    return _save(fig, path, dpi)
