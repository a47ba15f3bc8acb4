"""C++ generation of the plugin's casts and lookups (`hgq_hls4ml.codegen`), checked as text. Fast: no hls4ml
project, no g++ (the C-simulation suites compile the same code)."""

import numpy as np
import pytest

from hgq_hls4ml import codegen as C


def test_element_types():
    assert C.element_type(1, 6, 3, 'RND', 'SAT', 'Vivado') == 'ap_fixed<6, 3, AP_RND, AP_SAT>'
    assert C.element_type(0, 6, 3, 'TRN', 'WRAP_SM', 'Vitis') == 'ap_ufixed<6, 3, AP_TRN, AP_WRAP>'
    assert C.element_type(1, 6, 3, 'RND', 'SAT', 'Catapult') == 'ac_fixed<6, 3, true, AC_RND, AC_SAT>'
    assert C.element_type(0, 6, 3, 'TRN', 'WRAP_SM', 'Quartus') == 'ac_fixed<6, 3, false, AC_TRN, AC_WRAP>'
    with pytest.raises(NotImplementedError, match='WRAP_SM'):
        C.element_type(1, 6, 3, 'TRN', 'WRAP_SM', 'oneAPI')


def test_reads_beyond_msb_and_widening():
    # fixed<4, -2> (values below 2**-2) rounded to 1 fractional bit reads bit 2**-2, above its MSB 2**-3
    assert C.reads_beyond_msb(4, -2, 2, 1)
    assert not C.reads_beyond_msb(4, 0, 2, 1)
    wide = C.widened_source((1, 4, -2), 2, 1, 'Vivado')
    assert wide == 'ap_fixed<6, 0, AP_TRN, AP_WRAP>'
    assert C.widened_source((1, 4, 0), 2, 1, 'Vivado') is None
    assert C.widened_source(None, 2, 1, 'Vivado') is None


def _kbi(k, b, i):
    return tuple(np.asarray(a, dtype=np.int64) for a in (k, b, i))


def test_parallel_homogeneous_is_a_loop():
    body = C.cast_body(_kbi([1] * 4, [5] * 4, [2] * 4), 'RND', 'SAT', 'io_parallel', 'Vivado')
    assert 'for (unsigned j = 0; j < 4; j++)' in body and '#pragma HLS UNROLL' in body
    assert 'res[j] = ap_fixed<5, 2, AP_RND, AP_SAT>(data[j]);' in body


def test_parallel_heterogeneous_casts_each_element():
    body = C.cast_body(_kbi([1, 0, 1], [5, 3, 0], [2, 1, 0]), 'TRN', 'WRAP', 'io_parallel', 'Vivado')
    lines = [ln.strip() for ln in body.splitlines()]
    assert lines == ['res[0] = ap_fixed<5, 2, AP_TRN, AP_WRAP>(data[0]);',
                     'res[1] = ap_ufixed<3, 1, AP_TRN, AP_WRAP>(data[1]);',
                     'res[2] = 0;']  # a pruned element is a constant zero


def test_stream_grouped_switches_on_word_groups():
    kbi = _kbi([1] * 4, [5, 5, 3, 3], [2, 2, 1, 1])
    body = C.cast_body(kbi, 'TRN', 'WRAP', 'io_stream', 'Vivado', in_pack=2, out_pack=2)
    assert 'static const unsigned short group[2] = {0, 1};' in body or 'group[2] = {1, 0};' in body
    assert body.count('case ') == 2 and 'PRAGMA_DATA_PACK(out_word)' in body
    same = C.cast_body(_kbi([1] * 4, [5] * 4, [2] * 4), 'TRN', 'WRAP', 'io_stream', 'Vivado', in_pack=2, out_pack=2)
    assert 'switch' not in same and 'group[' not in same


def test_stream_repacking_buffers():
    body = C.cast_body(_kbi([1] * 4, [5] * 4, [2] * 4), 'TRN', 'WRAP', 'io_stream', 'Catapult', in_pack=4, out_pack=1)
    assert 'buf_in[4]' in body and 'buf_out[4]' in body
    assert 'j < 4; j++) buf_in' in body and 'j < 1; j++) out_word' in body
    assert 'PRAGMA' not in body  # ac_fixed backends have no HLS pragmas


def test_quantizer_function_signature():
    src = C.quantizer_function('hgq_quantize_3', _kbi([1], [4], [2]), 'TRN', 'WRAP', 'io_parallel', 'Vivado')
    assert src.startswith('template <class data_T, class res_T>\nvoid hgq_quantize_3(data_T data[1], res_T res[1]) {')
    assert '#pragma HLS INLINE' in src
    stream = C.quantizer_function('f', _kbi([1], [4], [2]), 'TRN', 'WRAP', 'io_stream', 'Catapult', 1, 1)
    assert 'ac_channel<data_T> &data, ac_channel<res_T> &res' in stream and 'pragma' not in stream


def test_lut_body_indexes_by_raw_bits():
    body = C.lut_body((1, 2, 3), 8, 'io_parallel', 'Catapult', 'table')
    assert ('table[ac_int<6, false>(ac_fixed<6, 3, true, AC_RND_CONV, AC_WRAP>(data[j])'
            '.template slc<6>(0)).to_uint()]') in body
    stream = C.lut_body((0, 2, 2), 8, 'io_stream', 'Quartus', 'table')
    assert 'lut_buffer[8]' in stream and 'res.write(out_word);' in stream
