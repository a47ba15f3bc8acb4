"""The two report pages: one model (`hgq convert`, `hgq report`) and a Pareto front of models (`hgq demo`)."""

from __future__ import annotations

import datetime
import os
from collections.abc import Mapping, Sequence
from typing import Any

from . import plots
from .html import Page, esc, exact_cell
from .summary import LayerBits

PNG_PARETO = 'pareto.png'
PNG_HISTORY = 'history.png'
PNG_LAYER_EBOPS = 'layer_ebops.png'
PNG_BITS = 'bitwidths.png'
REPORT_HTML = 'report.html'

_EBOPS_NOTE = (
    'EBOPs (effective bit operations) are HGQ\'s resource estimate: for each multiplication, the product of the '
    'bits of its two operands (zero bits: no operation), summed. They track the FPGA cost closely (about '
    '#LUT + 55&middot;#DSP). The numbers here are exact: computed by <code>trace_minmax</code> from the ranges '
    'the activations take on the calibration data.'
)


def _now() -> str:
    return datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')


def _fmt(v: Any, spec: str = '') -> str:
    if v is None:
        return '–'
    return format(v, spec)


def _layer_table(page: Page, layers: Sequence[Mapping[str, Any]]) -> None:
    rows = []
    for lay in layers:
        rows.append([
            lay['name'], lay.get('type', ''), _fmt(lay['ebops'], ',.0f'),
            _fmt(lay['kernel_bits_mean'], '.2f'),
            '–' if lay['kernel_pruned_fraction'] is None else f"{100 * lay['kernel_pruned_fraction']:.1f} %",
            _fmt(lay['act_bits_mean'], '.2f'), _fmt(lay['act_bits_max']),
        ])
    page.table(['layer', 'type', 'EBOPs', 'kernel bits (mean)', 'pruned weights', 'act. bits (mean)',
                'act. bits (max)'], rows, left=(0, 1))


def _overflow_section(page: Page, overflow: Mapping[str, Any]) -> None:
    """The overflow table of `hgq convert --test` (``summary['overflow']``, from `HGQ.overflow_report`)."""
    page.heading('Overflows on the test data')
    which = ('the HGQ model, against the ranges traced on the calibration data' if overflow.get('model') == 'hgq'
             else 'the proxy model, against the types of its quantizers')
    page.paragraph(
        f'Values of the {esc(overflow.get("samples", "?"))} test samples outside the range their fixed-point type '
        f'holds, per activation quantizer ({which}). In the firmware these values wrap (or saturate): the outputs '
        'then differ from the HGQ model. <i>Max excess bits</i> is the largest log<sub>2</sub>(|v| / 2<sup>m</sup>) '
        'of those values, 2<sup>m</sup> being the bound of the type (about how many integer bits are missing). '
        'Remedies: calibration data that covers the test data, or a larger <code>--cover-factor</code>.', 'note')
    if overflow.get('error'):
        page.paragraph(f'Not computed: {esc(overflow["error"])}', 'bad')
        return
    items = list(overflow.get('layers', []))
    rows, classes = [], []
    for r in sorted(items, key=lambda r: -r['outside'] if r['outside'] else 1):
        e = r.get('max_excess_bits')
        excess = '–' if not r['outside'] else ('n/a' if e is None else f'{e:.2f}')
        acc = r.get('accumulator_bits')
        rows.append([r['layer'], f"{r['outside']:,}", f"{r['total']:,}", f"{r['samples']:,}", excess,
                     '–' if acc is None else (f'{acc} (&gt; 24)' if r.get('float32_exact') is False else str(acc))])
        classes.append('bad' if r['outside'] else '')
    page.table(['quantizer', 'values outside', 'values', 'samples with overflow', 'max excess bits',
                'accumulator bits'], rows, left=(0,), row_classes=classes, raw_cols=(5,))
    wide = [r['layer'] for r in items if r.get('float32_exact') is False]
    if wide:
        page.paragraph(
            f'Accumulators wider than float32 holds exactly (24 significant bits): {esc(", ".join(wide))}. '
            'The HGQ model and the proxy compute these sums in float32 and may differ from the firmware in the last '
            'bit even on '
            'data inside the traced ranges.', 'note')


def _versions(page: Page, versions: Mapping[str, str]) -> None:
    page.heading('Versions')
    page.key_values(dict(versions))


