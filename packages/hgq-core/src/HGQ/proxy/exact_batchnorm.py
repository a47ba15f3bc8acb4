"""Batch normalization for proxy models, computed with correctly rounded operations only.

Keras' ``BatchNormalization`` at inference calls the backend's fused formula, which on TensorFlow evaluates
``rsqrt(variance + epsilon)``. TensorFlow's vectorized float32 ``rsqrt`` is an approximation on some CPUs
(measured on AVX-512 with eight or more channels): ``rsqrt(1.0)`` gives ``0.99999994``, and
``x * scale + offset`` is then off by an ulp, which a following quantizer can turn into a whole step. A proxy
model must give the same bits on every machine, so this layer computes ``scale = gamma / sqrt(variance +
epsilon)`` with IEEE square root and division (correctly rounded on every backend) and then
``x * scale + (beta - mean * scale)``, the formula hls4ml uses for the firmware. With mean 0 and variance 1
(how the converters store a plain affine map) the scale is ``gamma`` itself.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package='HGQ')
class ExactBatchNormalization(keras.layers.BatchNormalization):
    """``BatchNormalization`` whose inference is the same on every backend and CPU (no approximate rsqrt).

    Training (``training=True`` on a trainable layer) is Keras' own batch normalization; proxy models are
    only run for inference.
    """

    def call(self, inputs, training=None, mask=None):
        if training and self.trainable:
            return super().call(inputs, training=training, mask=mask)
        dtype = keras.backend.result_type(inputs.dtype, 'float32')
        x = ops.cast(inputs, dtype)
        shape = [1] * len(x.shape)
        shape[self.axis % len(x.shape)] = -1

        def weight(variable):
            return ops.reshape(ops.cast(variable, dtype), shape)

        gamma = weight(self.gamma) if self.scale else 1.0
        # DivNoNan, not a plain division: TensorFlow's graph optimizer turns a / sqrt(b) into a * rsqrt(b), the
        # approximate op this layer avoids, and leaves DivNoNan alone (a zero variance with epsilon 0 gives 0).
        scale = ops.divide_no_nan(gamma, ops.sqrt(weight(self.moving_variance) + self.epsilon))
        offset = -weight(self.moving_mean) * scale
        if self.center:
            offset = weight(self.beta) + offset
        return ops.cast(x * scale + offset, self.compute_dtype)

