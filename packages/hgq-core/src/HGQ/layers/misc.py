"""H-layers without a kernel: `HQuantize`, `HActivation` and `HAdd`. Their BOPs are 0."""

from __future__ import annotations

import keras

from ..quantizer.quantizer import STANDARD_ROUND
from .base import HLayerBase


def _keras2_layer_config(class_name: str, config: dict) -> dict:
    """A Keras 2 activation layer config in Keras 3 terms (``LeakyReLU(alpha)`` is ``negative_slope`` now)."""
    config = dict(config)
    if class_name == 'LeakyReLU' and 'alpha' in config and 'negative_slope' not in config:
        config['negative_slope'] = config.pop('alpha')
    return config


def deserialize_activation(config: dict):
    """The activation a serialized ``HActivation`` config holds: a Keras function (``keras.activations.*``), a
    registered function, or a Keras layer such as ``ELU(alpha=-1.5)``, ``LeakyReLU`` or ``ReLU(max_value)``, as
    written by Keras 3 or by Keras 2 (HGQ1)."""
    config = dict(config)
    class_name = config.get('class_name')
    if isinstance(config.get('config'), dict):
        config['config'] = _keras2_layer_config(class_name, config['config'])
    if 'module' not in config and isinstance(getattr(keras.layers, str(class_name), None), type):
        # older Keras 2 format: {'class_name': 'ELU', 'config': {...}}
        return getattr(keras.layers, class_name).from_config(config.get('config') or {})
    return keras.saving.deserialize_keras_object(config)


@keras.saving.register_keras_serializable(package='HGQ')
class HQuantize(HLayerBase):
    """Quantizes its input with a trainable per-element quantizer; usually the first layer of a model."""

    def __init__(self, paq_conf=None, beta: float = 0.0, **kwargs):
        if 'kq_conf' in kwargs:
            kwargs.pop('kq_conf')
        super().__init__(paq_conf=paq_conf, beta=beta, **kwargs)

    def forward(self, x, training=None, record_minmax=None):
        return self.paq(x, training=training, record_minmax=record_minmax)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package='HGQ')
class HActivation(HLayerBase, keras.layers.Activation):
    """Applies any activation, then quantizes: ``paq(activation(x))``.

    Args:
        activation: A Keras activation name (e.g. ``'tanh'``) or any element-wise unary callable.
        beta: BOPs regularization strength (the layer has no BOPs of its own).
        paq_conf: Output quantizer config; ``rnd_strategy='auto'`` means ``'standard_round'`` here.
    """

    _allows_any_activation = True

    def __init__(self, activation, beta: float = 0.0, paq_conf=None, **kwargs):
        if isinstance(activation, dict):  # a serialized activation: a config read from a file
            activation = deserialize_activation(activation)
        if activation is None or not (isinstance(activation, str) or callable(activation)):
            raise ValueError(
                f'HActivation: activation must be a Keras activation name (e.g. "tanh") or a unary callable, '
                f'got {activation!r}.'
            )
        super().__init__(activation=activation, beta=beta, paq_conf=paq_conf, **kwargs)

    def init_quantizers(self, input_shape):
        super().init_quantizers(input_shape)
        if self.paq.rnd_strategy == -1:  # 'auto': there is no bias to absorb the rounding offset
            self.paq.rnd_strategy = STANDARD_ROUND

    def forward(self, x, training=None, record_minmax=None):
        return self.paq(self.activation(x), training=training, record_minmax=record_minmax)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package='HGQ')
class HAdd(HLayerBase, keras.layers.Add):
    """Adds two or more inputs of the same shape, then quantizes: ``paq(sum(inputs))``.

    Args:
        paq_conf: Output quantizer config.
        beta: BOPs regularization strength (the layer has no BOPs of its own).
    """

    def __init__(self, paq_conf=None, beta: float = 0.0, **kwargs):
        super().__init__(paq_conf=paq_conf, beta=beta, **kwargs)

    def build(self, input_shape):
        if (not isinstance(input_shape, (list, tuple)) or not input_shape
                or not isinstance(input_shape[0], (list, tuple))):
            raise ValueError(
                f'HAdd {self.name!r} must be called on a list of at least two tensors, got input shape {input_shape!r}.'
            )
        if len(input_shape) < 2:
            raise ValueError(
                f'HAdd {self.name!r} got {len(input_shape)} input; it needs at least two. To quantize a single '
                'tensor use HQuantize instead.'
            )
        shapes = {tuple(s[1:]) for s in input_shape}
        if len(shapes) != 1:
            raise ValueError(
                f'HAdd {self.name!r}: all inputs must have the same shape (no broadcasting), got {list(input_shape)}. '
                'Reshape the inputs first (e.g. with PReshape).'
            )
        super().build(input_shape)

    def forward(self, inputs, training=None, record_minmax=None):
        out = inputs[0]
        for x in inputs[1:]:
            out = out + x  # not ops.add: on TensorFlow it may turn a (1, C)-like operand into a bias_add
        return self.paq(out, training=training, record_minmax=record_minmax)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])
