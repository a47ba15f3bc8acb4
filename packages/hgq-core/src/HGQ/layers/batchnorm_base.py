"""BatchNorm fused into a kernel layer (spec 2.9): `HBatchNormBase` and `HDenseBatchNorm`.

At inference the layer is its kernel layer with

    fused_kernel = kernel * gamma / sqrt(moving_variance + epsilon)
    fused_bias   = bias - moving_mean * gamma / sqrt(moving_variance + epsilon) + bn_beta

so the firmware sees one quantized kernel and one bias. In training the same function is evaluated with
the batch statistics (``moving_mean`` tracks the batch mean of ``x @ kernel + bias``). Unlike HGQ1, the
training path adds ``bn_beta`` too, so ``bn_beta`` is trained and inference computes the trained function.

The kernel bitwidths are adapted on the first training call (not at build), to the BN-fused kernel of that
batch, so that each fused weight starts with about ``init_bw`` significant bits. On JAX, whose stateless training
step drops assignments to trainable variables, they are adapted when the layer gets its variables instead: at
build, to the initial kernel (as in the layers without BatchNorm), or when a file with the adaptation still
pending is loaded, to the loaded BN-fused kernel.

Under a ``tf.distribute`` strategy with several replicas, the batch statistics are those of the global batch
(summed over the replicas), as on one device and as JAX's data-parallel training computes them.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import keras
import numpy as np
from keras import ops

from ..quantizer.quantizer import tf_replica_context
from .base import HLayerBase
from .dense import HDense

# JAX's training step is a pure function of the variables: an assignment to a trainable variable inside it is lost
_ADAPT_AT_BUILD = keras.backend.backend() == 'jax'


def _check_bn_arguments(layer_name: str, momentum: Any, epsilon: Any) -> None:
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float, np.number)) or not 0 <= momentum <= 1:
        raise ValueError(f'{layer_name}: momentum must be a number in [0, 1] (e.g. 0.99), got {momentum!r}.')
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float, np.number)) or not epsilon > 0:
        raise ValueError(f'{layer_name}: epsilon must be a positive number (e.g. 1e-3), got {epsilon!r}.')


def _bn_signature(kernel_layer: type) -> inspect.Signature:
    """The signature of a fused-BN layer, for `inspect` and the docs: the arguments of ``kernel_layer``, then the
    keyword-only BN arguments of `HBatchNormBase`."""
    kernel = [p for p in inspect.signature(kernel_layer).parameters.values() if p.kind is not p.VAR_KEYWORD]
    bn = [p for p in inspect.signature(HBatchNormBase.__init__).parameters.values() if p.kind is p.KEYWORD_ONLY]
    return inspect.Signature(kernel + bn + [inspect.Parameter('kwargs', inspect.Parameter.VAR_KEYWORD)])


class HBatchNormBase(HLayerBase):
    """Mixin that fuses a BatchNorm into the kernel and bias of a kernel H-layer.

    Concrete layers put it first among their bases (``class HDenseBatchNorm(HBatchNormBase, HDense)``); the kernel
    layer provides the kernel op (``_apply_kernel``, ``_add_bias``, ``_differentiable_bops``) and its arguments,
    which the mixin passes on through ``*args, **kwargs``; the mixin replaces `_kernel_forward` in training and
    `fused_kernel` / `fused_bias`. The BN axis is the channel axis of the output (``channel_loc``).

    Args:
        momentum: Moving-average momentum of the statistics.
        epsilon: Added to the variance.
        center: Use ``bn_beta`` and the mean (needs ``use_bias``; set to False with a warning otherwise).
        scale: Use ``bn_gamma`` and the variance.
        beta_initializer, gamma_initializer, moving_mean_initializer, moving_variance_initializer,
            beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint: As
            `keras.layers.BatchNormalization` (``beta_*`` refer to the BN shift ``bn_beta``, not to the BOPs
            strength ``beta``).
        *args, **kwargs: Arguments of the kernel layer.
    """

    _delayed_kernel_bits_adaption = not _ADAPT_AT_BUILD

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # the kernel layer whose arguments the layer takes: `_kernel_layer`, else the first kernel H-layer in the MRO
        kernel_layer = cls.__dict__.get('_kernel_layer') or next(
            c for c in cls.__mro__ if issubclass(c, HLayerBase) and not issubclass(c, HBatchNormBase)
        )
        cls.__signature__ = _bn_signature(kernel_layer)

    def __init__(
        self,
        *args,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer='zeros',
        gamma_initializer='ones',
        moving_mean_initializer='zeros',
        moving_variance_initializer='ones',
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        **kwargs,
    ):
        _check_bn_arguments(type(self).__name__, momentum, epsilon)
        super().__init__(*args, **kwargs)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = keras.initializers.get(beta_initializer)
        self.gamma_initializer = keras.initializers.get(gamma_initializer)
        self.moving_mean_initializer = keras.initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = keras.initializers.get(moving_variance_initializer)
        self.beta_regularizer = keras.regularizers.get(beta_regularizer)
        self.gamma_regularizer = keras.regularizers.get(gamma_regularizer)
        self.beta_constraint = keras.constraints.get(beta_constraint)
        self.gamma_constraint = keras.constraints.get(gamma_constraint)
        if self.center and not self.use_bias:
            warnings.warn(
                f'{type(self).__name__} {self.name!r}: center=True needs use_bias=True (the BN shift is fused into '
                'the bias); setting center=False. Pass use_bias=True to keep the BN shift.',
                stacklevel=2,
            )
            self.center = False
        self.bn_beta = self.bn_gamma = self.moving_mean = self.moving_variance = None
        self._kernel_bits_pending = None

    # ------------------------------------------------------------------------------------ build
    def post_build(self, input_shape):
        super().post_build(input_shape)
        out_shape = tuple(self.compute_output_shape(input_shape))
        channel_axis = 1 if self.channel_loc == 1 else len(out_shape) - 1
        self._bn_axes = tuple(i for i in range(len(out_shape)) if i != channel_axis)
        shape = (int(out_shape[channel_axis]),)
        # creation order = HGQ1's .h5 layout: bn_beta, moving_mean, bn_gamma, moving_variance
        if self.center:
            self.bn_beta = self.add_weight(
                name='bn_beta', shape=shape, initializer=self.beta_initializer, regularizer=self.beta_regularizer,
                constraint=self.beta_constraint, trainable=True,
            )
            self.moving_mean = self.add_weight(
                name='moving_mean', shape=shape, initializer=self.moving_mean_initializer, trainable=False,
            )
        if self.scale:
            self.bn_gamma = self.add_weight(
                name='bn_gamma', shape=shape, initializer=self.gamma_initializer, regularizer=self.gamma_regularizer,
                constraint=self.gamma_constraint, trainable=True,
            )
            self.moving_variance = self.add_weight(
                name='moving_variance', shape=shape, initializer=self.moving_variance_initializer, trainable=False,
            )
        # 1 until the kernel bitwidths were adapted to the BN-fused kernel (first training call)
        self._kernel_bits_pending = self.add_weight(
            name='kernel_bw_pending', shape=(), trainable=False, dtype='float32',
            initializer=keras.initializers.Constant(1.0 if self._do_adapt_kernel_bits else 0.0),
        )

    def load_own_variables(self, store):
        super().load_own_variables(store)
        if _ADAPT_AT_BUILD and self._kernel_bits_pending is not None and float(
            ops.convert_to_numpy(self._kernel_bits_pending)
        ) > 0.5:
            # saved before the first training call on another backend: adapt now, to the loaded fused kernel
            self.kq.fbw.assign(self.kq.adapted_bw(self.fused_kernel, self.kq.fbw))
            self._kernel_bits_pending.assign(0.0)

    def _unsaved_without_ranges(self) -> list:
        extra = [] if self._kernel_bits_pending is None else [self._kernel_bits_pending]
        return super()._unsaved_without_ranges() + extra

    # ----------------------------------------------------------------------------------- fusion
    def _bn_scale(self, variance):
        return self.bn_gamma * ops.rsqrt(variance + self.epsilon)

    @property
    def fused_kernel(self):
        """``kernel * gamma / sqrt(moving_variance + epsilon)`` (the kernel when ``scale`` is False)."""
        if not self.scale:
            return self.kernel
        return self.kernel * self._bn_scale(self.moving_variance)

    @property
    def fused_bias(self):
        """``bias - moving_mean * gamma / sqrt(moving_variance + epsilon) + bn_beta`` (the bias without center)."""
        if not self.center:
            return self.bias
        if not self.scale:
            return self.bias - self.moving_mean + self.bn_beta
        return self.bias - self.moving_mean * self._bn_scale(self.moving_variance) + self.bn_beta

    def _adapt_kernel_bits_once(self, fused_kernel) -> None:
        """On the first training call, sets the kernel fractional bits so that each weight of ``fused_kernel``
        keeps about ``init_bw`` significant bits (graph-safe: a no-op once the pending flag is cleared)."""
        kq = self.kq
        fbw = ops.convert_to_tensor(kq.fbw)
        new = kq.adapted_bw(ops.stop_gradient(fused_kernel), fbw)
        pending = ops.convert_to_tensor(self._kernel_bits_pending) > 0.5
        kq.fbw.assign(ops.where(pending, ops.cast(new, fbw.dtype), fbw))
        self._kernel_bits_pending.assign(0.0)

    def _batch_moments(self, z, with_variance: bool = True):
        """Mean and (biased) variance of ``z`` over the BN axes: of the global batch when a ``tf.distribute``
        strategy runs several replicas, each on its own shard (HGQ1 and Keras' BatchNormalization use the replica's
        shard; a data-parallel model then differs from the one-device model)."""
        ctx = tf_replica_context()
        if ctx is None:
            return ops.mean(z, axis=self._bn_axes), (ops.var(z, axis=self._bn_axes) if with_variance else None)
        import tensorflow as tf

        axes = self._bn_axes
        count = ops.cast(ops.prod(ops.stack([ops.shape(z)[a] for a in axes])), z.dtype)
        total = ctx.all_reduce(tf.distribute.ReduceOp.SUM, ops.concatenate([ops.sum(z, axis=axes), count[None]]))
        n = total[-1]
        mean = total[:-1] / n
        if not with_variance:
            return mean, None
        shape = [1] * len(z.shape)
        shape[[a for a in range(len(z.shape)) if a not in axes][0]] = -1
        squares = ops.sum(ops.square(z - ops.reshape(mean, shape)), axis=axes)
        return mean, ctx.all_reduce(tf.distribute.ReduceOp.SUM, squares) / n

    def _update_moving(self, variable, value) -> None:
        variable.assign(variable * self.momentum + ops.stop_gradient(value) * (1.0 - self.momentum))

    # ------------------------------------------------------------------------------------- call
    def _kernel_forward(self, x, training):
        """In training, the kernel and bias fused with the batch statistics (which update the moving ones);
        at inference, those fused with the moving statistics (`fused_kernel`, `fused_bias`)."""
        if not training:
            return super()._kernel_forward(x, training)
        qk, z, batch_mean, bn_scale = self._batch_fused_qkernel(x, training)
        bias = self._batch_fused_bias(z, batch_mean, bn_scale)
        if self.scale:  # z was computed with the float kernel, for the statistics
            z = self._apply_kernel(x, qk)
        return qk, z, bias

    def _batch_fused_qkernel(self, x, training):
        """``(quantized fused kernel, kernel op output, batch mean or None, BN scale)``; the kernel op output is
        that of the float kernel when ``scale`` (its variance scales the kernel), else that of the quantized one."""
        kernel = self.kernel
        if not self.scale:
            self._adapt_kernel_bits_once(kernel)
            qk = self.kq(kernel, training, False)
            return qk, self._apply_kernel(x, qk), None, 1.0
        z = self._apply_kernel(x, kernel)
        batch_mean, variance = self._batch_moments(z)
        self._update_moving(self.moving_variance, variance)
        bn_scale = self._bn_scale(variance)
        fused_kernel = kernel * bn_scale
        self._adapt_kernel_bits_once(fused_kernel)
        return self.kq(fused_kernel, training, False), z, batch_mean, bn_scale

    def _batch_fused_bias(self, z, batch_mean, bn_scale):
        """The bias fused with the batch mean of ``z + bias`` (which updates ``moving_mean``); None without one."""
        if not self.center:
            return self.bias if self.use_bias else None
        if batch_mean is None:
            batch_mean = self._batch_moments(z, with_variance=False)[0]
        mean = batch_mean + self.bias
        self._update_moving(self.moving_mean, mean)
        return self.bias - mean * bn_scale + self.bn_beta

    # ----------------------------------------------------------------------------------- config
    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            'momentum': self.momentum,
            'epsilon': self.epsilon,
            'center': self.center,
            'scale': self.scale,
            'beta_initializer': keras.initializers.serialize(self.beta_initializer),
            'gamma_initializer': keras.initializers.serialize(self.gamma_initializer),
            'moving_mean_initializer': keras.initializers.serialize(self.moving_mean_initializer),
            'moving_variance_initializer': keras.initializers.serialize(self.moving_variance_initializer),
            'beta_regularizer': keras.regularizers.serialize(self.beta_regularizer),
            'gamma_regularizer': keras.regularizers.serialize(self.gamma_regularizer),
            'beta_constraint': keras.constraints.serialize(self.beta_constraint),
            'gamma_constraint': keras.constraints.serialize(self.gamma_constraint),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        config = dict(config)
        if 'save_ranges' not in config:
            # an HGQ1 file: the layer is restored, already trained; do not re-adapt its kernel bitwidths
            config.setdefault('do_adapt_kernel_bits', False)
        return super().from_config(config)


@keras.saving.register_keras_serializable(package='HGQ')
class HDenseBatchNorm(HBatchNormBase, HDense):
    """`HDense` with a BatchNorm (over the last axis) fused into its kernel and bias.

    Arguments are those of `HDense` and the keyword arguments of `HBatchNormBase`.
    """
