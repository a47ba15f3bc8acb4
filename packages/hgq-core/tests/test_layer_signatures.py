"""Signature parity of the HGQ layers with their Keras parents (in the spirit of larq's ``test_layer_kwargs``).

Every argument of a Keras parent's ``__init__`` is named by the HGQ layer, or is in an explicit exclusion set
below that says why not; the HGQ layer's own extra arguments are the documented HGQ ones.
"""

from __future__ import annotations

import inspect

import keras
import pytest

from HGQ.layers import (
    HActivation,
    HAdd,
    HBatchNormBase,
    HConv,
    HConv1D,
    HConv1DBatchNorm,
    HConv2D,
    HConv2DBatchNorm,
    HConvBatchNorm,
    HDense,
    HDenseBatchNorm,
    PAveragePooling1D,
    PAveragePooling2D,
    PConcatenate,
    PDropout,
    PFlatten,
    PMaxPooling1D,
    PMaxPooling2D,
    PPermute,
    PReshape,
)

# Keras arguments the HGQ layers deliberately do not name (a Keras layer would take them through **kwargs)
KERAS_ONLY = {
    'lora_rank',  # LoRA adapts a float kernel; an HGQ kernel is quantized per weight by its kernel quantizer
    'lora_alpha',  # (see lora_rank)
    'quantization_config',  # Keras' own int8/float8 quantization; HGQ quantizes the layer itself
}
# BatchNormalization arguments the fused-BN layers do not take
BN_KERAS_ONLY = {
    'axis',  # the BN axis is the output channel axis, given by data_format
    'renorm',  # batch renormalization is not fused into a kernel
    'renorm_clipping',  # (see renorm)
    'renorm_momentum',  # (see renorm)
    'synchronized',  # under tf.distribute the statistics are always those of the global batch
}
# arguments of keras.layers.Layer itself that some HGQ layers name explicitly
LAYER_ARGS = {'trainable', 'name'}

HGQ_ARGS = {'kq_conf', 'paq_conf', 'beta'}
BN_ARGS = {
    'momentum', 'epsilon', 'center', 'scale', 'beta_initializer', 'gamma_initializer', 'moving_mean_initializer',
    'moving_variance_initializer', 'beta_regularizer', 'gamma_regularizer', 'beta_constraint', 'gamma_constraint',
}
CONV_EXTRAS = HGQ_ARGS | LAYER_ARGS | {'parallel_factor'}


def keras_parent(cls: type) -> type:
    """The first Keras class among the bases of ``cls`` (HConv's is Keras' private BaseConv)."""
    return next(c for c in cls.__mro__ if c.__module__.startswith('keras.'))


# (HGQ layer, Keras parent, the HGQ layer's own extra arguments)
CASES = [
    (HDense, keras.layers.Dense, HGQ_ARGS | {'parallel_factor'}),
    (HConv, keras_parent(HConv), CONV_EXTRAS | {'conv_op'}),
    (HConv1D, keras.layers.Conv1D, CONV_EXTRAS),
    (HConv2D, keras.layers.Conv2D, CONV_EXTRAS),
    (HDenseBatchNorm, keras.layers.Dense, HGQ_ARGS | {'parallel_factor'} | BN_ARGS),
    (HConvBatchNorm, keras_parent(HConv), CONV_EXTRAS | {'conv_op'} | BN_ARGS),
    (HConv1DBatchNorm, keras.layers.Conv1D, CONV_EXTRAS | BN_ARGS),
    (HConv2DBatchNorm, keras.layers.Conv2D, CONV_EXTRAS | BN_ARGS),
    (HActivation, keras.layers.Activation, {'paq_conf', 'beta'}),
    (HAdd, keras.layers.Add, {'paq_conf', 'beta'}),
    (PFlatten, keras.layers.Flatten, set()),
    (PReshape, keras.layers.Reshape, set()),
    (PPermute, keras.layers.Permute, set()),
    (PDropout, keras.layers.Dropout, set()),
    (PConcatenate, keras.layers.Concatenate, set()),
    (PMaxPooling1D, keras.layers.MaxPooling1D, set()),
    (PMaxPooling2D, keras.layers.MaxPooling2D, set()),
    (PAveragePooling1D, keras.layers.AveragePooling1D, set()),
    (PAveragePooling2D, keras.layers.AveragePooling2D, set()),
]
IDS = [cls.__name__ for cls, _, _ in CASES]


