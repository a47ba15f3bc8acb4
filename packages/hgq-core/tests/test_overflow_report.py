"""HGQ.overflow_report: exact counts of the values outside the firmware types, for HGQ models and proxies, and the
float32 accumulator notice (also logged by trace_minmax)."""

import logging
import math

import keras
import numpy as np
import pytest

import HGQ
from HGQ import HDense, HQuantize, PConcatenate, overflow_report, to_proxy_model, trace_minmax
from HGQ.overflow import accumulator_bits, format_overflow_table

# On a 0.25 grid. Per feature the traced range is within [-1, 0.75]: q's type is fixed<3, 1> (k=1, i=0, f=2),
# holding [-1, 1). d = x @ [[1, 0], [1, 0], [0, 0.5]] takes [-0.5, 0.25] in both outputs: fixed<2, 0> (i=-1),
# holding [-0.5, 0.5).
CALIB = np.array([[-1, 0.5, 0.5], [0.75, -0.5, -1], [0.5, -1, 0], [-0.5, 0.75, 0.5], [0, 0, -0.5]], 'float32')
KERNEL = np.array([[1, 0], [1, 0], [0, 0.5]], 'float32')


def _layers(kernel=KERNEL, f_in=2.0, f_w=4.0):
    q = HQuantize(name='q')
    d = HDense(2, use_bias=False, name='d')
    return q, d, (lambda: _set(q, d, kernel, f_in, f_w))


def _set(q, d, kernel, f_in, f_w):
    d.kernel.assign(kernel)
    q.paq.fbw.assign(np.full(q.paq.fbw.shape, f_in, 'float32'))
    d.kq.fbw.assign(np.full(d.kq.fbw.shape, f_w, 'float32'))
    d.paq.fbw.assign(np.full(d.paq.fbw.shape, 2.0, 'float32'))


def _model(kernel=KERNEL, f_in=2.0, f_w=4.0, trace=True):
    q, d, setup = _layers(kernel, f_in, f_w)
    inp = keras.Input((3,), name='x')
    model = keras.Model(inp, d(q(inp)), name='small')
    setup()
    if trace:
        trace_minmax(model, CALIB, verbose=False)
    return model


def _by_name(report):
    return {r['layer']: r for r in report}


def test_the_traced_types_are_the_ones_the_numbers_below_assume():
    model = _model()
    k, i, f = model.get_layer('q').paq.get_bits_exact()
    assert k.tolist() == [[1, 1, 1]] and i.tolist() == [[0, 0, 0]] and f.tolist() == [[2, 2, 2]]
    k, i, f = model.get_layer('d').paq.get_bits_exact()
    assert k.tolist() == [[1, 1]] and i.tolist() == [[-1, -1]] and f.tolist() == [[2, 2]]


def test_calibration_data_has_no_overflow():
    report = overflow_report(_model(), CALIB)
    assert [(r['layer'], r['outside'], r['total'], r['samples'], r['max_excess_bits']) for r in report] == [
        ('q', 0, 15, 0, 0.0), ('d', 0, 10, 0, 0.0)]


# the inputs stay inside q's range; d's sums leave [-0.5, 0.5): 1.5 (log2(1.5 / 0.5) bits), -2 (2 bits) and 0.5
# (exactly the bound: 0 bits, outside all the same); -0.5 is the lowest value held
SUMS_OUTSIDE = np.array([[0.75, 0.75, 0.5], [-1, -1, -1], [0.25, 0.25, 0.5], [-1, 0.5, 0.5]], 'float32')
# q's inputs leave [-1, 1): 3 (log2 3 bits), -4 (2 bits), 1 (0 bits) in rows 0 and 2; -1 and 0.75 are held
INPUTS_OUTSIDE = np.array([[3, 0.5, 0.5], [-1, 0.75, 0], [-4, 0, 1], [0, 0, 0]], 'float32')


def test_values_outside_the_traced_range_of_a_dense_layer():
    report = _by_name(overflow_report(_model(), SUMS_OUTSIDE))
    assert report['q']['outside'] == 0 and report['q']['max_excess_bits'] == 0.0
    d = report['d']
    assert (d['outside'], d['total'], d['samples'], d['max_excess_bits']) == (3, 8, 3, 2.0)


