"""Base classes of every HGQ layer.

``ABSBaseLayer`` knows how to find the layer that produced its input, so that a layer can read
the bitwidths of its input for the BOPs estimate. ``HLayerBase`` adds the kernel quantizer
(``kq``), the output ("pre-activation") quantizer (``paq``), the per-layer ``beta`` and ``bops``
variables, and the bookkeeping shared by all H-layers.
"""

from __future__ import annotations

import functools
from typing import Any

import keras
import numpy as np
from keras import ops

from .._keras_compat import PerThreadLosses, inbound_nodes, keras_history, own_variables, producer_of
from ..quantizer.quantizer import FLOOR, HGQ, STANDARD_ROUND, bits_with_grad, eager_scope, log2
from ..utils.utils import get_default_kq_conf, get_default_paq_conf

# On PyTorch, a Keras layer is a ``torch.nn.Module`` whose ``__call__`` runs ``self.forward``, which Keras reserves
# for its own dispatch to ``call``. HGQ layers use ``forward(x, training, record_minmax)`` for their computation
# (the HGQ1 API, also for user subclasses); there, each ``forward`` is wrapped so that torch's dispatch continues
# into ``call`` (which sets up the range recording) and only ``call`` reaches the layer's own ``forward``.
_TORCH = keras.backend.backend() == 'torch'


def _torch_forward(impl):
    @functools.wraps(impl)
    def forward(self, *args, **kwargs):
        if self.__dict__.get('_hgq_in_call', False):
            return impl(self, *args, **kwargs)
        # called by torch.nn.Module.__call__ (or directly): what Keras' TorchLayer.forward does
        return keras.Operation.__call__(self, *args, **kwargs)

    forward._hgq_torch_forward = True
    return forward


def broadcast_if_needed(x, shape):
    """``broadcast_to(x, shape)``, or ``x`` itself where it has that shape already (a broadcast to the same shape is
    an op, and one more in the gradient, that TensorFlow runs every training step)."""
    if tuple(x.shape) == tuple(shape):
        return x
    return ops.broadcast_to(x, shape)


def scale_grad(x, scale: float):
    """Returns ``x`` with its gradient multiplied by ``scale``."""
    sx = x * scale
    return sx + ops.stop_gradient(x - sx)


@keras.saving.register_keras_serializable(package='HGQ')
class BitwidthClip(keras.constraints.Constraint):
    """Keeps trainable fractional bits inside ``[min_value, max_value]`` after each update."""

    def __init__(self, min_value: float = -23.0, max_value: float = 23.0):
        self.min_value = float(min_value)
        self.max_value = float(max_value)

    def __call__(self, w):
        return ops.clip(w, self.min_value, self.max_value)

    def get_config(self) -> dict[str, Any]:
        return {'min_value': self.min_value, 'max_value': self.max_value}


def _serialize_conf(conf: dict[str, Any]) -> dict[str, Any]:
    out = dict(conf)
    reg = out.get('regularizer')
    if reg is not None and not isinstance(reg, dict):
        out['regularizer'] = keras.saving.serialize_keras_object(reg)
    for key in ('skip_dims', 'bw_clip'):
        if isinstance(out.get(key), tuple):
            out[key] = list(out[key])
    return out


def _normalize_conf(conf: dict[str, Any] | None, default: dict[str, Any], what: str) -> dict[str, Any]:
    if conf is None:
        return dict(default)
    if not isinstance(conf, dict):
        raise ValueError(f'{what} must be a dict or None, got {type(conf).__name__}: {conf!r}.')
    unknown = sorted(set(conf) - set(default) - {'minmax_record'})
    if unknown:
        raise ValueError(f'{what} has unknown keys {unknown}; allowed keys are {sorted(default)}.')
    out = dict(default)
    out.update(conf)
    for key in ('skip_dims', 'bw_clip'):
        if isinstance(out.get(key), list):
            out[key] = tuple(out[key])
    return out


def _activation_name(activation) -> str | None:
    if activation is None:
        return None
    if isinstance(activation, str):
        return activation.lower()
    if callable(activation):
        return getattr(activation, '__name__', type(activation).__name__).lower()
    return repr(activation)


