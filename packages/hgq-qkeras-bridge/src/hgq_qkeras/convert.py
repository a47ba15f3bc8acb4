"""QKeras model -> proxy model."""

from __future__ import annotations

import warnings

import keras

from HGQ._keras_compat import keras_history

from .context import Context, Options, ProxyTensor
from .environment import LEGACY, check_environment, qkeras_flavour
from .errors import QKerasConversionError
from .graph import model_io, run_graph
from .layers import convert_layer, wide_input_error

DEFAULT_UNARY_LUT_MAX_TABLE_SIZE = 65536


def is_qkeras_model(model) -> bool:
    """Whether ``model`` is a Keras 2 (tf_keras) or Keras 3 model containing at least one QKeras layer."""
    from .entry_point import converter

    return converter.can_convert(model)


def _input_name(t) -> str:
    history = keras_history(t)  # tf_keras tensors carry the same attribute
    layer = history[0] if history is not None else None
    return getattr(layer, 'name', None) or getattr(t, 'name', 'input')


def to_proxy_model(
    qmodel,
    unary_lut_max_table_size: int = DEFAULT_UNARY_LUT_MAX_TABLE_SIZE,
    name: str | None = None,
    strict: bool = False,
    calibration_data=None,
) -> keras.Model:
    """Converts a QKeras model into a bit-exact Keras 3 proxy model for hls4ml.

    The proxy holds plain Keras layers with QKeras's quantized weights, one ``HGQ.proxy.FixedPointQuantizer``
    per QKeras fixed-point activation quantizer, and ``HGQ.proxy.UnaryLUT`` tables (computed with QKeras's own
    functions) for the others. On inputs that lie on the input quantizer's grid and in its range, it gives the
    same outputs as the QKeras model, bit for bit.

    Args:
        qmodel: A built QKeras model: QKeras 0.9 on tf_keras (the process must run with ``TF_USE_LEGACY_KERAS=1``
            set before TensorFlow is imported) or qkeras-v3 on Keras 3. Every input must be followed by a
            ``QActivation`` with a fixed-point quantizer.
        unary_lut_max_table_size: Largest lookup table (entries) allowed for quantizers that are not plain
            fixed-point casts (quantized_tanh, quantized_sigmoid, binary, ternary, po2, ...).
        name: Name of the proxy model (default ``<qmodel.name>_proxy``).
        strict: Refuse every layer that QKeras itself rounds in float32 (a ``QBatchNormalization`` whose scale
            ``gamma/sqrt(variance + epsilon)`` is not a power of two, e.g. with the default ``epsilon=1e-3``), so
            that the proxy equals QKeras bit for bit or there is no proxy. With ``strict=False`` (default) such a
            layer becomes an exact ``x * scale + offset`` in float64 (what the firmware computes), followed by
            its quantizer in float64; the proxy then equals the firmware bit for bit and QKeras wherever
            QKeras's float32 rounding does not cross a quantization step.
        calibration_data: Inputs (an array, or a list for several inputs) on which the agreement between QKeras
            and the proxy is counted when ``strict=False`` made such a layer; a warning gives the count when it
            is not 100%. Without it the warning says the agreement was not measured.

    Returns:
        The proxy model (Keras 3).

    Raises:
        LegacyKerasError: QKeras 0.9 without ``TF_USE_LEGACY_KERAS=1``.
        UnsupportedQKerasError: a layer, quantizer or option has no bit-exact equivalent (the message names the
            layer and the quantizer and says what to change).
    """
    if qkeras_flavour() == LEGACY:
        check_environment()
    if not hasattr(qmodel, 'layers') or not hasattr(qmodel, 'inputs'):
        raise QKerasConversionError(
            f'to_proxy_model expects a QKeras (tf_keras or Keras 3) model, got {type(qmodel).__module__}.'
            f'{type(qmodel).__name__}.'
        )
    if int(unary_lut_max_table_size) < 1:
        raise ValueError(f'unary_lut_max_table_size must be positive, got {unary_lut_max_table_size!r}.')
    ctx = Context(Options(unary_lut_max_table_size=int(unary_lut_max_table_size), strict=bool(strict)))
    q_inputs, _ = model_io(qmodel)
    values = []
    for t in q_inputs:
        input_name = ctx.name(_input_name(t))
        shape = tuple(None if s is None else int(s) for s in t.shape[1:])
        values.append(ProxyTensor(keras.Input(shape=shape, name=input_name), None, True, input_name))
    outputs = run_graph(qmodel, values, lambda layer, xs: convert_layer(ctx, layer, xs))
    raw = [o.origin for o in outputs if o.raw_input]
    if raw:
        raise QKerasConversionError(f'Model output(s) come straight from the input(s) {raw}; nothing to convert.')
    for o in outputs:
        if o.wide:
            raise wide_input_error('the model output', o)
    ins = [v.tensor for v in values]
    outs = [o.tensor for o in outputs]
    proxy = keras.Model(
        ins[0] if len(ins) == 1 else ins, outs[0] if len(outs) == 1 else outs, name=name or f'{qmodel.name}_proxy'
    )
    if ctx.rounded_in_qkeras:
        _report_agreement(qmodel, proxy, ctx.rounded_in_qkeras, calibration_data)
    return proxy


def _report_agreement(qmodel, proxy, layers: dict[str, list[str]], data) -> None:
    """Warns that QKeras rounds where the proxy does not, with the agreement on ``data`` when it is given."""
    from .qkeras_agreement import agreement

    reasons = '; '.join(f'{name!r}: {", and ".join(why)}' for name, why in layers.items())
    what = f'QBatchNormalization layer(s) where QKeras computes differently from the firmware ({reasons})'
    if data is None:
        warnings.warn(f'{what}. The agreement with QKeras was not measured: pass calibration_data=... to count it '
                      '(strict=True refuses the layers whose scale is not a power of two).', stacklevel=3)
        return
    equal, total = agreement(qmodel, proxy, data)
    if equal < total:
        warnings.warn(f'{what}. The proxy (and the firmware) equal QKeras on {equal} of {total} outputs of '
                      f'calibration_data ({total - equal} differ by a quantization step where QKeras\'s float32 '
                      'rounding crosses one); strict=True refuses the layers whose scale is not a power of two.',
                      stacklevel=3)
