"""C++ generation for the plugin's quantizer layers: one function per quantizer that casts every element
to its own fixed-point type, for io_parallel (arrays) and io_stream (streams of packed arrays)."""

from __future__ import annotations

import numpy as np

AC_BACKENDS = ('quartus', 'oneapi', 'catapult')


def element_type(k: int, b: int, i: int, rnd: str, sat: str, backend: str) -> str:
    """C++ type of one element: ``ap_[u]fixed<B, I, AP_RND, AP_SAT>`` or the ``ac_fixed`` equivalent."""
    if backend.lower() in AC_BACKENDS:
        if sat == 'WRAP_SM' and k:
            raise NotImplementedError(
                f'ac_fixed (backend {backend}) has no sign-magnitude wrap (WRAP_SM); use WRAP or SAT, '
                'or a Vivado/Vitis backend.'
            )
        sat = 'WRAP' if sat == 'WRAP_SM' else sat
        return f'ac_fixed<{b}, {i}, {"true" if k else "false"}, AC_{rnd}, AC_{sat}>'
    if not k and sat == 'WRAP_SM':
        sat = 'WRAP'  # ap_ufixed has no sign-magnitude wrap; unsigned wrap is the same thing
    u = '' if k else 'u'
    return f'ap_{u}fixed<{b}, {i}, AP_{rnd}, AP_{sat}>'


SourceType = tuple[int, int, int]
"""``(signed, width, integer bits incl. sign)`` of the elements a quantizer reads."""


def reads_beyond_msb(width: int, integer: int, b: int, i: int) -> bool:
    """Whether casting ``fixed<width, integer>`` to ``b`` bits with ``i`` integer bits rounds at a bit above the
    source's MSB (ap_fixed reads the bit below the new LSB: index ``frac - (b - i) - 1`` of the source)."""
    frac = width - integer
    return frac > b - i and width <= frac - (b - i) - 1


def widened_source(src: SourceType | None, b: int, i: int, backend: str) -> str | None:
    """An exact intermediate type for casting ``src`` to a ``b``-bit type with ``i`` integer bits, or None.

    Rounding to ``f = b - i`` fractional bits reads the source bit just below the new LSB; when the source's
    MSB lies below that bit (every value is smaller than half an LSB), ap_fixed's C simulation aborts
    ("Attempting to read bit beyond MSB"). Widening the source's integer part first keeps every value and gives
    the cast the bit it reads.
    """
    if src is None:
        return None
    signed, width, integer = src
    frac = width - integer
    if not reads_beyond_msb(width, integer, b, i):
        return None
    new_integer = i - b + 1
    return element_type(int(signed), frac + new_integer, new_integer, 'TRN', 'WRAP', backend)


def _cast_lines(kbi, rnd, sat, backend, in_expr, out_expr, indices, src: SourceType | None = None) -> list[str]:
    k, b, i = kbi
    lines = []
    for n, idx in indices:
        if b[idx] <= 0:
            lines.append(f'{out_expr(n)} = 0;')
        else:
            t = element_type(int(k[idx]), int(b[idx]), int(i[idx]), rnd, sat, backend)
            wide = widened_source(src, int(b[idx]), int(i[idx]), backend)
            x = in_expr(n) if wide is None else f'{wide}({in_expr(n)})'
            lines.append(f'{out_expr(n)} = {t}({x});')
    return lines


def _homogeneous(kbi) -> bool:
    return all(np.unique(a).size == 1 for a in kbi)


STREAM_CLASS = {'catapult': 'ac_channel', 'quartus': 'stream'}
"""Stream class per backend (hls::stream otherwise)."""


def _stream_cls(backend: str) -> str:
    return STREAM_CLASS.get(backend.lower(), 'hls::stream')


def _pack_pragma(backend: str, var: str) -> str:
    return '' if backend.lower() in AC_BACKENDS else f'PRAGMA_DATA_PACK({var})'


def cast_body(kbi, rnd: str, sat: str, io_type: str, backend: str, in_pack: int | None = None,
              out_pack: int | None = None, data: str = 'data', res: str = 'res', data_t: str = 'data_T',
              res_t: str = 'res_T', src: SourceType | None = None) -> str:
    """Statements casting element ``j`` of ``data`` to its own type into ``res`` (arrays or streams)."""
    k, b, i = (np.asarray(a).ravel() for a in kbi)
    n = k.size
    kbi = (k, b, i)
    if io_type != 'io_stream':
        if _homogeneous(kbi):
            line = _cast_lines(kbi, rnd, sat, backend, lambda j: f'{data}[j]', lambda j: f'{res}[j]', [(0, 0)], src)[0]
            unroll = '' if backend.lower() in AC_BACKENDS else '        #pragma HLS UNROLL\n'
            return f'    for (unsigned j = 0; j < {n}; j++) {{\n{unroll}        {line}\n    }}\n'
        lines = _cast_lines(kbi, rnd, sat, backend, lambda j: f'{data}[{j}]', lambda j: f'{res}[{j}]',
                            [(j, j) for j in range(n)], src)
        return ''.join(f'    {ln}\n' for ln in lines)
    if in_pack is not None and in_pack == out_pack and n % in_pack == 0:
        return _stream_grouped(kbi, rnd, sat, backend, in_pack, data, res, data_t, res_t, src)
    return _stream_buffered(kbi, rnd, sat, backend, in_pack or 1, out_pack or 1, data, res, data_t, res_t, src)


