"""Convolution H-layers: the generic `HConv`, `HConv1D` / `HConv2D`, and their fused-BatchNorm variants.

The output is ``activation(paq(conv(x, kq(kernel)) + bias_q))`` with ``activation`` None, 'linear' or
'relu'. BOPs (spec 2.7) are ``sum(conv(input_bw, kernel_bw)) * parallel_factor / N_pos``, where ``N_pos``
is the number of output positions (spatial axes only, for either data format): the average cost of one
kernel application times the number of applications instantiated in parallel.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from .._keras_compat import BaseConv
from .base import HLayerBase
from .batchnorm_base import HBatchNormBase

_PADDINGS = ('valid', 'same')
_DATA_FORMATS = ('channels_last', 'channels_first')
# Keras classes that fix the rank themselves (they must not be passed `rank`)
_RANKED_KERAS_CONVS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)


def check_conv_arguments(layer_name: str, padding: Any, data_format: Any, groups: Any, parallel_factor: Any) -> None:
    """Validates the arguments HGQ convolutions restrict beyond Keras; raises ValueError saying what to use."""
    if not isinstance(padding, str) or padding.lower() not in _PADDINGS:
        raise ValueError(
            f'{layer_name}: padding={padding!r} is not supported; use "valid" or "same" (for causal 1D '
            'convolutions, pad the input yourself, e.g. with keras.layers.ZeroPadding1D before HQuantize).'
        )
    if data_format is not None and (not isinstance(data_format, str) or data_format.lower() not in _DATA_FORMATS):
        raise ValueError(
            f'{layer_name}: data_format={data_format!r} is not supported; use "channels_last", "channels_first" '
            'or None (the Keras default image_data_format).'
        )
    if groups != 1:
        raise ValueError(
            f'{layer_name}: groups={groups!r} is not supported; HGQ convolutions compute BOPs and firmware for '
            'ungrouped convolutions only. Use groups=1, or split the channels and use one layer per group.'
        )
    if isinstance(parallel_factor, bool) or not isinstance(parallel_factor, (int, np.integer)) or parallel_factor < 1:
        raise ValueError(
            f'{layer_name}: parallel_factor must be a positive integer (the number of kernel applications '
            f'computed in parallel), got {parallel_factor!r}.'
        )


def _output_window(n: int, k: int, stride: int, dilation: int, padding: str) -> tuple[int, int, int]:
    """Output length and the padding before and after one spatial axis (TensorFlow/XLA 'same' convention)."""
    effective = (k - 1) * dilation + 1
    if padding != 'same':
        return (n - effective) // stride + 1, 0, 0
    out = -(-n // stride)
    total = max((out - 1) * stride + effective - n, 0)
    return out, total // 2, total - total // 2


# A layer's tap coverage holds (input positions) x (kernel taps) float32 values; above this many (16 MB), its BOPs term
# is the sum of a convolution of the bitwidth maps instead.
MAX_COVERAGE_SIZE = 1 << 22


def tap_coverage(
    spatial_in: Sequence[int],
    kernel_size: Sequence[int],
    strides: Sequence[int],
    dilation_rate: Sequence[int],
    padding: str,
) -> np.ndarray:
    """Which input positions each kernel tap reads over all output positions of a convolution.

    Returns:
        A ``(P, T)`` float32 matrix of 0/1, ``P`` the input positions and ``T`` the kernel taps, both flattened
        row-major over the spatial axes. With it, for maps ``x`` of shape ``(P, C_in)`` and ``k`` of shape
        ``(T, C_in, C_out)``, ``sum(conv(x, k)) == sum(x * (coverage @ sum(k, axis=-1)))``: every input value meets
        every output channel of each tap that reads it, once per output position (at most one per tap).
    """
    coverage = np.ones((1, 1))
    for n, k, s, d in zip(spatial_in, kernel_size, strides, dilation_rate):
        out, before, _ = _output_window(int(n), int(k), int(s), int(d), padding)
        axis = np.zeros((int(n), int(k)))
        for t in range(int(k)):
            pos = np.arange(out) * s + t * d - before
            axis[pos[(pos >= 0) & (pos < n)], t] = 1.0
        rows, cols = coverage.shape
        coverage = np.einsum('pt,qu->pqtu', coverage, axis).reshape(rows * int(n), cols * int(k))
    return coverage.astype(np.float32)


def coverage_bops_sum(coverage: np.ndarray, input_bw, kernel_bw, channels_first: bool = False):
    """``sum(conv(input_bw, kernel_bw))`` (Keras ops, differentiable) as ``sum(x * (coverage @ sum(k, -1)))``.

    A small matrix product and elementwise ops instead of a convolution and, in the gradient, its two backward
    convolutions (about 1 ms of a 7.6 ms CNN training step on TensorFlow's CPU kernels: profile.md section 9).
    Bitwidths are integers and the coverage 0/1, so the value and both gradients are the convolution's bit for bit
    while every partial sum stays below 2**24 (float32's integers); scaled by a non-integer ``beta`` in the loss,
    the gradients agree to float rounding.

    Args:
        coverage: `tap_coverage` of the convolution, ``(P, T)``.
        input_bw: Input bitwidth map, ``(1, *spatial, C_in)``, or ``(1, C_in, *spatial)`` when ``channels_first``.
        kernel_bw: Kernel bitwidths, ``(*kernel_size, C_in, C_out)``.
        channels_first: The data format of ``input_bw``.
    """
    x = ops.moveaxis(input_bw, 1, -1) if channels_first else input_bw
    n_pos, n_taps = coverage.shape
    x = ops.reshape(x, (n_pos, -1))  # (P, C_in)
    k = ops.sum(ops.reshape(kernel_bw, (n_taps,) + tuple(kernel_bw.shape[-2:])), axis=-1)  # (T, C_in)
    return ops.sum(x * ops.matmul(coverage, k))


def conv_bops_sum(
    input_bw: np.ndarray,
    kernel_bw: np.ndarray,
    strides: Sequence[int],
    padding: str,
    dilation_rate: Sequence[int],
    data_format: str,
) -> float:
    """Exact ``sum(conv(input_bw, kernel_bw))`` in float64 (every product of two bitwidths counted once).

    Args:
        input_bw: Input bitwidth map, shape ``(1, *spatial, C_in)`` (channels_last) or ``(1, C_in, *spatial)``.
        kernel_bw: Kernel bitwidths, shape ``(*kernel_size, C_in, C_out)``.
        strides: Strides of the convolution, one per spatial axis.
        padding: 'valid' or 'same'.
        dilation_rate: Dilation of the convolution, one per spatial axis.
        data_format: 'channels_last' or 'channels_first'.

    Returns:
        The sum over all output positions and channels of the convolution of the two maps.
    """
    x = np.asarray(input_bw, dtype=np.float64)
    k = np.asarray(kernel_bw, dtype=np.float64)
    rank = k.ndim - 2
    if data_format == 'channels_first':
        x = np.moveaxis(x, 1, -1)
    x = x.sum(axis=0)  # bitwidth maps have a batch axis of 1
    axes = list(zip(x.shape[:rank], k.shape[:rank], strides, dilation_rate))
    windows = [_output_window(n, kk, s, d, padding) for n, kk, s, d in axes]
    xp = np.pad(x, [(before, after) for _, before, after in windows] + [(0, 0)])
    k_out = k.sum(axis=-1)  # (*kernel_size, C_in): each input value meets every output channel
    total = 0.0
    for tap in np.ndindex(*k.shape[:rank]):
        # the input positions this kernel tap touches, over all output positions
        window = tuple(
            slice(t * d, t * d + (o - 1) * s + 1, s) for t, (_, _, s, d), (o, _, _) in zip(tap, axes, windows)
        )
        per_channel = xp[window].reshape(-1, xp.shape[-1]).sum(axis=0)
        total += float(per_channel @ k_out[tap])
    return total


@keras.saving.register_keras_serializable(package='HGQ')
class HConv(HLayerBase, BaseConv):
    """Convolution of any rank with a per-weight quantized kernel and a quantized output.

    Args:
        rank: Number of spatial axes (1, 2 or 3). Ignored by the ranked subclasses.
        filters, kernel_size, strides, dilation_rate, activation, use_bias, *_initializer, *_regularizer,
            *_constraint: As `keras.layers.Conv2D`. ``activation`` must be None, 'linear' or 'relu'.
        padding: 'valid' or 'same'.
        data_format: 'channels_last', 'channels_first' or None.
        groups: Must be 1.
        conv_op: Optional ``f(inputs, kernel)`` replacing the convolution (not serialized).
        kq_conf, paq_conf, beta: See `HLayerBase`.
        parallel_factor: Number of kernel applications computed in parallel in the firmware; scales BOPs
            and the BOPs gradient of the kernel bitwidths, and is passed to hls4ml.
    """

    _requires_quantized_input = True

    def __init__(
        self,
        rank: int,
        filters: int,
        kernel_size,
        strides=1,
        padding: str = 'valid',
        data_format: str | None = None,
        dilation_rate=1,
        groups: int = 1,
        activation=None,
        use_bias: bool = True,
        kernel_initializer='glorot_uniform',
        bias_initializer='zeros',
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        trainable: bool = True,
        name: str | None = None,
        conv_op: Callable | None = None,
        kq_conf: dict | None = None,
        paq_conf: dict | None = None,
        beta: float = 0.0,
        parallel_factor: int = 1,
        **kwargs,
    ):
        check_conv_arguments(type(self).__name__, padding, data_format, groups, parallel_factor)
        if not isinstance(self, _RANKED_KERAS_CONVS):
            if rank not in (1, 2, 3):
                raise ValueError(f'{type(self).__name__}: rank must be 1, 2 or 3, got {rank!r}.')
            kwargs['rank'] = rank
        super().__init__(
            filters=filters,
            kernel_size=kernel_size,
            strides=strides,
            padding=padding.lower(),
            data_format=data_format,
            dilation_rate=dilation_rate,
            groups=groups,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            trainable=trainable,
            name=name,
            kq_conf=kq_conf,
            paq_conf=paq_conf,
            beta=beta,
            **kwargs,
        )
        if conv_op is not None:
            warnings.warn(f'{type(self).__name__}: conv_op replaces the default convolution operation.', stacklevel=2)
        self._conv_op = conv_op
        self.parallel_factor = int(parallel_factor)
        self._kernel_degeneracy_factor = self.parallel_factor
        self._channel_loc = 1 if self.data_format == 'channels_first' else -1
        self._n_positions = None
        self._bops_coverage = None

    # ------------------------------------------------------------------------------------ build
    def post_build(self, input_shape):
        super().post_build(input_shape)
        out_shape = self.compute_output_shape(input_shape)
        spatial = out_shape[2:] if self.channel_loc == 1 else out_shape[1:-1]
        self._n_positions = int(np.prod(spatial))
        self._bops_coverage = self._make_bops_coverage(input_shape)

    def _make_bops_coverage(self, input_shape) -> np.ndarray | None:
        """The `tap_coverage` of this convolution, or None where the BOPs term stays a convolution (a custom
        ``conv_op``, or a coverage above `MAX_COVERAGE_SIZE` values)."""
        if self._conv_op is not None:
            return None
        spatial = tuple(input_shape[2:] if self.channel_loc == 1 else input_shape[1:-1])
        if any(n is None for n in spatial) or np.prod(spatial) * np.prod(self.kernel_size) > MAX_COVERAGE_SIZE:
            return None
        return tap_coverage(spatial, self.kernel_size, self.strides, self.dilation_rate, self.padding)

    # ------------------------------------------------------------------------------ operations
    def convolution_op(self, inputs, kernel):
        if self._conv_op is not None:
            return self._conv_op(inputs, kernel)
        return super().convolution_op(inputs, kernel)

    def _apply_kernel(self, x, kernel):
        return self.convolution_op(x, kernel)

    def _add_bias(self, z, bias):
        if self.channel_loc == 1:
            bias = ops.reshape(bias, (1, -1) + (1,) * self.rank)
        return z + bias

    def _differentiable_bops(self, input_bw, kernel_bw):
        coverage = self._bops_coverage
        if coverage is None:
            bops = ops.sum(self.convolution_op(input_bw, kernel_bw))
        else:
            bops = coverage_bops_sum(coverage, input_bw, kernel_bw, channels_first=self.channel_loc == 1)
        return bops * (self.parallel_factor / self._n_positions)

    @property
    def compute_exact_bops(self) -> float:
        """Exact BOPs after `trace_minmax`: ``sum(conv(input_bw, kernel_bw)) * parallel_factor / N_pos``."""
        total = conv_bops_sum(
            self.input_bw_exact,
            self.kernel_bw_exact,
            self.strides,
            self.padding,
            self.dilation_rate,
            self.data_format,
        )
        bops = total * self.parallel_factor / self._n_positions
        self.bops.assign(bops)
        return bops

    # ----------------------------------------------------------------------------------- config
    def get_config(self) -> dict[str, Any]:
        config = {**super().get_config(), 'parallel_factor': self.parallel_factor}
        if not isinstance(self, _RANKED_KERAS_CONVS):
            config['rank'] = self.rank
        return config


@keras.saving.register_keras_serializable(package='HGQ')
class HConv1D(HConv, keras.layers.Conv1D):
    """1D convolution with a per-weight quantized kernel and a quantized output (see `HConv`)."""

    def __init__(
        self,
        filters: int,
        kernel_size,
        strides=1,
        padding: str = 'valid',
        data_format: str | None = None,
        dilation_rate=1,
        groups: int = 1,
        activation=None,
        use_bias: bool = True,
        kernel_initializer='glorot_uniform',
        bias_initializer='zeros',
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        trainable: bool = True,
        name: str | None = None,
        kq_conf: dict | None = None,
        paq_conf: dict | None = None,
        beta: float = 0.0,
        parallel_factor: int = 1,
        **kwargs,
    ):
        super().__init__(
            rank=1,
            filters=filters,
            kernel_size=kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            groups=groups,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            trainable=trainable,
            name=name,
            kq_conf=kq_conf,
            paq_conf=paq_conf,
            beta=beta,
            parallel_factor=parallel_factor,
            **kwargs,
        )


@keras.saving.register_keras_serializable(package='HGQ')
class HConv2D(HConv, keras.layers.Conv2D):
    """2D convolution with a per-weight quantized kernel and a quantized output (see `HConv`)."""

    def __init__(
        self,
        filters: int,
        kernel_size,
        strides=1,
        padding: str = 'valid',
        data_format: str | None = None,
        dilation_rate=1,
        groups: int = 1,
        activation=None,
        use_bias: bool = True,
        kernel_initializer='glorot_uniform',
        bias_initializer='zeros',
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        trainable: bool = True,
        name: str | None = None,
        kq_conf: dict | None = None,
        paq_conf: dict | None = None,
        beta: float = 0.0,
        parallel_factor: int = 1,
        **kwargs,
    ):
        super().__init__(
            rank=2,
            filters=filters,
            kernel_size=kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            groups=groups,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            trainable=trainable,
            name=name,
            kq_conf=kq_conf,
            paq_conf=paq_conf,
            beta=beta,
            parallel_factor=parallel_factor,
            **kwargs,
        )


@keras.saving.register_keras_serializable(package='HGQ')
class HConvBatchNorm(HBatchNormBase, HConv):
    """`HConv` with a BatchNorm (over the channel axis given by ``data_format``) fused into its kernel and bias.

    Arguments are those of `HConv` and the keyword arguments of `HBatchNormBase`.
    """


@keras.saving.register_keras_serializable(package='HGQ')
class HConv1DBatchNorm(HConvBatchNorm, keras.layers.Conv1D):
    """`HConv1D` with a fused BatchNorm (see `HConvBatchNorm`)."""

    _kernel_layer = HConv1D

    def __init__(self, *args, **kwargs):
        kwargs.pop('rank', None)  # fixed by the class (HGQ1 configs may hold it)
        super().__init__(1, *args, **kwargs)


@keras.saving.register_keras_serializable(package='HGQ')
class HConv2DBatchNorm(HConvBatchNorm, keras.layers.Conv2D):
    """`HConv2D` with a fused BatchNorm (see `HConvBatchNorm`)."""

    _kernel_layer = HConv2D

    def __init__(self, *args, **kwargs):
        kwargs.pop('rank', None)  # fixed by the class (HGQ1 configs may hold it)
        super().__init__(2, *args, **kwargs)
