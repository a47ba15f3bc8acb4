"""`hgq convert` (a saved model -> traced proxy -> hls4ml project, checked bit for bit) and `hgq report` (the same
report, without hls4ml)."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from ._common import (
    HLS_PROJECT,
    CLIError,
    check_file,
    compile_all,
    compile_error,
    hls_compare,
    hls_convert,
    load_inputs,
    load_model,
    n_samples,
    one_line,
    open_log,
    predict,
    prepare_output_dir,
    quiet,
    require_hls4ml,
    require_matplotlib,
    write_json,
)

SUMMARY = 'summary.json'
_OWNED = (HLS_PROJECT, SUMMARY, 'report.html', 'layer_ebops.png', 'bitwidths.png', 'hgq.log')


def _default_dir(model_path: str, suffix: str) -> str:
    stem = os.path.basename(model_path)
    for ext in ('.keras', '.hdf5', '.h5'):
        if stem.lower().endswith(ext):
            stem = stem[: -len(ext)]
            break
    return f'{stem}_{suffix}'


def _trace_and_proxy(model, kind: str, calib, args, log) -> tuple[Any, float | None, list]:
    """trace_minmax on the calibration data (HGQ models) and the proxy model."""
    import HGQ
    from HGQ.report import layer_bits

    ebops, layers = None, []
    with quiet(log):
        if kind == 'hgq':
            try:
                ebops = float(HGQ.trace_minmax(model, calib, verbose=False, cover_factor=args.cover_factor))
            except ValueError as e:
                raise CLIError(f'trace_minmax failed on the calibration data: {one_line(e)}') from None
            layers = layer_bits(model)
        if kind == 'proxy':
            return model, None, []
        try:
            proxy = HGQ.to_proxy_model(model, aggressive=not args.saturate,
                                       unary_lut_max_table_size=args.unary_lut_max_table_size)
        except (ValueError, TypeError, NotImplementedError) as e:
            raise CLIError(f'the model cannot become a proxy model: {one_line(e)}') from None
        except Exception as e:
            if type(e).__module__.startswith('hgq_qkeras'):
                raise CLIError(f'the QKeras model cannot be converted: {one_line(e)}') from None
            raise
    return proxy, ebops, layers


def _hgq_vs_proxy(model, proxy, kind: str, calib) -> tuple[int | None, int | None]:
    """How many outputs of the proxy equal the HGQ model's on the calibration data (exact by construction when no
    value leaves its traced range)."""
    from HGQ.utils.exactness import count_equal

    if kind != 'hgq':
        return None, None
    c = count_equal(predict(model, calib), predict(proxy, calib))
    return c.equal, c.total


def _overflow(model, proxy, kind: str, test) -> dict[str, Any] | None:
    """`HGQ.overflow_report` on the test data: of the HGQ model (values outside its traced ranges, per H-layer), or
    of the proxy for a proxy or QKeras model (values outside its quantizers' types). None without test data."""
    if test is None:
        return None
    from HGQ.overflow import overflow_report

    which = 'hgq' if kind == 'hgq' else 'proxy'
    out: dict[str, Any] = {'data': 'test', 'model': which, 'samples': n_samples(test)}
    try:
        out['layers'] = overflow_report(model if which == 'hgq' else proxy, test)
    except (ValueError, TypeError) as e:
        out.update(layers=[], error=one_line(e))
    return out


def run(args, command: str, with_hls: bool) -> int:
    """`hgq convert` (``with_hls``) or `hgq report`: trace, proxy, (convert and check), report."""
    what = f'hgq {command}'
    _check_args(args, what, with_hls)
    t0 = time.perf_counter()
    model, kind = load_model(args.model)
    calib = load_inputs(args.calib, model, 'calibration file')
    test = load_inputs(args.test, model, 'test file') if with_hls and args.test is not None else None
    out_dir = prepare_output_dir(args.output_dir or _default_dir(args.model, 'hls' if with_hls else 'report'), _OWNED)

    from HGQ.report import versions, write_model_report

    with open_log(out_dir) as log:
        proxy, ebops, layers = _trace_and_proxy(model, kind, calib, args, log)
        with quiet(log):
            hgq_eq, hgq_total = _hgq_vs_proxy(model, proxy, kind, calib)
        summary = _summary_head(args, what, kind, calib, ebops)
        if with_hls:
            summary.update(_convert_and_check(args, what, model, proxy, kind, calib, test, out_dir, log))
        summary['hgq_vs_proxy_equal'], summary['hgq_vs_proxy_total'] = hgq_eq, hgq_total
        summary['layers'] = [lb.as_dict() for lb in layers]
        summary['versions'] = versions()
        summary['seconds'] = round(time.perf_counter() - t0, 1)
        with quiet(log):
            write_model_report(out_dir, summary, layers)
        write_json(os.path.join(out_dir, SUMMARY), summary)

    _print_result(summary, out_dir, with_hls)
    if with_hls:
        return 0 if summary['bit_exact'] else 1
    return 0


def _check_args(args, what: str, with_hls: bool) -> None:
    check_file(args.model, 'model file', ('.keras', '.h5', '.hdf5'))
    check_file(args.calib, 'calibration file', ('.npy', '.npz'))
    if with_hls and args.test is not None:
        check_file(args.test, 'test file', ('.npy', '.npz'))
    if not args.cover_factor > 0:
        raise CLIError(f'--cover-factor must be > 0, got {args.cover_factor}')
    if with_hls:
        require_hls4ml(what)
    require_matplotlib(what)


def _summary_head(args, what: str, kind: str, calib, ebops) -> dict[str, Any]:
    from HGQ.report.summary import command_line

    summary: dict[str, Any] = {
        'tool': what,
        'schema_version': 1,
        'command': command_line(args.argv),
        'model': os.path.abspath(args.model),
        'kind': kind,
        'calib_samples': n_samples(calib),
        'cover_factor': args.cover_factor,
        'saturate': bool(args.saturate),
        'ebops': ebops,
    }
    if kind == 'qkeras':
        summary['note'] = 'QKeras model: no trace_minmax (QKeras quantizers fix the ranges) and no HGQ EBOPs.'
    elif kind == 'proxy':
        summary['note'] = ('Proxy model: converted as it is (its quantizers fix the ranges; --calib, '
                           '--cover-factor and --saturate do not change it) and no EBOPs '
                           '(they need the HGQ model).')
    return summary


def _convert_and_check(args, what: str, model, proxy, kind: str, calib, test, out_dir: str, log) -> dict[str, Any]:
    """Converts the proxy with hls4ml, compiles it and counts C sim == proxy (test data, else calibration data)."""
    x = test if test is not None else calib
    prj = os.path.join(out_dir, HLS_PROJECT)
    print(f'{what}: converting {os.path.basename(args.model)} with hls4ml ({args.backend}, {args.io_type}) '
          'and compiling the C simulation ...', file=sys.stderr, flush=True)
    with quiet(log):
        try:
            hls_model = hls_convert(proxy, args.backend, args.io_type, prj)
        except Exception as e:
            raise CLIError(f'hls4ml cannot convert the proxy model ({type(e).__name__}: {one_line(e)}); '
                           f'details in {os.path.join(out_dir, "hgq.log")}') from None
        [(_, err)] = list(compile_all({0: hls_model}, 1))
        if err is not None:
            raise compile_error(err, out_dir)
        count = hls_compare(proxy, hls_model, x)
        overflow = _overflow(model, proxy, kind, test)
    out = {
        'csim_equal': count.equal, 'csim_total': count.total, 'bit_exact': count.exact,
        'max_abs_diff': count.max_abs_diff, 'compare_data': 'test' if test is not None else 'calib',
        'compare_samples': n_samples(x), 'backend': args.backend, 'io_type': args.io_type,
        'hls_project': HLS_PROJECT,
    }
    if overflow is not None:
        out['overflow'] = overflow
    return out


def _print_result(s: dict[str, Any], out_dir: str, with_hls: bool) -> None:
    name = os.path.basename(s['model'])
    eb = f"n/a ({s['kind']} model)" if s['ebops'] is None else f"{s['ebops']:,.0f}"
    print(f'model            {name} ({s["kind"]})')
    print(f'exact EBOPs      {eb}')
    if s.get('hgq_vs_proxy_total'):
        print(f"proxy == model   {s['hgq_vs_proxy_equal']}/{s['hgq_vs_proxy_total']} outputs on the calibration data")
    for lay in s['layers']:
        kb = '' if lay['kernel_bits_mean'] is None else (
            f"kernel {lay['kernel_bits_mean']:.2f} bits, {100 * lay['kernel_pruned_fraction']:.0f}% pruned; ")
        print(f"  {lay['name']:<20} {lay['ebops']:>12,.0f} EBOPs  "
              f"{kb}act. {lay['act_bits_mean']:.2f}/{lay['act_bits_max']} bits")
    if with_hls:
        status = 'BIT-EXACT' if s['bit_exact'] else 'MISMATCH'
        print(f"C sim == proxy   {s['csim_equal']}/{s['csim_total']} outputs on the {s['compare_data']} data "
              f"({s['backend']}, {s['io_type']}): {status}")
        _print_overflow(s.get('overflow'))
        print(f'hls4ml project   {os.path.join(out_dir, HLS_PROJECT)}')
    print(f'report           {os.path.join(out_dir, "report.html")}')
    print(f'summary          {os.path.join(out_dir, SUMMARY)}')


def _print_overflow(overflow: dict[str, Any] | None) -> None:
    """The overflow table of ``summary['overflow']`` (`hgq convert --test`), indented under a one-line verdict."""
    if not overflow:
        return
    from HGQ.overflow import format_overflow_table

    what = 'HGQ model, traced ranges' if overflow['model'] == 'hgq' else 'proxy model'
    if overflow.get('error'):
        print(f"overflow         not computed on the test data: {overflow['error']}")
        return
    n_bad = sum(1 for r in overflow['layers'] if r['outside'])
    print(f"overflow         {n_bad} of {len(overflow['layers'])} quantizers get test values outside their firmware "
          f"range ({what}, {overflow['samples']} samples)")
    for line in format_overflow_table(overflow['layers'], count_line=False).splitlines():
        print(f'  {line}')