def _model_sections(page: Page, out_dir: str, layers: Sequence[LayerBits], layer_dicts, dpi: int,
                    name: str) -> dict[str, str]:
    pngs = {}
    page.heading(f'Per-layer resources{f" of {name}" if name else ""}')
    page.paragraph(_EBOPS_NOTE, 'note')
    _layer_table(page, layer_dicts)
    pngs['layer_ebops'] = plots.plot_layer_ebops(os.path.join(out_dir, PNG_LAYER_EBOPS), layers, dpi=dpi)
    page.image(pngs['layer_ebops'], 'Exact EBOPs of each layer (layers without a kernel, such as the input '
               'quantizer, cost none themselves: their bits enter the EBOPs of the next layer).')
    page.heading('Bitwidth distributions')
    pngs['bitwidths'] = plots.plot_bit_histograms(os.path.join(out_dir, PNG_BITS), layers, dpi=dpi)
    page.image(pngs['bitwidths'], 'How many weights (left) and output elements (right) get each bitwidth. Every '
               'weight and every activation has its own bitwidth, trained together with the weights. Red bars at 0 '
               'bits: pruned weights (quantized to zero, removed from the firmware) and outputs that are always zero.')
    return pngs


def write_model_report(
    out_dir: str, summary: Mapping[str, Any], layers: Sequence[LayerBits], dpi: int = 100
) -> dict[str, str]:
    """Writes the PNGs and ``report.html`` of one model (`hgq convert` / `hgq report`) into ``out_dir``.

    ``summary`` is the content of ``summary.json`` (``model``, ``ebops``, ``layers``, ``versions``, and for
    `hgq convert` ``csim_equal``/``csim_total``, ``backend``, ``io_type``, ``hls_project``, and with ``--test``
    ``overflow``: ``{'model', 'samples', 'layers': HGQ.overflow_report(...)}``). Returns the written files by role.
    """
    name = os.path.basename(str(summary.get('model', 'model')))
    converted = summary.get('csim_total') is not None
    page = Page(f'HGQ report: {name}', f'{esc(summary.get("command", ""))} &middot; {esc(_now())}')
    cards = []
    if summary.get('ebops') is not None:
        cards.append(('exact EBOPs', f"{summary['ebops']:,.0f}", ''))
    if converted:
        ok = summary['csim_equal'] == summary['csim_total']
        cards.append(('hls4ml C simulation', 'bit-exact' if ok else 'DIFFERS', 'ok' if ok else 'bad'))
        cards.append(('outputs compared', f"{summary['csim_total']:,}", ''))
    if summary.get('hgq_vs_proxy_total'):
        ok = summary['hgq_vs_proxy_equal'] == summary['hgq_vs_proxy_total']
        cards.append(('proxy == model (calib.)', 'yes' if ok else 'no', 'ok' if ok else 'bad'))
    overflow = summary.get('overflow')
    if overflow and not overflow.get('error'):
        n = sum(r['outside'] for r in overflow.get('layers', []))
        cards.append(('test values overflowing', f'{n:,}' if n else 'none', 'bad' if n else 'ok'))
    page.cards(cards)
    facts = {'model file': summary.get('model'), 'model kind': summary.get('kind'),
             'calibration samples': summary.get('calib_samples'), 'cover factor': summary.get('cover_factor'),
             'overflow mode': 'SAT (saturate)' if summary.get('saturate') else 'WRAP'}
    if converted:
        facts.update({'compared on': f"{summary.get('compare_data')} ({summary.get('compare_samples')} samples)",
                      'backend / io type': f"{summary.get('backend')} / {summary.get('io_type')}",
                      'hls4ml project': summary.get('hls_project')})
    page.key_values({k: v for k, v in facts.items() if v is not None})
    pngs = {}
    if converted:
        page.heading('Bit-exactness')
        page.paragraph(
            'The hls4ml C simulation (the firmware, compiled with g++) and the Keras proxy model were run on the same '
            'inputs; every output value was compared bit for bit.')
        page.table(['model', 'backend', 'io type', 'outputs equal'],
                   [[name, summary.get('backend'), summary.get('io_type'),
                     exact_cell(summary['csim_equal'], summary['csim_total'])]], left=(0,), raw_cols=(3,))
    if summary.get('overflow'):
        _overflow_section(page, summary['overflow'])
    if layers:
        pngs.update(_model_sections(page, out_dir, layers, summary.get('layers', []), dpi, ''))
    else:
        page.heading('Per-layer resources')
        page.paragraph('This model has no HGQ layers (a QKeras or a proxy model): HGQ computes no EBOPs for it.',
                       'note')
    _versions(page, summary.get('versions', {}))
    pngs['html'] = page.write(os.path.join(out_dir, REPORT_HTML))
    return pngs