# plain Keras layers and the HGQ layers that keep track of the bitwidths through them
_HGQ_TWINS = {
    'Flatten': 'PFlatten', 'Reshape': 'PReshape', 'Permute': 'PPermute', 'Dropout': 'PDropout',
    'Concatenate': 'PConcatenate', 'MaxPooling1D': 'PMaxPooling1D', 'MaxPooling2D': 'PMaxPooling2D',
    'AveragePooling1D': 'PAveragePooling1D', 'AveragePooling2D': 'PAveragePooling2D', 'Add': 'HAdd',
    'Activation': 'HActivation', 'ReLU': 'HActivation("relu")', 'Dense': 'HDense', 'Conv1D': 'HConv1D',
    'Conv2D': 'HConv2D',
}


class ABSBaseLayer(keras.layers.Layer):
    """Common base of H- and P-layers: access to the bitwidths of the layer feeding this one."""

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        config = dict(config)
        # Keras 2 (HGQ1) `.keras` files give a Sequential model's first layer `batch_input_shape`, a keyword
        # Keras 3 layers no longer take; the legacy `.h5` loader translates it the same way.
        batch_input_shape = config.pop('batch_input_shape', None)
        if batch_input_shape is not None and 'input_shape' not in config:
            config['input_shape'] = tuple(batch_input_shape[1:])
        return super().from_config(config)

    def _input_tensors(self):
        nodes = inbound_nodes(self)
        if not nodes:
            return None
        if len(nodes) > 1:
            # Keras rebuilds a Sequential model on every `add` (also when loading one), which leaves a stale
            # node per rebuild; those come from the same producers. Calls on different producers are reuse.
            producers = {tuple(id(producer_of(t)) for t in node.input_tensors) for node in nodes}
            if len(producers) > 1:
                raise ValueError(
                    f'Layer {self.name!r} is used {len(nodes)} times on different inputs; HGQ layers carry '
                    'per-call state (recorded ranges, BOPs) and must be used exactly once. Create one layer per '
                    'call site.'
                )
        return list(nodes[-1].input_tensors)

    @property
    def input_layers(self) -> list[keras.layers.Layer | None] | None:
        """The layers producing this layer's inputs (``None`` when not part of a functional graph)."""
        tensors = self._input_tensors()
        if tensors is None:
            return None
        return [producer_of(t) for t in tensors]

    @property
    def last_layer(self):
        layers = self.input_layers
        if layers is None:
            raise ValueError(f'Layer {self.name!r} is not connected in a model graph yet.')
        if len(layers) != 1:
            raise ValueError(f'Layer {self.name!r} has {len(layers)} inputs; last_layer needs exactly one.')
        return layers[0]

    def _check_quantized_input(self, producer) -> None:
        if not isinstance(producer, ABSBaseLayer):
            what = 'the model input' if producer is None or isinstance(producer, keras.layers.InputLayer) else (
                f'{getattr(producer, "name", producer)!r} ({type(producer).__name__})'
            )
            twin = _HGQ_TWINS.get(type(producer).__name__)
            hint = f' Replace {type(producer).__name__} by HGQ\'s {twin}, or put' if twin else ' Put'
            raise ValueError(
                f'{type(self).__name__} {self.name!r} takes its input from {what}, which is not quantized by HGQ. '
                f'Layers with a kernel need a quantized input to compute BOPs and a bit-exact firmware.{hint} '
                'HQuantize (or Signature, for inputs already in fixed point) before it.'
            )

    @property
    def input_bw(self):
        """Differentiable bitwidths of the input, or None when unavailable."""
        layers = self.input_layers
        if not layers or len(layers) != 1 or not isinstance(layers[0], ABSBaseLayer):
            return None
        return layers[0].act_bw

    @property
    def input_bw_exact(self) -> np.ndarray:
        layer = self.last_layer
        self._check_quantized_input(layer)
        return np.asarray(layer.act_bw_exact, dtype=np.float32)


