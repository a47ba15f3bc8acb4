"""The HGQ quantizer: trainable per-element fractional bits with a surrogate gradient.

The quantizer is a plain Python object (as in HGQ1). Its state (the fractional-bit tensor ``fbw``
and, for activations, the recorded ``min``/``max`` of the quantized values) lives in Keras
variables owned by the layer that uses it, so that it is saved, restored and distributed with
the model like any other weight.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from ..numerics import minimal_frac_bits
from ..utils.utils import MonoL1, strategy_dict
from ..variable_io import assign_constant

LN2 = math.log(2.0)

STANDARD_ROUND, STOCHASTIC_ROUND, NOISE_INJECTION, FLOOR = 0, 1, 2, 3
_STRATEGY_NAMES = {v: k for k, v in strategy_dict.items()}
_SKIP_DIMS_STRINGS = ('all', 'batch', 'none', 'except_last', 'except_1st')


def _validate_strategy(rnd_strategy: str | int) -> int:
    """Maps a strategy name to its code; ``'auto'`` maps to -1 (resolved by the layer)."""
    if isinstance(rnd_strategy, str):
        if rnd_strategy == 'auto':
            return -1
        if rnd_strategy not in strategy_dict:
            raise ValueError(
                f'Unknown rnd_strategy {rnd_strategy!r}. Use one of {sorted(strategy_dict)} or "auto".'
            )
        return strategy_dict[rnd_strategy]
    if isinstance(rnd_strategy, (int, np.integer)) and int(rnd_strategy) in (-1, 0, 1, 2, 3):
        return int(rnd_strategy)
    raise ValueError(f'Unknown rnd_strategy {rnd_strategy!r}. Use one of {sorted(strategy_dict)} or "auto".')


def _validate_skip_dims(skip_dims: Any):
    if skip_dims is None or isinstance(skip_dims, str) and skip_dims in _SKIP_DIMS_STRINGS:
        return skip_dims
    if isinstance(skip_dims, str):
        raise ValueError(
            f'Unknown skip_dims {skip_dims!r}. Use a tuple of axes or one of {list(_SKIP_DIMS_STRINGS)} (or None).'
        )
    if isinstance(skip_dims, (int, np.integer)):
        skip_dims = (int(skip_dims),)
    if isinstance(skip_dims, Sequence) and all(isinstance(d, (int, np.integer)) for d in skip_dims):
        return tuple(int(d) for d in skip_dims)
    raise ValueError(
        f'skip_dims must be None, a tuple of ints or one of {list(_SKIP_DIMS_STRINGS)}; got {skip_dims!r}.'
    )


def _deserialize_regularizer(reg: Any):
    if reg is None or callable(reg):
        return reg
    if isinstance(reg, dict):
        name = reg.get('registered_name') or reg.get('class_name')
        if name in ('MonoL1', 'HGQ>MonoL1'):
            return MonoL1(**reg.get('config', {}))
        return keras.regularizers.get(reg)
    if isinstance(reg, str):
        return keras.regularizers.get(reg)
    raise ValueError(f'regularizer must be None, a callable or a serialized regularizer; got {reg!r}.')


def resolve_skip_dims(skip_dims: Any, ndim: int) -> tuple[int, ...]:
    """Turns a ``skip_dims`` spec into a sorted tuple of non-negative axes for a tensor of rank ``ndim``."""
    if skip_dims is None or skip_dims == 'none':
        return ()
    if skip_dims == 'all':
        return tuple(range(ndim))
    if skip_dims == 'batch':
        return (0,)
    if skip_dims == 'except_last':
        return tuple(range(ndim - 1))
    if skip_dims == 'except_1st':
        return (0,) + tuple(range(2, ndim))
    axes = []
    for d in skip_dims:
        if not -ndim <= d < ndim:
            raise ValueError(
                f'skip_dims {tuple(skip_dims)} has axis {d}, out of range for a tensor of rank {ndim}. Use axes in '
                f'[{-ndim}, {ndim - 1}] (axis 0 is the batch axis for activations), or a string such as "except_last".'
            )
        axes.append(d % ndim)
    return tuple(sorted(set(axes)))


def round_values(x, strategy: int, seed_generator=None):
    """Rounds ``x`` to integers with the given strategy code (see `strategy_dict`)."""
    if strategy == STANDARD_ROUND:
        # half up, exactly (floor(x + 0.5) rounds x = 0.5 - 2**-25 up, because x + 0.5 is not a float32)
        fl = ops.floor(x)
        return ops.where(x - fl >= 0.5, fl + 1.0, fl)
    if strategy == FLOOR:
        return ops.floor(x)
    if strategy == STOCHASTIC_ROUND:
        floor = ops.floor(x)
        noise = keras.random.uniform(ops.shape(x), seed=seed_generator, dtype=x.dtype)
        return ops.where(noise < x - floor, floor + 1, floor)
    if strategy == NOISE_INJECTION:
        noise = keras.random.uniform(ops.shape(x), minval=-0.5, maxval=0.5, seed=seed_generator, dtype=x.dtype)
        noise = ops.where(ops.abs(x) <= 0.5, -x, noise)
        return x + ops.stop_gradient(noise)
    raise ValueError(f'Unresolved rounding strategy {strategy}; "auto" must be resolved by the owning layer.')


def eager_scope():
    """A context that leaves any function being traced (TensorFlow's ``init_scope``; a no-op elsewhere)."""
    if keras.backend.backend() == 'tensorflow':
        import tensorflow as tf

        return tf.init_scope()
    return contextlib.nullcontext()


def tf_replica_context():
    """The TensorFlow replica context when a ``tf.distribute`` strategy runs this code on several replicas (each on
    its own shard of the batch), else None (always None on the other backends, whose data-parallel training
    computes on the global batch)."""
    if keras.backend.backend() != 'tensorflow':
        return None
    import tensorflow as tf

    if not tf.distribute.has_strategy() or tf.distribute.in_cross_replica_context():
        return None
    ctx = tf.distribute.get_replica_context()
    return ctx if ctx is not None and ctx.num_replicas_in_sync > 1 else None


def global_min_max(vmin, vmax):
    """``(vmin, vmax)`` reduced over all replicas of a ``tf.distribute`` strategy (elementwise min and max), so that
    every replica records the range of the global batch; unchanged otherwise."""
    ctx = tf_replica_context()
    if ctx is None:
        return vmin, vmax
    # tf.distribute reduces with SUM or MEAN only: gather the replicas' values on a new leading axis and reduce
    both = ops.stack([vmin, -vmax])[None]
    both = ops.min(ctx.all_gather(both, axis=0), axis=0)
    return both[0], -both[1]


def log2(x):
    """``log2`` as one logarithm and one constant multiplication."""
    return ops.log(x) * (1.0 / LN2)


_BACKEND = keras.backend.backend()


def _as_tensor(v):
    """A plain tensor (not a variable) for custom-gradient functions, which must not read variables."""
    return ops.copy(v) if hasattr(v, 'assign') else v


def sum_to_shape(g, shape: tuple[int, ...]):
    """Sums a broadcast gradient ``g`` back to ``shape`` (the shape of a bitwidth tensor)."""
    nd = len(g.shape)
    lead = nd - len(shape)
    axes = list(range(lead))
    for d, s in enumerate(shape):
        gs = g.shape[lead + d]
        if s == 1 and gs != 1:
            axes.append(lead + d)
    if axes:
        g = ops.sum(g, axis=axes, keepdims=True)
    return ops.reshape(g, shape) if tuple(g.shape) != tuple(shape) else g


def surrogate_quantize(x, fbw, strategy: int, exact_q_value: bool, clip: tuple[float, float] | None = None):
    """Quantizes ``x`` on the grid ``2**-round(fbw)`` (deterministic strategies) with the HGQ gradients:
    identity for ``x`` and ``-ln2 * (xq - x)`` for ``fbw`` (summed over the values sharing a bitwidth).
    ``clip`` bounds ``fbw`` in the forward pass only (HGQ1 clipped the variable in place, so the gradient
    never saw the clip).

    Keep this form (``round(x * 2**fq) / 2**fq``, ``-ln2`` on every term): a variant tried for speed (a product
    with a precomputed inverse grid, ``-ln2`` applied after the sum) changed training: the final EBOPs of the
    digits run (benchmarks/peers/digits_hgq1_api.py, 150 epochs) went from about 2.2k to 3.5k.
    """
    fbw_shape = tuple(fbw.shape)

    @ops.custom_gradient
    def fn(x, fbw):
        if clip is not None:
            fbw = ops.clip(fbw, clip[0], clip[1])
        fq = ops.round(fbw) if exact_q_value else fbw
        scale = ops.power(2.0, fq)
        y = x * scale
        # training only: floor(y + 0.5) is round-half-up except for y = 0.5 - 2**-25 (y + 0.5 is no float32);
        # inference, which the proxy reproduces, uses the exact form
        y = ops.floor(y + 0.5) if strategy == STANDARD_ROUND else round_values(y, strategy)
        xq = y / scale

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            return upstream, sum_to_shape(upstream * (xq - x) * (-LN2), fbw_shape)

        return xq, grad

    return fn(_as_tensor(x), _as_tensor(fbw))


def bits_with_grad(base, fbw, grad_scale: float, clip: tuple[float, float] | None = None):
    """``relu(base + round(fbw))`` whose gradient reaches only ``fbw`` (straight through the rounding and the
    optional forward-only ``clip``), scaled by ``grad_scale``; ``base`` (integer bits from data) gets none."""
    fbw_shape = tuple(fbw.shape)

    @ops.custom_gradient
    def fn(base, fbw):
        if clip is not None:
            fbw = ops.clip(fbw, clip[0], clip[1])
        bw = ops.relu(base + ops.round(fbw))

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            # the same values as upstream * (bw > 0) * grad_scale, one op fewer (where the mask is 0: +0, not -0)
            g = ops.where(bw > 0, upstream * grad_scale, 0.0)
            return ops.zeros_like(base), sum_to_shape(g, fbw_shape)

        return bw, grad

    return fn(base, _as_tensor(fbw))


def max_over_non_channel_axes(fbw, channel_loc: int):
    """``max`` of a bitwidth tensor over every axis but the channel axis (``channel_loc`` -1 or 1); a reshape where
    those axes all have size 1 (the same value and gradient without a reduction, e.g. for `HDense`)."""
    nd = len(fbw.shape)
    if channel_loc == -1:
        axes = tuple(range(nd - 1))
    elif channel_loc == 1:
        axes = (0,) + tuple(range(2, nd))
    else:
        raise ValueError(f'channel_loc must be -1 or 1, got {channel_loc}.')
    if not axes:
        return fbw
    if all(fbw.shape[a] == 1 for a in axes):
        return ops.reshape(fbw, tuple(s for d, s in enumerate(fbw.shape) if d not in axes))
    return ops.max(fbw, axis=axes)


def straight_through_round(x):
    """``round(x)`` (half to even, as HGQ1) in the forward pass, identity gradient."""
    return x + ops.stop_gradient(ops.round(x) - x)


class HGQ:
    """Heterogeneous quantizer with trainable fractional bits.

    Args:
        init_bw: Initial number of fractional bits.
        skip_dims: Axes that share one bitwidth (``None``: one per element; also ``'all'``, ``'batch'``,
            ``'none'``, ``'except_last'``, ``'except_1st'``).
        rnd_strategy: ``'standard_round'``, ``'floor'``, ``'stochastic_round'``,
            ``'fast_uniform_noise_injection'`` (the last two in training only; inference rounds half up), or
            ``'auto'`` (resolved by the layer).
        exact_q_value: Use ``2**round(fbw)`` as the grid during training (else ``2**fbw``).
        dtype: Unused, kept for HGQ1 config compatibility.
        bw_clip: ``(min, max)`` clip of the fractional bits.
        trainable: Whether the bitwidths are trained.
        regularizer: Regularizer on the bitwidths (e.g. `MonoL1`).
        minmax_record: Record min/max of quantized outputs (needed for activations).
    """

    def __init__(
        self,
        init_bw: float,
        skip_dims,
        rnd_strategy: str | int = 'floor',
        exact_q_value: bool = True,
        dtype=None,
        bw_clip: tuple[float, float] = (-23, 23),
        trainable: bool = True,
        regularizer=None,
        minmax_record: bool = False,
    ):
        try:
            self.init_bw = float(init_bw)
        except (TypeError, ValueError):
            raise ValueError(f'init_bw must be a number, got {init_bw!r}.') from None
        self.skip_dims = _validate_skip_dims(skip_dims)
        self.rnd_strategy = _validate_strategy(rnd_strategy)
        self.exact_q_value = bool(exact_q_value)
        self.dtype = dtype
        if bw_clip is not None:
            if not isinstance(bw_clip, Sequence) or len(bw_clip) != 2 or not bw_clip[0] <= bw_clip[1]:
                raise ValueError(f'bw_clip must be a pair (min, max) with min <= max, got {bw_clip!r}.')
            bw_clip = (float(bw_clip[0]), float(bw_clip[1]))
        self.bw_clip = bw_clip
        self.trainable = bool(trainable)
        self.regularizer = _deserialize_regularizer(regularizer)
        self.minmax_record = bool(minmax_record)
        self.built = False
        self.degeneracy = 1.0
        self.axes: tuple[int, ...] = ()
        self.fbw = None
        self._min = None
        self._max = None
        self.seed_generator = None

    # ----------------------------------------------------------------------------------- config
    @classmethod
    def from_config(cls, config: dict) -> HGQ:
        return cls(**config)

    def get_config(self) -> dict[str, Any]:
        return dict(
            init_bw=self.init_bw,
            skip_dims=self.skip_dims,
            rnd_strategy=_STRATEGY_NAMES.get(self.rnd_strategy, 'auto'),
            exact_q_value=self.exact_q_value,
            dtype=self.dtype,
            bw_clip=self.bw_clip,
            trainable=self.trainable,
            regularizer=self.regularizer,
            minmax_record=self.minmax_record,
        )

    @property
    def needs_random(self) -> bool:
        return self.rnd_strategy in (STOCHASTIC_ROUND, NOISE_INJECTION)

    # ------------------------------------------------------------------------------------ build
    def bw_shape_and_degeneracy(self, shape: Sequence[int | None]) -> tuple[tuple[int, ...], int]:
        """Shape of the bitwidth tensor for a value of ``shape``, and how many values share each bitwidth."""
        self.axes = resolve_skip_dims(self.skip_dims, len(shape))
        bw_shape = list(shape)
        degeneracy = 1
        for d in self.axes:
            degeneracy *= int(shape[d]) if shape[d] is not None else 1
            bw_shape[d] = 1
        if any(s is None for s in bw_shape):
            raise ValueError(
                f'skip_dims={self.skip_dims!r} leaves an axis of unknown size in shape {tuple(shape)}; activation '
                'quantizers must share bitwidths over the batch axis (include 0 in skip_dims, e.g. (0,)).'
            )
        return tuple(int(s) for s in bw_shape), degeneracy

    def build(self, fbw, min_var=None, max_var=None, seed_generator=None):
        """Attaches the Keras variables owned by the layer."""
        self.fbw = fbw
        self._min, self._max = min_var, max_var
        self.seed_generator = seed_generator
        self.built = True

    # ---------------------------------------------------------------------------------- forward
    def _fbw_value(self):
        fbw = self.fbw
        if self.bw_clip is not None:
            fbw = ops.clip(fbw, self.bw_clip[0], self.bw_clip[1])
        return fbw

    def __call__(self, x, training=None, record_minmax=None):
        return self.forward(x, training=training, record_minmax=record_minmax)

    def _quantize(self, x, fbw, training):
        if training and self.rnd_strategy in (STANDARD_ROUND, FLOOR):
            return surrogate_quantize(x, fbw, self.rnd_strategy, self.exact_q_value)
        fq = ops.round(fbw) if (self.exact_q_value or not training) else fbw
        scale = ops.power(2.0, fq)
        strategy = self.rnd_strategy
        if not training and strategy != FLOOR:
            strategy = STANDARD_ROUND
        xq = round_values(x * scale, strategy, self.seed_generator) / scale
        if not training:
            # the value itself: x + (xq - x) can round in float32, and TensorFlow's graph optimizer re-associates
            # that sum with a following add (measured: a compiled H-model 13/6000 outputs off its proxy)
            return ops.stop_gradient(xq)
        delta = ops.stop_gradient(xq - x)
        if training:
            # value unchanged; d(out)/d(fbw) = -ln2 * (xq - x)
            delta = delta + delta * LN2 * (ops.stop_gradient(fbw) - fbw)
        return x + delta

    def forward(self, x, training=None, record_minmax=None):
        """Quantizes ``x``; records min/max of the result when ``record_minmax``."""
        if training and self.rnd_strategy in (STANDARD_ROUND, FLOOR):
            xq = surrogate_quantize(x, self.fbw, self.rnd_strategy, self.exact_q_value, self.bw_clip)
        else:
            xq = self._quantize(x, self._fbw_value(), training)
        if record_minmax:
            self.record(xq)
        return xq

    def record(self, xq):
        """Updates the running min/max with the (quantized) values ``xq``."""
        if self._min is None:
            raise RuntimeError('This quantizer was built without min/max recording (minmax_record=False).')
        if self.axes:
            vmin = ops.min(xq, axis=self.axes, keepdims=True)
            vmax = ops.max(xq, axis=self.axes, keepdims=True)
        else:
            vmin = vmax = xq
        if vmin.dtype != self._min.dtype:
            vmin, vmax = ops.cast(vmin, self._min.dtype), ops.cast(vmax, self._max.dtype)
        vmin, vmax = global_min_max(vmin, vmax)
        self._min.assign(ops.minimum(self._min, vmin))
        self._max.assign(ops.maximum(self._max, vmax))

    def _bias_fbw(self, channel_loc: int):
        return max_over_non_channel_axes(self._fbw_value(), channel_loc)

    def bias_forward(self, x, training=None, channel_loc: int = -1):
        """Quantizes a bias with the output's fractional bits, max-reduced over non-channel axes."""
        if training and self.rnd_strategy in (STANDARD_ROUND, FLOOR):
            # as the output: the clip in the forward pass only (it commutes with the max), so that the training step
            # has no clip gradient to compute (HGQ1 clipped the variable in place)
            fbw = max_over_non_channel_axes(self.fbw, channel_loc)
            return surrogate_quantize(x, fbw, self.rnd_strategy, self.exact_q_value, self.bw_clip)
        return self._quantize(x, self._bias_fbw(channel_loc), training)

    # ------------------------------------------------------------------------------------- bits
    def minmax_reg_reset(self):
        """Resets the recorded range to (+inf, -inf).

        `ResetMinMax` calls this for every H-layer at every epoch end: the two constants are made once, and a reset is
        two assignments and nothing else (`HGQ.variable_io`: on TensorFlow about 8 us each, a fifth of what building
        the constants and Keras' ``assign`` cost)."""
        if self._min is None:
            return
        lo, hi = self._reset_constants()
        assign_constant(self._min, lo)
        assign_constant(self._max, hi)

    def _reset_constants(self):
        """``(+inf, -inf)`` of the range's shape and dtype: backend tensors made once where they can be kept (eagerly on
        TensorFlow, always on PyTorch, whose ``assign`` copies them), numpy arrays otherwise: on JAX, a variable
        assigned an array holds that very array, which Keras' train step then donates (deletes) with the state."""
        shape = tuple(self._min.shape)
        cache = self.__dict__.get('_reset_cache')
        if cache is None or cache[0] != shape:
            lo = np.full(shape, np.inf, dtype=np.dtype(str(self._min.dtype)))
            hi = np.full(shape, -np.inf, dtype=np.dtype(str(self._max.dtype)))
            cache = self.__dict__['_reset_cache'] = (shape, lo, hi, None)
        if _BACKEND == 'jax':
            return cache[1], cache[2]
        if _BACKEND == 'tensorflow':
            import tensorflow as tf

            if not tf.executing_eagerly():
                return cache[1], cache[2]
        if cache[3] is None:
            tensors = (ops.convert_to_tensor(cache[1]), ops.convert_to_tensor(cache[2]))
            cache = self.__dict__['_reset_cache'] = (*cache[:3], tensors)
        return cache[3]

    def get_bits(self, ref=None, quantized=None, pos_only: bool = False):
        """Differentiable ``(int_bits, fp_bits, keep_negative)``.

        Args:
            ref: Values to measure (e.g. a kernel); ``None`` uses the recorded min/max.
            quantized: If truthy, ``ref`` is already quantized.
            pos_only: Only count the non-negative range (a ReLU follows).
        """
        fp_bits = straight_through_round(self._fbw_value())
        if ref is not None:
            _ref = ref if quantized else self.forward(ref)
            kn = ops.cast(_ref < 0, 'float32')
            int_bits = ops.floor(ops.log2(ops.abs(_ref))) + 1.0
            if self.axes:
                int_bits = ops.max(int_bits, axis=self.axes, keepdims=True)
                kn = ops.max(kn, axis=self.axes, keepdims=True)
            return int_bits, fp_bits, kn
        if self._min is None:
            raise RuntimeError('get_bits() without ref needs a quantizer with minmax_record=True.')
        if pos_only:
            _ref = ops.maximum(self._max, 0.0)
            kn = ops.zeros_like(self._max)
        else:
            _ref = ops.maximum(ops.abs(self._min), ops.abs(self._max))
            kn = ops.cast(self._min < 0, 'float32')
        int_bits = ops.floor(ops.log2(_ref)) + 1.0
        return int_bits, fp_bits, kn

    def get_bits_exact(self, ref=None, pos_only: bool = False):
        """Exact ``(k, i, f)`` int8 numpy arrays of the equivalent fixed-point format.

        Uses the recorded range (run `trace_minmax` first) or, if given, the values of ``ref``.
        """
        if ref is None and self.minmax_record:
            vmin = np.asarray(ops.convert_to_numpy(self._min), dtype=np.float64)
            vmax = np.asarray(ops.convert_to_numpy(self._max), dtype=np.float64)
            if np.any(np.isnan(vmin)) or np.any(np.isnan(vmax)):
                raise ValueError(
                    'The recorded value range contains NaN: the model produced NaN on the calibration data (did the '
                    'training diverge, or does the data contain NaN?). Fix the model or data, '
                    'then run trace_minmax again.'
                )
            if not np.all(vmax >= vmin):
                raise ValueError(
                    'The recorded value range is empty (min > max) for some elements: the model was never traced '
                    'or the ranges were reset. Run HGQ.trace_minmax(model, calibration_data) first.'
                )
            f = np.round(np.asarray(ops.convert_to_numpy(self._fbw_value()), dtype=np.float64))
            with np.errstate(divide='ignore', invalid='ignore'):
                if pos_only:
                    i = np.floor(np.log2(np.maximum(vmax, 0.0))) + 1
                    k = np.zeros_like(vmax)
                else:
                    i_neg = np.ceil(np.log2(np.abs(vmin)))
                    i_pos = np.ceil(np.log2(np.abs(vmax + 2.0**-f)))
                    i = np.maximum(i_neg, i_pos)
                    k = (vmin < 0).astype(np.float64)
            i = np.clip(np.nan_to_num(i, nan=-f - k, neginf=-f - k), -f - k, 32)
            k, i, f = k.astype(np.int8), i.astype(np.int8), f.astype(np.int8)
            mask = (k + i + f) != 0
            return k * mask, i * mask, f * mask
        if ref is None:
            raise ValueError('get_bits_exact() needs ref for a quantizer without min/max recording.')
        w = np.asarray(ops.convert_to_numpy(self.forward(ref)), dtype=np.float64)
        return value_kif(w)

    def adapted_bw(self, ref, base):
        """``base - log2|ref|``, reduced (min) over the shared axes and clipped: the bitwidths that keep about
        ``base`` significant bits of each value of ``ref``. Keras ops in float32, so that it also runs while a
        function is traced."""
        ref = ops.cast(ops.convert_to_tensor(ref), 'float32')
        new = ops.cast(ops.convert_to_tensor(base), 'float32') - ops.log2(ops.abs(ref))  # +inf for zeros: clipped
        if self.axes:
            new = ops.min(new, axis=self.axes, keepdims=True)
        lo, hi = self.bw_clip if self.bw_clip is not None else (-126.0, 126.0)
        return ops.clip(ops.where(ops.isnan(new), lo, new), lo, hi)

    def adapt_bw_bits(self, ref):
        """Sets the bitwidths so that each value of ``ref`` keeps about ``init_bw`` significant bits."""
        self.fbw.assign(self.adapted_bw(ref, self.fbw))


def value_kif(w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact ``(k, i, f)`` of each value: sign, bits from the MSB down to the binary point, and the
    minimal fractional bits; ``i + f`` is the count of bits from the most to the least significant set bit.
    Zero gives ``(0, 0, 0)``.
    """
    w = np.asarray(w, dtype=np.float64)
    k = (w < 0).astype(np.int8)
    a = np.abs(w)
    nz = a > 0
    mant, exp = np.frexp(np.where(nz, a, 1.0))  # a = mant * 2**exp, mant in [0.5, 1)
    f = minimal_frac_bits(a)  # -inf for zeros, replaced by 0 below
    i = exp.astype(np.int64)
    i = np.where(nz, i, 0)
    f = np.where(nz, f, 0)
    k = np.where(nz, k, 0)
    return k.astype(np.int8), i.astype(np.int8), f.astype(np.int8)


def _trailing_zeros(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.int64)
    low = m & -m
    out = np.zeros(m.shape, dtype=np.int64)
    nz = low > 0
    out[nz] = np.log2(low[nz].astype(np.float64)).astype(np.int64)
    return out