def test_values_outside_the_range_of_the_input_quantizer():
    q = _by_name(overflow_report(_model(), INPUTS_OUTSIDE))['q']
    assert (q['outside'], q['total'], q['samples'], q['max_excess_bits']) == (3, 12, 2, 2.0)
    one = _by_name(overflow_report(_model(), INPUTS_OUTSIDE[:1]))['q']
    assert (one['outside'], one['samples']) == (1, 1)
    assert one['max_excess_bits'] == pytest.approx(math.log2(3), abs=1e-6)


@pytest.mark.parametrize('data', ['sums', 'inputs'])
def test_proxy_and_hgq_model_agree_up_to_the_first_overflow(data):
    model = _model()
    proxy = to_proxy_model(model)
    x = SUMS_OUTSIDE if data == 'sums' else INPUTS_OUTSIDE
    h = _by_name(overflow_report(model, x))
    p = _by_name(overflow_report(proxy, x))
    assert set(p) == {'q', 'd_quantizer'}
    keys = ('outside', 'total', 'samples', 'max_excess_bits', 'accumulator_bits')
    assert [p['q'][k] for k in keys] == [h['q'][k] for k in keys]
    if data == 'sums':  # the first overflow is in d: both see the same sums
        assert [p['d_quantizer'][k] for k in keys] == [h['d'][k] for k in keys]


def test_batches_give_the_same_counts_and_ranges_are_left_alone():
    model = _model()
    before = [np.array(v) for v in (model.get_layer('d').paq._min, model.get_layer('d').paq._max)]
    x = np.concatenate([SUMS_OUTSIDE] * 5)
    whole = overflow_report(model, x)
    assert overflow_report(model, x, bsz=3) == whole
    assert _by_name(whole)['d']['outside'] == 15
    after = [np.array(v) for v in (model.get_layer('d').paq._min, model.get_layer('d').paq._max)]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    # the model still records ranges normally afterwards
    trace_minmax(model, x, verbose=False)
    assert overflow_report(model, x)[1]['outside'] == 0


def test_relu_layer_checks_before_and_after_the_relu():
    q = HQuantize(name='q')
    d = HDense(1, activation='relu', name='d')
    inp = keras.Input((1,))
    model = keras.Model(inp, d(q(inp)))
    d.kernel.assign([[1.0]])
    d.kq.fbw.assign(np.full(d.kq.fbw.shape, 4.0, 'float32'))
    trace_minmax(model, np.array([[-1.0], [0.5]], 'float32'), verbose=False)
    # before the ReLU the sum has the type of the traced range [-1, 0.5]: fixed<3, 1>, holding [-1, 1); after
    # it ufixed<2, 0>, holding [0, 1). -2 wraps before the ReLU (1 bit), which the ReLU output would hide
    r = _by_name(overflow_report(model, np.array([[-2.0], [0.75], [-0.5], [0.0]], 'float32')))['d']
    assert (r['outside'], r['samples'], r['max_excess_bits']) == (1, 1, 1.0)
    r = _by_name(overflow_report(model, np.array([[1.5], [-1.0]], 'float32')))['d']
    assert (r['outside'], r['max_excess_bits']) == (1, pytest.approx(math.log2(1.5)))


def _two_input_nested_model():
    inner_in = keras.Input((4,))
    inner = keras.Model(inner_in, HDense(2, name='inner_d')(HQuantize(name='inner_q')(inner_in)), name='inner')
    a, b = keras.Input((2,), name='a'), keras.Input((2,), name='b')
    qa, qb = HQuantize(name='qa'), HQuantize(name='qb')
    y = inner(PConcatenate(name='cat')([qa(a), qb(b)]))
    model = keras.Model([a, b], y, name='outer')
    calib = [np.array([[-1, 0.5], [0.5, -0.25]], 'float32'), np.array([[0.25, 0.75], [-0.5, -1]], 'float32')]
    for q in (qa, qb):
        q.paq.fbw.assign(np.full(q.paq.fbw.shape, 2.0, 'float32'))
    trace_minmax(model, calib, verbose=False)
    return model, calib


