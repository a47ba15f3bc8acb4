"""Gradients and conversions for the tests, on whichever Keras backend runs them (KERAS_BACKEND)."""

from __future__ import annotations

import keras
import numpy as np

BACKEND = keras.backend.backend()


def to_numpy(x) -> np.ndarray:
    """A numpy array of a tensor or variable of any backend (PyTorch tensors that require grad included)."""
    return np.asarray(keras.ops.convert_to_numpy(x))


def grads_wrt_inputs(fn, *args):
    """``fn(*tensors)`` -> ``(loss, aux)``; returns ``(loss, aux, [d loss / d arg])`` as numpy, the arguments
    (numpy arrays) being turned into differentiable tensors of the backend."""
    args = [np.asarray(a, dtype=np.float32) for a in args]
    if BACKEND == 'tensorflow':
        import tensorflow as tf

        ts = [tf.convert_to_tensor(a) for a in args]
        with tf.GradientTape() as tape:
            for t in ts:
                tape.watch(t)
            loss, aux = fn(*ts)
        grads = tape.gradient(loss, ts)
    elif BACKEND == 'torch':
        import torch

        ts = [torch.tensor(a, requires_grad=True) for a in args]
        loss, aux = fn(*ts)
        grads = torch.autograd.grad(loss, ts, allow_unused=True)
    elif BACKEND == 'jax':
        import jax

        (loss, aux), grads = jax.value_and_grad(fn, argnums=tuple(range(len(args))), has_aux=True)(*args)
    else:
        raise NotImplementedError(BACKEND)
    grads = [None if g is None else to_numpy(g) for g in grads]
    return to_numpy(loss), to_numpy(aux), grads


def grads_wrt_variables(loss_fn, variables):
    """``loss_fn()`` (which reads the Keras ``variables``) and its gradients with respect to them, as numpy
    (None where a variable gets no gradient). On JAX the variables are traced through a stateless scope, as in
    Keras' own training step, so that assignments and ``add_loss`` inside the call behave as in ``fit``."""
    variables = list(variables)
    if BACKEND == 'tensorflow':
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_fn()
        grads = tape.gradient(loss, variables)
    elif BACKEND == 'torch':
        import torch

        loss = loss_fn()
        grads = torch.autograd.grad(loss, [v.value for v in variables], allow_unused=True)
    elif BACKEND == 'jax':
        import jax

        def f(values):
            with keras.StatelessScope(state_mapping=list(zip(variables, values)), collect_losses=True):
                return loss_fn()

        loss, grads = jax.value_and_grad(f)([v.value for v in variables])
    else:
        raise NotImplementedError(BACKEND)
    return to_numpy(loss), [None if g is None else to_numpy(g) for g in grads]
