"""C++ generation for the plugin's quantizer layers: one function per quantizer that casts every element
to its own fixed-point type, for io_parallel (arrays) and io_stream (streams of packed arrays)."""

from __future__ import annotations

import numpy as np

AC_BACKENDS = ('quartus', 'oneapi', 'catapult')


def element_type(k: int, b: int, i: int, rnd: str, sat: str, backend: str) -> str:
    """C++ type of one element: ``ap_[u]fixed<B, I, AP_RND, AP_SAT>`` or the ``ac_fixed`` equivalent."""
    if backend.lower() in AC_BACKENDS:
        sat_ac = {'WRAP_SM': 'WRAP'}.get(sat, sat)
        rnd_ac = {'RND_CONV': 'RND_CONV'}.get(rnd, rnd)
        return f'ac_fixed<{b}, {i}, {"true" if k else "false"}, AC_{rnd_ac}, AC_{sat_ac}>'
    if not k and sat == 'WRAP_SM':
        sat = 'WRAP'  # ap_ufixed has no sign-magnitude wrap; unsigned wrap is the same thing
    u = '' if k else 'u'
    return f'ap_{u}fixed<{b}, {i}, AP_{rnd}, AP_{sat}>'


def _cast_lines(kbi, rnd, sat, backend, in_expr, out_expr, indices) -> list[str]:
    k, b, i = kbi
    lines = []
    for n, idx in indices:
        if b[idx] <= 0:
            lines.append(f'{out_expr(n)} = 0;')
        else:
            t = element_type(int(k[idx]), int(b[idx]), int(i[idx]), rnd, sat, backend)
            lines.append(f'{out_expr(n)} = {t}({in_expr(n)});')
    return lines


def _homogeneous(kbi) -> bool:
    return all(np.unique(a).size == 1 for a in kbi)


def quantizer_function(name: str, kbi, rnd: str, sat: str, io_type: str, backend: str,
                       in_pack: int | None = None, out_pack: int | None = None) -> str:
    """Source of ``template <data_T, res_T> void <name>(in, out)`` casting element ``j`` to its own type.

    Args:
        name: Function name.
        kbi: ``(k, B, I)`` integer arrays (flattened in memory order).
        rnd, sat: Rounding and overflow modes.
        io_type: ``io_parallel`` or ``io_stream``.
        backend: hls4ml backend name.
        in_pack, out_pack: Elements per stream word of the input and output (io_stream only).
    """
    k, b, i = (np.asarray(a).ravel() for a in kbi)
    n = k.size
    kbi = (k, b, i)
    inline = '' if backend.lower() in AC_BACKENDS else '    #pragma HLS INLINE\n'
    if io_type != 'io_stream':
        if _homogeneous(kbi):
            body = _cast_lines(kbi, rnd, sat, backend, lambda j: 'data[j]', lambda j: 'res[j]', [(0, 0)])[0]
            body = f'    for (unsigned j = 0; j < {n}; j++) {{\n        #pragma HLS UNROLL\n        {body}\n    }}\n'
        else:
            lines = _cast_lines(kbi, rnd, sat, backend, lambda j: f'data[{j}]', lambda j: f'res[{j}]', [(j, j) for j in range(n)])
            body = ''.join(f'    {ln}\n' for ln in lines)
        return (
            f'template <class data_T, class res_T>\nvoid {name}(data_T data[{n}], res_T res[{n}]) {{\n'
            f'{inline}{body}}}\n'
        )
    if in_pack is not None and in_pack == out_pack and n % in_pack == 0:
        return _stream_grouped(name, kbi, rnd, sat, backend, in_pack)
    return _stream_buffered(name, kbi, rnd, sat, backend, in_pack or 1, out_pack or 1)


def _stream_grouped(name, kbi, rnd, sat, backend, pack: int) -> str:
    k, b, i = kbi
    n = k.size
    n_words = n // pack
    rows = np.stack([k, b, i], axis=-1).reshape(n_words, pack * 3)
    groups, inverse = np.unique(rows, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    cases = []
    for g in range(groups.shape[0]):
        p0 = int(np.argmax(inverse == g))
        base = p0 * pack
        lines = _cast_lines(kbi, rnd, sat, backend, lambda j: f'in_word[{j}]', lambda j: f'out_word[{j}]',
                            [(j, base + j) for j in range(pack)])
        cases.append(lines)
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
    return (
        f'template <class data_T, class res_T>\n'
        f'void {name}(hls::stream<data_T> &data, hls::stream<res_T> &res) {{\n'
        f'{table}'
        f'    for (unsigned w = 0; w < {n_words}; w++) {{\n'
        f'{pipeline}'
        f'        data_T in_word = data.read();\n'
        f'        res_T out_word;\n'
        f'        PRAGMA_DATA_PACK(out_word)\n'
        f'{body}'
        f'        res.write(out_word);\n'
        f'    }}\n'
        f'}}\n'
    )


def _stream_buffered(name, kbi, rnd, sat, backend, in_pack: int, out_pack: int) -> str:
    k, b, i = kbi
    n = k.size
    lines = _cast_lines(kbi, rnd, sat, backend, lambda j: f'buf_in[{j}]', lambda j: f'buf_out[{j}]', [(j, j) for j in range(n)])
    body = ''.join(f'    {ln}\n' for ln in lines)
    return (
        f'template <class data_T, class res_T>\n'
        f'void {name}(hls::stream<data_T> &data, hls::stream<res_T> &res) {{\n'
        f'    typename data_T::value_type buf_in[{n}];\n'
        f'    typename res_T::value_type buf_out[{n}];\n'
        f'    for (unsigned w = 0; w < {n // in_pack}; w++) {{\n'
        f'        data_T in_word = data.read();\n'
        f'        for (unsigned j = 0; j < {in_pack}; j++) buf_in[w * {in_pack} + j] = in_word[j];\n'
        f'    }}\n'
        f'{body}'
        f'    for (unsigned w = 0; w < {n // out_pack}; w++) {{\n'
        f'        res_T out_word;\n'
        f'        PRAGMA_DATA_PACK(out_word)\n'
        f'        for (unsigned j = 0; j < {out_pack}; j++) out_word[j] = buf_out[w * {out_pack} + j];\n'
        f'        res.write(out_word);\n'
        f'    }}\n'
        f'}}\n'
    )
