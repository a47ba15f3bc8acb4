"""The ``hgq`` command.

::

    hgq demo    [--epochs N] [--output-dir D] [--backend Vivado|Vitis] [--io-type io_parallel|io_stream]
                [--beta-start B0 --beta-end B1] [--seed S] [--max-convert K] ...
    hgq convert MODEL --calib CALIB.npy [--test TEST.npy] [--backend ...] [--io-type ...] [--cover-factor F]
                [--saturate] [--output-dir D]
    hgq report  MODEL --calib CALIB.npy [--output-dir D]

``demo`` trains an HGQ model on scikit-learn's digits over a range of resource budgets, keeps the Pareto front,
converts every front model to hls4ml and checks its C simulation bit for bit. ``convert`` does the last steps for
a saved model (HGQ, HGQ1 or QKeras), ``report`` writes the report without hls4ml. Each writes ``summary.json``,
``report.html`` and PNG figures into its output directory.

Exit status: 0 success (every converted model bit-exact); 1 a C simulation differs from the proxy model, or an
unexpected error; 2 bad input (a missing file, a wrong array, a missing package), reported on one line.
hls4ml is imported only by the commands that convert (``import HGQ`` never imports it).

``summary.json`` (strict JSON; ``schema_version`` 1; keys below are stable, more may be added):

- every command: ``tool`` (``"hgq demo"`` ...), ``schema_version``, ``command``, ``versions`` (package -> version),
  ``layers`` (per H-layer: ``name``, ``type``, ``ebops``, ``kernel_bits_mean``, ``kernel_bits_max``,
  ``kernel_pruned_fraction`` (weights at 0 bits), ``n_weights``, ``act_bits_mean``, ``act_bits_max``,
  ``n_outputs``; the kernel entries are null for layers without a kernel). Kernel bits do not count the sign;
  activation bits do (except after ReLU). For ``demo`` the layers are the chosen model's.
- ``demo``: ``pareto``, the re-traced front sorted by increasing EBOPs, each ``{"epoch", "beta", "accuracy"
  (test accuracy of the proxy model = the firmware), "ebops" (exact, trace_minmax on the training data),
  "csim_equal", "csim_total" (null when not converted), "checkpoint" (path relative to the output directory),
  "val_accuracy", "training_ebops", "hgq_accuracy", "converted"}``; ``chosen``: the index into ``pareto`` of the
  chosen model (whose hls4ml project is ``hls_project``); ``chosen_rule``; ``bit_exact`` (all converted ones);
  ``n_converted``, ``n_bit_exact``, ``compare_samples``; ``dropped_after_retrace`` (entries like ``pareto``'s);
  ``settings``, ``dataset`` (the saved arrays: ``data/calib.npy``, ``data/test.npy``, ``data/test_labels.npy``),
  ``history`` (per-epoch logs), ``seconds``.
- ``convert`` and ``report``: ``model``, ``kind`` (``hgq``, ``qkeras`` or ``proxy``), ``ebops`` (null for
  QKeras and proxy models), ``calib_samples``, ``cover_factor``, ``saturate``, ``hgq_vs_proxy_equal`` /
  ``hgq_vs_proxy_total`` (on the calibration data); ``convert`` also ``csim_equal``, ``csim_total``,
  ``bit_exact``, ``max_abs_diff``, ``compare_data`` (``test`` or ``calib``), ``compare_samples``, ``backend``,
  ``io_type``, ``hls_project``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

__all__ = ['main', 'build_parser']


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error message (and exit status 2)."""

    def error(self, message: str):
        self.exit(2, f'{self.prog}: error: {message} (see {self.prog} --help)\n')


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a positive integer, got {text!r}') from None
    if v < 1:
        raise argparse.ArgumentTypeError(f'expected a positive integer, got {text!r}')
    return v