def write_demo_report(
    out_dir: str,
    summary: Mapping[str, Any],
    layers: Sequence[LayerBits],
    history: Mapping[str, Sequence[float]],
    dpi: int = 100,
) -> dict[str, str]:
    """Writes the PNGs and ``report.html`` of `hgq demo` into ``out_dir``: the Pareto front, the training history,
    the chosen model's layers and the bit-exact table. Returns the written files by role."""
    front = summary['pareto']
    chosen = summary['chosen']
    c = front[chosen]
    converted = [e for e in front if e.get('csim_total') is not None]
    n_exact = sum(e['csim_equal'] == e['csim_total'] for e in converted)
    page = Page('HGQ demo: handwritten digits on an FPGA budget',
                f'{esc(summary.get("command", ""))} &middot; {esc(_now())}')
    all_ok = n_exact == len(converted)
    page.cards([
        ('chosen model: test accuracy', f"{c['accuracy']:.3f}", ''),
        ('chosen model: EBOPs', f"{c['ebops']:,.0f}", ''),
        ('models on the front', f'{len(front)}', ''),
        ('bit-exact in C simulation', f'{n_exact}/{len(converted)}', 'ok' if all_ok else 'bad'),
    ])
    _demo_intro(page, summary)
    pngs = {}
    page.heading('Pareto front: accuracy vs. resources')
    dropped = summary.get('dropped_after_retrace', [])
    pngs['pareto'] = plots.plot_pareto(os.path.join(out_dir, PNG_PARETO), front, chosen, dropped,
                                       title='HGQ on digits: test accuracy vs. EBOPs', dpi=dpi)
    page.image(pngs['pareto'], f"Each blue point is a model no other model beats on both test accuracy and EBOPs "
               f"(accuracy of the firmware, i.e. of the proxy model, on the test images). The star is the chosen one "
               f"({esc(summary.get('chosen_rule', ''))}). Orange crosses: checkpoints kept during training (on "
               'validation accuracy and the training estimate of EBOPs) that re-tracing showed dominated.')
    _demo_front_table(page, summary, front, chosen, dropped)
    page.heading('Training history')
    front_epochs = [e['epoch'] for e in front]
    pngs['history'] = plots.plot_history(os.path.join(out_dir, PNG_HISTORY), history, front_epochs, c['epoch'], dpi=dpi)
    page.image(pngs['history'], 'Loss and accuracy per epoch (training and validation), the training estimate of '
               'EBOPs (front epochs in blue) and the schedule of beta (log scale).')
    pngs.update(_model_sections(page, out_dir, layers, summary.get('layers', []), dpi,
                                f"the chosen model (epoch {c['epoch']})"))
    _versions(page, summary.get('versions', {}))
    pngs['html'] = page.write(os.path.join(out_dir, REPORT_HTML))
    return pngs


def _demo_intro(page, summary: Mapping[str, Any]) -> None:
    s = summary.get('settings', {})
    d = summary.get('dataset', {})
    b0, b1 = float(s.get('beta_start', 0.0)), float(s.get('beta_end', 0.0))
    page.paragraph(
        f"An HGQ model (<code>{esc(s.get('architecture', ''))}</code>) was trained for {esc(s.get('epochs'))} epochs "
        f"on scikit-learn's 8&times;8 handwritten digits ({esc(d.get('n_train'))} training, {esc(d.get('n_val'))} "
        f"validation, {esc(d.get('n_test'))} test images) while the resource penalty <i>beta</i> rose "
        f"geometrically from {b0:.1e} to {b1:.1e}. "
        'Every epoch that no other epoch beat on both validation accuracy and EBOPs was kept '
        '(<code>ParetoFront</code>); '
        'each kept model was then re-traced on the training data for its exact EBOPs, evaluated on the test set, '
        f"converted to hls4ml ({esc(s.get('backend'))}, {esc(s.get('io_type'))}) and compiled, and its C simulation "
        'compared bit for bit with the Keras proxy model.')


def _demo_front_table(page, summary: Mapping[str, Any], front, chosen: int, dropped) -> None:
    rows, classes = [], []
    for i, e in enumerate(front):
        rows.append([i, e['epoch'], f"{e['beta']:.2e}", f"{e['accuracy']:.4f}", f"{e['ebops']:,.0f}",
                     f"{e['training_ebops']:,.0f}" if e.get('training_ebops') is not None else '–',
                     exact_cell(e.get('csim_equal'), e.get('csim_total')), e['checkpoint']])
        classes.append('chosen' if i == chosen else '')
    page.heading('Models on the front and bit-exactness')
    page.paragraph(
        f"Compared on {esc(summary.get('compare_samples', '?'))} inputs per model: the test images, the test images "
        'times 4 and uniform random values in [-8, 8] (far outside the training range, so that values overflow: '
        'the firmware must wrap exactly as the proxy model does). The chosen row is highlighted; its hls4ml project '
        f"is <code>{esc(summary.get('hls_project', ''))}</code>.")
    page.table(['#', 'epoch', 'beta', 'test acc.', 'EBOPs', 'EBOPs (training est.)', 'C sim == proxy', 'checkpoint'],
               rows, left=(7,), row_classes=classes, raw_cols=(6,))
    if summary.get('not_converted_note'):
        page.paragraph(esc(summary['not_converted_note']), 'note')
    if dropped:
        page.paragraph(f'{len(dropped)} checkpoint(s) kept during training turned out dominated once re-traced '
                       '(exact EBOPs, test accuracy) and were dropped: epochs '
                       + ', '.join(str(e['epoch']) for e in dropped) + '.', 'note')
