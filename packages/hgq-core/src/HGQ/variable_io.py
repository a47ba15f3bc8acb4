"""Cheap eager reads and assignments of small variables, for the code that runs at every epoch end (`ResetMinMax`,
`FreeBOPs`): a dispatch per variable, without Keras' conversions and checks where they cannot change the result.

On TensorFlow, executing eagerly, a variable that is a plain resource variable (not one of a ``tf.distribute``
strategy, whose replicas must all be written) is read or assigned with the one resource op it needs: about 8 us
instead of 25-35 us (`benchmarks/results/profile.md`, section 9). Everywhere else, the Keras calls.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

_TF = keras.backend.backend() == 'tensorflow'


def _plain_tf_variable(variable):
    """The eager ``tf.Variable`` behind ``variable`` when the raw resource ops may be used on it, else None."""
    if not _TF:
        return None
    import tensorflow as tf
    from tensorflow.python.ops.resource_variable_ops import BaseResourceVariable

    if not tf.executing_eagerly():
        return None
    value = getattr(variable, 'value', None)
    return value if isinstance(value, BaseResourceVariable) else None


def assign_constant(variable, value) -> None:
    """``variable.assign(value)`` for a backend tensor ``value`` of the variable's exact shape and dtype."""
    tf_var = _plain_tf_variable(variable)
    if tf_var is None:
        variable.assign(value)
        return
    import tensorflow as tf

    tf.raw_ops.AssignVariableOp(resource=tf_var.handle, value=value)


def read_scalar(variable) -> float:
    """The value of a scalar variable as a Python float."""
    tf_var = _plain_tf_variable(variable)
    if tf_var is None:
        return float(np.asarray(ops.convert_to_numpy(variable)))
    import tensorflow as tf

    return float(tf.raw_ops.ReadVariableOp(resource=tf_var.handle, dtype=tf_var.dtype))