def named_arguments(cls: type) -> set[str]:
    """The arguments ``cls(...)`` names (``*args`` and ``**kwargs`` left out)."""
    params = inspect.signature(cls).parameters.values()
    return {p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def documented(cls: type, name: str) -> bool:
    """Whether an HGQ class in the MRO of ``cls`` documents ``name`` in its docstring."""
    docs = [c.__doc__ or '' for c in cls.__mro__ if c.__module__.startswith('HGQ.')]
    return any(name in doc for doc in docs)


def test_keras_parent_is_a_base():
    for cls, parent, _ in CASES:
        assert issubclass(cls, parent), (cls, parent)


@pytest.mark.parametrize('cls,parent,extras', CASES, ids=IDS)
def test_accepts_every_keras_argument(cls, parent, extras):
    missing = named_arguments(parent) - named_arguments(cls) - KERAS_ONLY
    assert not missing, f'{cls.__name__} does not name these arguments of {parent.__name__}: {sorted(missing)}'


@pytest.mark.parametrize('cls,parent,extras', CASES, ids=IDS)
def test_extra_arguments_are_the_documented_hgq_ones(cls, parent, extras):
    assert named_arguments(cls) - named_arguments(parent) == extras
    undocumented = sorted(a for a in extras - LAYER_ARGS if not documented(cls, a))
    assert not undocumented, f'{cls.__name__}: arguments not documented in the HGQ docstrings: {undocumented}'


def test_bn_arguments_are_batchnormalization_ones():
    bn_keras = named_arguments(keras.layers.BatchNormalization)
    assert bn_keras - BN_KERAS_ONLY == BN_ARGS
    own = inspect.signature(HBatchNormBase.__init__).parameters.values()
    assert {p.name for p in own if p.kind is p.KEYWORD_ONLY} == BN_ARGS
    for name in BN_ARGS:
        assert documented(HBatchNormBase, name), name


@pytest.mark.parametrize('cls,kernel_layer', [
    (HDenseBatchNorm, HDense), (HConvBatchNorm, HConv), (HConv1DBatchNorm, HConv1D), (HConv2DBatchNorm, HConv2D),
])
def test_bn_signature_is_kernel_layer_then_bn_arguments(cls, kernel_layer):
    params = list(inspect.signature(cls).parameters.values())
    kernel = [p for p in inspect.signature(kernel_layer).parameters.values() if p.kind is not p.VAR_KEYWORD]
    assert params[: len(kernel)] == kernel
    assert {p.name for p in params[len(kernel) : -1]} == BN_ARGS
    assert params[-1].kind is inspect.Parameter.VAR_KEYWORD


REQUIRED = {'units': 4, 'rank': 1, 'filters': 3, 'kernel_size': 2}


@pytest.mark.parametrize('cls', [HDenseBatchNorm, HConvBatchNorm, HConv1DBatchNorm, HConv2DBatchNorm])
def test_bn_signature_is_what_the_constructor_takes(cls):
    """Every argument of the composed signature, by keyword and (kernel-layer ones) by position, reaches the layer."""
    params = inspect.signature(cls).parameters.values()
    by_keyword = {p.name: (REQUIRED[p.name] if p.default is p.empty else p.default) for p in params if p.kind not in (
        p.VAR_POSITIONAL, p.VAR_KEYWORD
    )}
    by_keyword.update(momentum=0.5, epsilon=0.25, use_bias=True, beta=0.125)
    layer = cls(**by_keyword)
    assert (layer.momentum, layer.epsilon, layer.beta_initializer.__class__.__name__) == (0.5, 0.25, 'Zeros')
    positional = [REQUIRED[p.name] for p in params if p.default is p.empty and p.kind is p.POSITIONAL_OR_KEYWORD]
    layer = cls(*positional, momentum=0.5)
    config = layer.get_config()
    assert config['momentum'] == 0.5
    assert type(cls.from_config(config)).__name__ == cls.__name__