def _non_negative_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected an integer >= 0, got {text!r}') from None
    if v < 0:
        raise argparse.ArgumentTypeError(f'expected an integer >= 0, got {text!r}')
    return v


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a positive number, got {text!r}') from None
    if not (v > 0 and v < float('inf')):
        raise argparse.ArgumentTypeError(f'expected a positive number, got {text!r}')
    return v


def _fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a number in [0, 1], got {text!r}') from None
    if not 0 <= v <= 1:
        raise argparse.ArgumentTypeError(f'expected a number in [0, 1], got {text!r}')
    return v


def _hls_options(p: argparse.ArgumentParser) -> None:
    p.add_argument('--backend', default='Vivado', choices=['Vivado', 'Vitis'], help='hls4ml backend (default: Vivado)')
    p.add_argument('--io-type', default='io_parallel', choices=['io_parallel', 'io_stream'],
                   help='hls4ml io type (default: io_parallel)')


def build_parser() -> argparse.ArgumentParser:
    from .._version import __version__

    parser = _Parser(
        prog='hgq',
        description='HGQ: train heavily quantized networks, convert them to hls4ml and check the firmware bit for bit.',
        epilog='Exit status: 0 ok (bit-exact), 1 C simulation differs or unexpected error, 2 bad input.',
    )
    parser.add_argument('--version', action='version', version=f'hgq-core {__version__}')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')

    _add_demo_parser(sub)
    _add_convert_parsers(sub)
    return parser


def _add_demo_parser(sub) -> None:
    from .demo import DEFAULT_BETA_END, DEFAULT_BETA_START, DEFAULT_EPOCHS, DEFAULT_MAX_CONVERT

    d = sub.add_parser(
        'demo', help='train on scikit-learn digits for a range of budgets, convert the Pareto front, check, report',
        description='Trains HQuantize -> HDense(32, relu) -> HDense(16, relu) -> HDense(10) on scikit-learn\'s digits '
        'while beta (the resource penalty) rises geometrically, keeps the Pareto front (validation accuracy, EBOPs), '
        're-traces it (exact EBOPs, test accuracy), converts each front model with hls4ml, compares the C simulation '
        'with the proxy model bit for bit, and writes summary.json, report.html, PNGs and the hls4ml project of the '
        'chosen model (the smallest-EBOPs front model within --accuracy-tolerance of the best test accuracy).')
    d.add_argument('--epochs', type=_positive_int, default=DEFAULT_EPOCHS,
                   help=f'training epochs (default: {DEFAULT_EPOCHS})')
    d.add_argument('--output-dir', default='hgq_demo', help='output directory (default: ./hgq_demo)')
    _hls_options(d)
    d.add_argument('--beta-start', type=_positive_float, default=DEFAULT_BETA_START,
                   help=f'beta during the warm-up (first eighth of the epochs) (default: {DEFAULT_BETA_START:g})')
    d.add_argument('--beta-end', type=_positive_float, default=DEFAULT_BETA_END,
                   help=f'beta at the last epoch, reached geometrically (default: {DEFAULT_BETA_END:g})')
    d.add_argument('--seed', type=_non_negative_int, default=0,
                   help='random seed: data split, initial weights (default: 0)')
    d.add_argument('--batch-size', type=_positive_int, default=128, help='training batch size (default: 128)')
    d.add_argument('--learning-rate', type=_positive_float, default=5e-3, help='Adam learning rate (default: 0.005)')
    d.add_argument('--max-convert', type=_non_negative_int, default=DEFAULT_MAX_CONVERT,
                   help='convert at most this many front models (the chosen one always; 0: all) '
                   f'(default: {DEFAULT_MAX_CONVERT})')
    d.add_argument('--jobs', type=_positive_int, default=None,
                   help='g++ builds of the C simulations run at a time (default: the CPUs available, at most 4)')
    d.add_argument('--accuracy-tolerance', type=_fraction, default=0.01,
                   help='choose the smallest model within this test accuracy of the best (default: 0.01)')
    d.set_defaults(func=_run_demo)