def test_nested_model_with_two_inputs():
    model, calib = _two_input_nested_model()
    x = [np.array([[0.5, 0.5], [2.5, 0]], 'float32'), np.array([[-3, 0], [0, 0]], 'float32')]
    report = _by_name(overflow_report(model, x))
    assert set(report) == {'qa', 'qb', 'inner_q', 'inner_d'}
    # qa holds [-1, 1) in both features, qb [-0.5, 0.5) in the first (traced [-0.5, 0.25]): 2.5 (row 1 of a,
    # log2 2.5 bits) and -3 (row 0 of b, log2 6 bits) are outside
    assert (report['qa']['outside'], report['qa']['samples']) == (1, 1)
    assert (report['qb']['outside'], report['qb']['samples']) == (1, 1)
    assert report['qa']['max_excess_bits'] == pytest.approx(math.log2(2.5))
    assert report['qb']['max_excess_bits'] == pytest.approx(math.log2(6))
    assert report['inner_d']['accumulator_bits'] is not None
    assert overflow_report(model, {'a': x[0], 'b': x[1]}) == list(report.values())


def test_verbose_prints_the_table_with_overflows_first(capsys):
    report = overflow_report(_model(), SUMS_OUTSIDE, verbose=True)
    out = capsys.readouterr().out
    assert out.strip() == format_overflow_table(report)
    lines = out.splitlines()
    assert lines[0].split()[:2] == ['layer', 'outside']
    assert lines[1].split()[:4] == ['d', '3', '8', '3'] and lines[1].split()[4] == '2.00'
    assert lines[2].split()[:2] == ['q', '0']
    assert '1 of 2 quantizers have values outside' in out


# ----------------------------------------------------------------------------------------- float32 notice
def test_narrow_accumulator_is_float32_exact(caplog):
    with caplog.at_level(logging.WARNING, logger='HGQ'):
        model = _model()
    # k + i of d's output: 1 + (-1); fractional bits: 2 (inputs) + 1 (weight 0.5) = 3
    assert accumulator_bits(model.get_layer('d')) == 3
    d = _by_name(overflow_report(model, CALIB))['d']
    assert (d['accumulator_bits'], d['float32_exact']) == (3, True)
    assert _by_name(overflow_report(model, CALIB))['q']['accumulator_bits'] is None
    assert not [r for r in caplog.records if 'float32' in r.getMessage()]


def test_wide_accumulator_is_named_by_trace_minmax_and_the_report(caplog):
    kernel = KERNEL.copy()
    kernel[0, 0] = 1 + 2.0**-14  # 14 fractional bits; the inputs have 12: the products have 26
    with caplog.at_level(logging.WARNING, logger='HGQ'):
        model = _model(kernel, f_in=12.0, f_w=14.0)
    k, i, _ = model.get_layer('d').paq.get_bits_exact()
    expected = int(np.max(k)) + int(np.max(i)) + 26
    assert expected > 24 and accumulator_bits(model.get_layer('d')) == expected
    notes = [r.getMessage() for r in caplog.records if 'float32' in r.getMessage()]
    assert len(notes) == 1 and f"'d' ({expected} bits)" in notes[0] and 'trace_minmax' in notes[0]
    d = _by_name(overflow_report(model, CALIB))['d']
    assert (d['accumulator_bits'], d['float32_exact']) == (expected, False)
    proxy = _by_name(overflow_report(to_proxy_model(model), CALIB))['d_quantizer']
    assert (proxy['accumulator_bits'], proxy['float32_exact']) == (expected, False)
    assert 'float32: accumulators wider than float32' in format_overflow_table(overflow_report(model, CALIB))


# ------------------------------------------------------------------------------------------------ errors
def test_untraced_model_is_refused():
    with pytest.raises(ValueError, match=r"model 'small' is not traced: layers \['q', 'd'\].*HGQ\.trace_minmax"):
        overflow_report(_model(trace=False), CALIB)