def quantizer_function(name: str, kbi, rnd: str, sat: str, io_type: str, backend: str,
                       in_pack: int | None = None, out_pack: int | None = None, src: SourceType | None = None) -> str:
    """Source of ``template <data_T, res_T> void <name>(in, out)`` casting element ``j`` to its own type.

    Args:
        name: Function name.
        kbi: ``(k, B, I)`` integer arrays (flattened in memory order).
        rnd, sat: Rounding and overflow modes.
        io_type: ``io_parallel`` or ``io_stream``.
        backend: hls4ml backend name.
        in_pack, out_pack: Elements per stream word of the input and output (io_stream only).
        src: The input element type (see `widened_source`); None if unknown.
    """
    n = int(np.asarray(kbi[0]).size)
    inline = '' if backend.lower() in AC_BACKENDS else '    #pragma HLS INLINE\n'
    body = cast_body(kbi, rnd, sat, io_type, backend, in_pack, out_pack, src=src)
    if io_type == 'io_stream':
        cls = _stream_cls(backend)
        args = f'{cls}<data_T> &data, {cls}<res_T> &res'
    else:
        args = f'data_T data[{n}], res_T res[{n}]'
    return f'template <class data_T, class res_T>\nvoid {name}({args}) {{\n{inline}{body}}}\n'


def _stream_grouped(kbi, rnd, sat, backend, pack: int, data, res, data_t, res_t, src=None) -> str:
    k, b, i = kbi
    n = k.size
    n_words = n // pack
    rows = np.stack([k, b, i], axis=-1).reshape(n_words, pack * 3)
    groups, inverse = np.unique(rows, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    cases = []
    for g in range(groups.shape[0]):
        base = int(np.argmax(inverse == g)) * pack
        cases.append(_cast_lines(kbi, rnd, sat, backend, lambda j: f'in_word[{j}]', lambda j: f'out_word[{j}]',
                                 [(j, base + j) for j in range(pack)], src))
    if len(cases) == 1:
        body = ''.join(f'        {ln}\n' for ln in cases[0])
        table = ''
    else:
        table = f'    static const unsigned short group[{n_words}] = {{{", ".join(str(int(v)) for v in inverse)}}};\n'
        body = '        switch (group[w]) {\n'
        for g, lines in enumerate(cases):
            body += f'        case {g}:\n' + ''.join(f'            {ln}\n' for ln in lines) + '            break;\n'
        body += '        }\n'
    pipeline = '' if backend.lower() in AC_BACKENDS else '        #pragma HLS PIPELINE\n'
    pack_pragma = _pack_pragma(backend, 'out_word')
    return (
        f'{table}'
        f'    for (unsigned w = 0; w < {n_words}; w++) {{\n'
        f'{pipeline}'
        f'        {data_t} in_word = {data}.read();\n'
        f'        {res_t} out_word;\n'
        f'        {pack_pragma}\n'
        f'{body}'
        f'        {res}.write(out_word);\n'
        f'    }}\n'
    )


def _stream_buffered(kbi, rnd, sat, backend, in_pack: int, out_pack: int, data, res, data_t, res_t, src=None) -> str:
    k, b, i = kbi
    n = k.size
    lines = _cast_lines(kbi, rnd, sat, backend, lambda j: f'buf_in[{j}]', lambda j: f'buf_out[{j}]',
                        [(j, j) for j in range(n)], src)
    body = ''.join(f'    {ln}\n' for ln in lines)
    pack_pragma = _pack_pragma(backend, 'out_word')
    return (
        f'    typename {data_t}::value_type buf_in[{n}];\n'
        f'    typename {res_t}::value_type buf_out[{n}];\n'
        f'    for (unsigned w = 0; w < {n // in_pack}; w++) {{\n'
        f'        {data_t} in_word = {data}.read();\n'
        f'        for (unsigned j = 0; j < {in_pack}; j++) buf_in[w * {in_pack} + j] = in_word[j];\n'
        f'    }}\n'
        f'{body}'
        f'    for (unsigned w = 0; w < {n // out_pack}; w++) {{\n'
        f'        {res_t} out_word;\n'
        f'        {pack_pragma}\n'
        f'        for (unsigned j = 0; j < {out_pack}; j++) out_word[j] = buf_out[w * {out_pack} + j];\n'
        f'        {res}.write(out_word);\n'
        f'    }}\n'
    )


def lut_body(kif_in, n: int, io_type: str, backend: str, table: str, data: str = 'data', res: str = 'res',
             data_t: str = 'data_T', res_t: str = 'res_T') -> str:
    """Statements of a unary lookup table for the ac_fixed backends: each input is cast to the table's input
    format and its raw bits index ``table``."""
    k, i, f = (int(v) for v in kif_in)
    b = k + i + f
    idx_t = element_type(k, b, k + i, 'RND_CONV', 'WRAP', backend)
    lookup = lambda x: f'{table}[ac_int<{b}, false>({idx_t}({x}).template slc<{b}>(0)).to_uint()]'  # noqa: E731
    if io_type != 'io_stream':
        return f'    for (unsigned j = 0; j < {n}; j++) {{\n        {res}[j] = {lookup(f"{data}[j]")};\n    }}\n'
    # the input and output streams may pack different numbers of elements per word (e.g. after a Flatten):
    # look every element up into a buffer, then repack
    return (
        f'    typename {res_t}::value_type lut_buffer[{n}];\n'
        f'    for (unsigned w = 0; w < {n} / {data_t}::size; w++) {{\n'
        f'        {data_t} in_word = {data}.read();\n'
        f'        for (unsigned j = 0; j < {data_t}::size; j++) '
        f'lut_buffer[w * {data_t}::size + j] = {lookup("in_word[j]")};\n'
        f'    }}\n'
        f'    for (unsigned w = 0; w < {n} / {res_t}::size; w++) {{\n'
        f'        {res_t} out_word;\n'
        f'        for (unsigned j = 0; j < {res_t}::size; j++) out_word[j] = lut_buffer[w * {res_t}::size + j];\n'
        f'        {res}.write(out_word);\n'
        f'    }}\n'
    )