class HLayerBase(PerThreadLosses, ABSBaseLayer):
    """Base class of the H-layers (layers with a trainable output quantizer). Each thread keeps its own BOPs
    losses (`PerThreadLosses`, for the replicas of tf.distribute).

    Args:
        kq_conf: Kernel quantizer config (see `HGQ.get_default_kq_conf`); None for the default.
        paq_conf: Output ("pre-activation") quantizer config; None for the default.
        beta: BOPs regularization strength; the layer adds ``beta * BOPs`` to the loss in training.
        save_ranges: Save the traced value ranges with the model (also in ``.h5``). Layers restored from
            HGQ1 files, which never held the ranges, have it False: re-run `trace_minmax` after loading them.
    """

    _allows_any_activation = False
    _delayed_kernel_bits_adaption = False
    _requires_quantized_input = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        impl = cls.__dict__.get('forward')
        if _TORCH and callable(impl) and not getattr(impl, '_hgq_torch_forward', False):
            cls.forward = _torch_forward(impl)

    def __init__(self, kq_conf=None, paq_conf=None, beta: float = 0.0, save_ranges: bool = True, **kwargs):
        self.save_ranges = bool(save_ranges)
        self._has_kernel = None
        self._has_bias = None
        self.kq_config = _normalize_conf(kq_conf, get_default_kq_conf(), 'kq_conf')
        self.paq_config = _normalize_conf(paq_conf, get_default_paq_conf(), 'paq_conf')
        try:
            self._beta0 = float(beta)
        except (TypeError, ValueError):
            raise ValueError(f'beta must be a number, got {beta!r}.') from None
        if not self._beta0 >= 0:
            raise ValueError(f'beta must be non-negative, got {beta!r}.')
        self.record_minmax = False
        self._do_adapt_kernel_bits = kwargs.pop('do_adapt_kernel_bits', True)
        activation = kwargs.get('activation', None)
        if not self._allows_any_activation:
            name = _activation_name(activation)
            if name not in (None, 'linear', 'relu'):
                raise ValueError(
                    f'{type(self).__name__} only supports activation None, "linear" or "relu"; got {activation!r}. '
                    'Use a separate HActivation layer for other activations.'
                )
        # validate the quantizer configs early (bad values fail at construction, not at build)
        HGQ.from_config(self.kq_config)
        HGQ.from_config(self.paq_config)
        super().__init__(**kwargs)

    # ------------------------------------------------------------------------------------ build
    def build(self, input_shape):
        # A Sequential model without an input shape builds its layers inside the first traced training step;
        # the variables are created outside the trace, so that their initial values (from which the kernel
        # bitwidths are adapted) exist at once.
        with eager_scope():
            super().build(input_shape)
            self.post_build(input_shape)

    @property
    def channel_loc(self) -> int:
        return getattr(self, '_channel_loc', -1)

    def _make_quantizer_state(self, q: HGQ, name: str, value_shape, trainable: bool, adapt_to=None):
        """Creates the bitwidth variable of ``q``; with ``adapt_to`` (a variable), its initial value keeps about
        ``init_bw`` significant bits of each value of ``adapt_to`` (computed when the variable gets its value,
        which Keras defers when the layer is built inside a traced function)."""
        bw_shape, degeneracy = q.bw_shape_and_degeneracy(value_shape)
        lo, hi = q.bw_clip if q.bw_clip is not None else (-126.0, 126.0)
        initializer = keras.initializers.Constant(q.init_bw)
        if adapt_to is not None:

            def initializer(shape, dtype=None):
                return q.adapted_bw(adapt_to, ops.full(shape, float(q.init_bw), 'float32'))

        fbw = self.add_weight(
            name=name,
            shape=bw_shape,
            initializer=initializer,
            trainable=bool(q.trainable and trainable),
            regularizer=q.regularizer,
            constraint=BitwidthClip(lo, hi),
            dtype='float32',
        )
        q.degeneracy = float(degeneracy)
        return fbw, bw_shape

    def init_quantizers(self, input_shape):
        """Creates the kernel and output quantizers and their variables."""
        if self._has_kernel:
            kq = HGQ.from_config(self.kq_config)
            adapt = self._do_adapt_kernel_bits and not self._delayed_kernel_bits_adaption
            fbw, _ = self._make_quantizer_state(
                kq, 'kernel_bw', tuple(self.kernel.shape), self.trainable, adapt_to=self.kernel if adapt else None
            )
            if adapt:
                self._do_adapt_kernel_bits = False
            kq.build(fbw)
            kq.degeneracy *= float(getattr(self, '_kernel_degeneracy_factor', 1))
            self.kq = kq

        paq = HGQ.from_config(self.paq_config)
        out_shape = self.compute_output_shape(input_shape)
        self._output_shape_no_batch = tuple(out_shape[1:])
        fbw, bw_shape = self._make_quantizer_state(paq, 'activation_bw', tuple(out_shape), self.trainable)
        self.paq = paq

        self.beta = self.add_weight(
            name='beta', shape=(), initializer=keras.initializers.Constant(self._beta0), trainable=False,
            dtype='float32',
        )
        self.bops = self.add_weight(name='bops', shape=(), initializer='zeros', trainable=False, dtype='float32')
        vmin = vmax = None
        if paq.minmax_record:
            vmin = self.add_weight(
                name='activation_min', shape=bw_shape, initializer=keras.initializers.Constant(float('inf')),
                trainable=False, dtype='float32',
            )
            vmax = self.add_weight(
                name='activation_max', shape=bw_shape, initializer=keras.initializers.Constant(float('-inf')),
                trainable=False, dtype='float32',
            )
        seed = keras.random.SeedGenerator(name=f'{self.name}_seed') if paq.needs_random else None
        paq.build(fbw, vmin, vmax, seed)
        if self._has_kernel and self.kq.needs_random:
            self.kq.seed_generator = keras.random.SeedGenerator(name=f'{self.name}_kq_seed')

    def post_build(self, input_shape):
        """Creates the quantizers after the Keras layer built its own weights."""
        self._has_kernel = getattr(self, 'kernel', None) is not None
        self._has_bias = getattr(self, 'bias', None) is not None
        self.init_quantizers(input_shape)
        if self.paq.rnd_strategy == -1:
            self.paq.rnd_strategy = STANDARD_ROUND if self.can_bias_cover_rnd else FLOOR

    @property
    def can_bias_cover_rnd(self) -> bool:
        """Whether the bias can absorb the half-LSB offset that turns round-half-up into truncation."""
        if not self._has_bias:
            return False
        q_shape = tuple(self.paq.fbw.shape)
        b_shape = tuple(self.bias.shape)
        if len(b_shape) != 1:
            return False
        if int(np.prod(q_shape)) == 1:
            return True
        if self.channel_loc == -1:
            return int(np.prod(q_shape[:-1])) == 1 and b_shape == q_shape[-1:]
        return int(np.prod(q_shape[2:])) == 1 and q_shape[0] == 1 and b_shape == q_shape[1:2]

    @property
    def _relu_act(self) -> bool:
        return getattr(self, 'activation', None) is keras.activations.relu

    # ------------------------------------------------------------------------------------- call
    def symbolic_call(self, *args, **kwargs):
        if self._requires_quantized_input and args:
            first = args[0][0] if isinstance(args[0], (list, tuple)) and args[0] else args[0]
            if keras_history(first) is not None:
                self._check_quantized_input(producer_of(first))
        return super().symbolic_call(*args, **kwargs)

    def call(self, x, training=None, record_minmax=None):
        if record_minmax is None:
            record_minmax = bool(training) or self.record_minmax
        x = self._cast_inputs(x)
        if not _TORCH:
            return self.forward(x, training=training, record_minmax=record_minmax)
        outer = self.__dict__.get('_hgq_in_call', False)
        self.__dict__['_hgq_in_call'] = True
        try:
            return self.forward(x, training=training, record_minmax=record_minmax)
        finally:
            self.__dict__['_hgq_in_call'] = outer

    def _cast_inputs(self, x):
        if isinstance(x, (list, tuple)):
            return [ops.cast(v, self.compute_dtype) for v in x]
        return ops.cast(x, self.compute_dtype)

    # ------------------------------------------------------------------------------ forward skeleton
    def forward(self, x, training=None, record_minmax=None):
        """The layer's computation (the HGQ1 API; HGQ1-style subclasses override it and call the parent's).

        For the layers with a kernel: kernel op on the quantized kernel -> quantized bias -> output quantizer
        (which records the range when ``record_minmax``) -> BOPs loss (in training) -> activation. Such layers
        override only `_apply_kernel` (and `_add_bias`, `_differentiable_bops`); the fused-BatchNorm layers
        `_kernel_forward`. Layers without a kernel override ``forward`` itself.
        """
        qk, z, bias = self._kernel_forward(x, training)
        if bias is not None:
            z = self._add_bias(z, self.paq.bias_forward(bias, training, self.channel_loc))
        z = self.paq(z, training, record_minmax)
        if training:
            self._record_bops(qk)
        return self.activation(z)

    def _kernel_forward(self, x, training):
        """``(quantized kernel, kernel op output, bias to add or None)`` for one call."""
        qk = self.kq(self.fused_kernel, training, False)
        bias = self.fused_bias if self.use_bias else None
        return qk, self._apply_kernel(x, qk), bias

    def _apply_kernel(self, x, kernel):
        """The kernel op (``x @ kernel``, a convolution, ...)."""
        raise NotImplementedError(
            f'{type(self).__name__} has no kernel op: override `_apply_kernel(x, kernel)` or `forward`.'
        )

    def _add_bias(self, z, bias):
        return z + bias

    def _differentiable_bops(self, input_bw, kernel_bw):
        """Differentiable BOPs from the input and kernel bitwidths."""
        raise NotImplementedError(f'{type(self).__name__} does not define `_differentiable_bops`.')

    def _record_bops(self, qk) -> None:
        """Adds ``beta * BOPs`` of the quantized kernel ``qk`` to the losses (when the input bitwidths are known)."""
        input_bw = self.input_bw
        if input_bw is not None:
            self._add_bops_loss(self._differentiable_bops(input_bw, self._kernel_bw(qk)))

    def _add_bops_loss(self, bops):
        self.bops.assign(ops.stop_gradient(bops))
        self.add_loss(self.beta * bops)

    # ------------------------------------------------------------------------------- bitwidths
    def _kernel_bw(self, qk):
        """Differentiable bitwidths of an already quantized kernel (sign not counted)."""
        int_bits = ops.floor(log2(ops.abs(ops.stop_gradient(qk)))) + 1.0
        if self.kq.axes:
            int_bits = ops.max(int_bits, axis=self.kq.axes, keepdims=True)
        k_bw = bits_with_grad(int_bits, self.kq.fbw, float(np.sqrt(1.0 / self.kq.degeneracy)), self.kq.bw_clip)
        return broadcast_if_needed(k_bw, qk.shape)

    @property
    def kernel_bw(self):
        """Differentiable bitwidths of the kernel."""
        return self._kernel_bw(self.kq(self.fused_kernel, training=False))

    @property
    def kernel_bw_exact(self) -> np.ndarray:
        """Exact bitwidths of the deployed (quantized, fused) kernel; the sign is not counted."""
        _, i, f = self.kq.get_bits_exact(self.fused_kernel)
        return (i.astype(np.int32) + f.astype(np.int32)).astype(np.float32)

    @property
    def act_bw(self):
        """Differentiable bitwidths of the output, shape ``(1,) + output_shape[1:]``."""
        q = self.paq
        if self._relu_act:
            base = ops.floor(log2(ops.maximum(q._max, 0.0))) + 1.0
        else:
            vmin = ops.copy(q._min)  # one read of the variable for both uses
            ref = ops.maximum(ops.abs(vmin), ops.abs(q._max))
            base = ops.floor(log2(ref)) + ops.where(vmin < 0, 2.0, 1.0)
        bw = bits_with_grad(base, q.fbw, float(np.sqrt(1.0 / q.degeneracy)), q.bw_clip)
        return broadcast_if_needed(bw, self._act_shape)

    @property
    def _act_shape(self) -> tuple[int, ...]:
        return (1,) + tuple(int(s) for s in self._output_shape_no_batch)

    @property
    def act_bw_exact(self) -> np.ndarray:
        """Exact bitwidths of the output after `trace_minmax`, sign included (except after ReLU)."""
        k, i, f = self.paq.get_bits_exact(pos_only=self._relu_act)
        bw = k.astype(np.int32) + i.astype(np.int32) + f.astype(np.int32)
        return np.broadcast_to(bw, self._act_shape).astype(np.float32)

    # --------------------------------------------------------------------------- deployment
    @property
    def fused_kernel(self):
        return self.kernel

    @property
    def fused_bias(self):
        return self.bias

    @property
    def fused_qkernel(self):
        """The deployed kernel: quantized (and BN-fused where applicable)."""
        return self.kq(self.fused_kernel, training=False)

    @property
    def fused_qbias(self):
        """The deployed bias: quantized with the output's fractional bits; when the output rounds half up
        and the bias can absorb it, pre-shifted by half an LSB so that the firmware can truncate; zero for
        pruned channels."""
        bias = np.asarray(ops.convert_to_numpy(self.paq.bias_forward(self.fused_bias, False, self.channel_loc)))
        fbw = np.asarray(ops.convert_to_numpy(self.paq._bias_fbw(self.channel_loc)))
        fbw = np.broadcast_to(np.round(fbw), bias.shape)
        nd = len(self._act_shape)
        axes = tuple(range(nd - 1)) if self.channel_loc == -1 else (0,) + tuple(range(2, nd))
        mask = np.max(self.act_bw_exact, axis=axes) > 0
        if self.paq.rnd_strategy != FLOOR and self.can_bias_cover_rnd:
            bias = bias + 2.0 ** (-fbw - 1)
        return np.where(np.broadcast_to(mask, bias.shape), bias, 0.0).astype(np.float32)

    def reset_minmax(self):
        """Resets the recorded output range."""
        self.paq.minmax_reg_reset()

    @property
    def compute_exact_bops(self) -> float:
        """Exact BOPs after `trace_minmax` (0 for layers without a kernel); also stored in ``bops``."""
        self.bops.assign(0.0)
        return 0.0

    # ----------------------------------------------------------------------------------- config
    def _unsaved_without_ranges(self) -> list:
        """Variables left out of the saved state when ``save_ranges`` is False (HGQ1 files never held them)."""
        if getattr(self, 'paq', None) is None or self.paq._min is None:
            return []
        return [self.paq._min, self.paq._max]

    @property
    def non_trainable_weights(self):
        """Non-trainable weights in the order of the legacy ``.h5`` format; without the traced ranges when
        ``save_ranges`` is False (the layout of HGQ1 files)."""
        weights = super().non_trainable_weights
        if self.save_ranges or not self.built:
            return weights
        skip = {id(v) for v in self._unsaved_without_ranges()}
        return [w for w in weights if id(w) not in skip]

    def save_own_variables(self, store):
        # every variable of the layer, bitwidths and ranges included (Keras' Dense/Conv save only kernel/bias)
        keras.layers.Layer.save_own_variables(self, store)

    def load_own_variables(self, store):
        if not self.save_ranges and self.built:
            # `.keras` files written by HGQ1 (Keras 2) hold every variable but the traced ranges, in the same order
            skip = {id(v) for v in self._unsaved_without_ranges()}
            variables = [v for v in own_variables(self) if id(v) not in skip]
            if skip and len(store.keys()) == len(variables):
                for i, variable in enumerate(variables):
                    variable.assign(store[str(i)])
                return
        keras.layers.Layer.load_own_variables(self, store)

    def get_config(self) -> dict[str, Any]:
        base = super().get_config()
        beta = float(ops.convert_to_numpy(self.beta)) if self.built else self._beta0
        return {
            **base,
            'kq_conf': _serialize_conf(self.kq_config),
            'paq_conf': _serialize_conf(self.paq_config),
            'beta': beta,
            'save_ranges': self.save_ranges,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        config = dict(config)
        # configs written by HGQ1 have no 'save_ranges': their files hold no ranges
        config.setdefault('save_ranges', False)
        return super().from_config(config)

    def get_keras_config(self) -> dict[str, Any]:
        """The config of the plain Keras parent layer (used by the proxy conversion)."""
        return super().get_config()


if _TORCH:  # the skeleton is a `forward` too (those of subclasses are wrapped by `__init_subclass__`)
    HLayerBase.forward = _torch_forward(HLayerBase.forward)