def test_data_of_the_wrong_shape_is_refused():
    model = _model()
    with pytest.raises(ValueError, match=r"input 'x' has shape \(5, 4\).*\(None, 3\).*\(n_samples, 3\)"):
        overflow_report(model, np.zeros((5, 4), 'float32'))
    with pytest.raises(ValueError, match=r'has shape \(5,\).*\(n_samples, 3\)'):
        overflow_report(model, np.zeros((5,), 'float32'))
    with pytest.raises(ValueError, match='0 samples'):
        overflow_report(model, np.zeros((0, 3), 'float32'))
    with pytest.raises(ValueError, match='data is None'):
        overflow_report(model, None)


def test_data_for_several_inputs_is_checked():
    model, calib = _two_input_nested_model()
    with pytest.raises(ValueError, match=r"one array of shape \(2, 2\).*2 inputs.*list of 2 arrays"):
        overflow_report(model, calib[0])
    with pytest.raises(ValueError, match=r"a list of 1 arrays.*2 input\(s\)"):
        overflow_report(model, calib[:1])
    with pytest.raises(ValueError, match=r"keys \['c'\].*inputs \['a', 'b'\]"):
        overflow_report(model, {'a': calib[0], 'c': calib[1]})
    with pytest.raises(ValueError, match=r"different numbers of samples \[2, 1\]"):
        overflow_report(model, [calib[0], calib[1][:1]])


def test_model_without_quantizers_is_refused():
    inp = keras.Input((3,))
    plain = keras.Model(inp, keras.layers.Dense(2)(inp), name='plain')
    with pytest.raises(ValueError, match=r"model 'plain' has no activation quantizers.*to_proxy_model"):
        overflow_report(plain, CALIB)
    with pytest.raises(TypeError, match='must be a Keras model.*numpy.ndarray'):
        overflow_report(CALIB, CALIB)
    with pytest.raises(ValueError, match='bsz must be a positive integer, got 0'):
        overflow_report(_model(), CALIB, bsz=0)


def test_exported_at_the_top_level():
    assert HGQ.overflow_report is overflow_report and 'overflow_report' in HGQ.__all__


# ------------------------------------------------------------------------------ hgq convert --test output
def _convert_summary(report):
    return {'model': '/x/small.keras', 'kind': 'hgq', 'ebops': 10.0, 'csim_equal': 8, 'csim_total': 8,
            'bit_exact': True, 'compare_data': 'test', 'backend': 'Vitis', 'io_type': 'io_parallel',
            'hgq_vs_proxy_equal': None, 'hgq_vs_proxy_total': None, 'layers': [], 'versions': {},
            'overflow': {'data': 'test', 'model': 'hgq', 'samples': 4, 'layers': report}}


def test_convert_text_output_shows_the_overflow_table(capsys, tmp_path):
    from HGQ.cli.convert import _print_result

    report = overflow_report(_model(), SUMS_OUTSIDE)
    _print_result(_convert_summary(report), str(tmp_path), with_hls=True)
    out = capsys.readouterr().out
    assert 'overflow         1 of 2 quantizers get test values outside their firmware range (HGQ model, traced ' \
           'ranges, 4 samples)' in out
    table = [line for line in out.splitlines() if line.startswith('  ')]
    assert table[0].split()[:2] == ['layer', 'outside']
    assert table[1].split()[:5] == ['d', '3', '8', '3', '2.00'] and table[2].split()[:2] == ['q', '0']


def test_convert_html_report_has_the_overflow_section(tmp_path):
    from HGQ.report import write_model_report

    kernel = KERNEL.copy()
    kernel[0, 0] = 1 + 2.0**-14
    report = overflow_report(_model(kernel, f_in=12.0, f_w=14.0), SUMS_OUTSIDE)
    write_model_report(str(tmp_path), _convert_summary(report), [])
    page = (tmp_path / 'report.html').read_text()
    assert '<h2>Overflows on the test data</h2>' in page
    assert '<tr class="bad"><td class="l">d</td><td>3</td><td>8</td><td>3</td><td>2.00</td>' in page
    assert 'test values overflowing' in page and 'Accumulators wider than float32 holds exactly' in page
    assert '&gt; 24)' in page