def _add_convert_parsers(sub) -> None:
    for name, with_hls in (('convert', True), ('report', False)):
        if with_hls:
            help_ = 'saved model -> trace_minmax -> proxy -> hls4ml project, C simulation checked bit for bit, report'
            desc = ('Loads a saved model (.keras or .h5: HGQ, HGQ1, or QKeras with hgq-qkeras-bridge), traces it on '
                    'the calibration data (trace_minmax: exact ranges and EBOPs), makes the proxy model, converts it '
                    'with hls4ml, compiles the C simulation and compares it with the proxy bit for bit (on --test if '
                    'given, else on the calibration data). Writes the hls4ml project, summary.json and report.html.')
        else:
            help_ = 'per-layer EBOPs and bitwidths of a saved model (summary.json, report.html), without hls4ml'
            desc = ('Loads a saved model, traces it on the calibration data and writes summary.json and report.html '
                    '(per-layer EBOPs, bitwidth distributions); hls4ml is not needed.')
        p = sub.add_parser(name, help=help_, description=desc)
        p.add_argument('model', metavar='MODEL', help='saved model: .keras or .h5')
        p.add_argument('--calib', required=True, metavar='CALIB.npy',
                       help='calibration inputs, shape (N, *input_shape) (.npz with one array per input for several)')
        if with_hls:
            p.add_argument('--test', metavar='TEST.npy', default=None,
                           help='inputs for the bit-exact comparison (default: the calibration inputs)')
            _hls_options(p)
        p.add_argument('--cover-factor', type=_positive_float, default=1.0,
                       help='widen (> 1) each traced range about its middle, for head-room (default: 1)')
        p.add_argument('--saturate', action='store_true',
                       help='saturate on overflow (SAT) instead of wrapping (WRAP, the default, smaller firmware)')
        p.add_argument('--unary-lut-max-table-size', type=int, default=4096, metavar='N',
                       help='activations other than relu become lookup tables of at most N entries (exact); '
                       '<= 0: no tables (default: 4096)')
        p.add_argument('--output-dir', default=None,
                       help=f'output directory (default: ./<model name>_{"hls" if with_hls else "report"})')
        p.set_defaults(func=_run_convert if with_hls else _run_report)


def _run_demo(args) -> int:
    from ._common import default_jobs
    from .demo import run

    if args.jobs is None:
        args.jobs = default_jobs()

    return run(args)


def _run_convert(args) -> int:
    from .convert import run

    return run(args, 'convert', with_hls=True)


def _run_report(args) -> int:
    from .convert import run

    return run(args, 'report', with_hls=False)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs ``hgq`` with ``argv`` (default: ``sys.argv[1:]``) and returns the exit status."""
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
    argv = list(sys.argv[1:] if argv is None else argv)
    from ..report.plots import MissingDependency
    from ._common import CLIError, one_line

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, or a usage error (already printed)
        return int(e.code) if isinstance(e.code, int) else (0 if e.code is None else 2)
    if args.command is None:
        print('hgq: error: choose a command: demo, convert or report (see hgq --help)', file=sys.stderr)
        return 2
    args.argv = argv
    import logging

    logging.getLogger('tensorflow').setLevel(logging.ERROR)  # retracing notes and the like
    prog = f'hgq {args.command}'
    try:
        return int(args.func(args))
    except (CLIError, MissingDependency) as e:
        print(f'{prog}: error: {one_line(e, 1000)}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f'{prog}: interrupted', file=sys.stderr)
        return 130
    except Exception as e:
        if os.environ.get('HGQ_CLI_DEBUG'):
            raise
        print(f'{prog}: unexpected error: {type(e).__name__}: {one_line(e)} (set HGQ_CLI_DEBUG=1 to see the '
              'traceback)', file=sys.stderr)
        return 1
