"""Keras models with random weights for the converter tests, built with TF-Keras (Keras 2).

TF-Keras writes `.h5` files in the Keras 2 layout real checkpoints of these families have:
a model_config attribute and model_weights/<layer>/<layer>/kernel:0.
"""

from __future__ import annotations

import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # plain float32 kernels, as ONNX Runtime

import tf_keras as keras  # noqa: E402

layers = keras.layers


def conv(filters: int, strides: int = 1, activation: str = "relu", keras_module=keras):
    return keras_module.layers.Conv2D(filters, 3, strides=strides, padding="same",
                                      activation=activation)


def baseline_exact(size: tuple[int, int] = (256, 256)) -> keras.Model:
    """The 8-convolution, 231,682-parameter baseline of docs/MODELS.md section 1."""
    return keras.Sequential([
        layers.InputLayer((*size, 1)),
        conv(32), conv(32, 2), conv(64), conv(64, 2), conv(128),
        layers.UpSampling2D(2), conv(64), layers.UpSampling2D(2), conv(32),
        conv(2, activation="tanh"),
    ])


def baseline_beta(size: tuple[int, int] = (256, 256)) -> keras.Model:
    """A larger public variant the size of Wallner's Beta at HEAD (3,892,194 parameters):
    64..512 filters, three stride-2 convolutions, an UpSampling2D as the last layer."""
    return keras.Sequential([
        layers.InputLayer((*size, 1)),
        conv(64, 2), conv(128), conv(128, 2), conv(256), conv(256, 2), conv(512), conv(256),
        conv(128), layers.UpSampling2D(2), conv(64), conv(64), layers.UpSampling2D(2), conv(32),
        conv(2, activation="tanh"), layers.UpSampling2D(2),
    ])


def baseline_batchnorm(size: tuple[int, int] = (256, 256), keras_module=keras) -> keras.Model:
    """A Beta-style variant: BatchNormalization after convolutions, separate Activation
    layers, a sigmoid, a Dropout, an UpSampling2D at the end."""
    L = keras_module.layers
    return keras_module.Sequential([
        L.InputLayer((*size, 1)),
        L.Conv2D(16, 3, padding="same", activation="relu"),
        L.BatchNormalization(),
        L.Conv2D(32, 3, strides=2, padding="same"),
        L.BatchNormalization(),
        L.Activation("relu"),
        L.Conv2D(32, 3, strides=2, padding="same", activation="relu"),
        L.BatchNormalization(),
        L.Conv2D(32, 3, padding="same", activation="sigmoid"),
        L.Dropout(0.2),
        L.UpSampling2D(2),
        L.Conv2D(16, 3, padding="same", activation="relu"),
        L.BatchNormalization(),
        L.Conv2D(2, 3, padding="same", activation="tanh"),
        L.UpSampling2D(2),
    ])


def fusion(size: tuple[int, int], embed: int, decoder: str, keras_module=keras) -> keras.Model:
    """The fusion colorizer: decoder "reference" (Baldassarre) or "wallner"."""
    L = keras_module.layers
    image = keras_module.Input((*size, 1))
    vector = keras_module.Input((embed,))
    x = image
    for filters, strides in ((64, 2), (128, 1), (128, 2), (256, 1), (256, 2), (512, 1),
                             (512, 1), (256, 1)):
        x = conv(filters, strides, keras_module=keras_module)(x)
    h, w = size[0] // 8, size[1] // 8
    f = L.RepeatVector(h * w)(vector)
    f = L.Reshape((h, w, embed))(f)
    x = L.Concatenate(axis=3)([x, f])
    x = L.Conv2D(256, 1, activation="relu", padding="same")(x)
    if decoder == "reference":
        steps = [128, "up", 64, 64, "up", 32, 2, "up"]
    else:
        steps = [128, "up", 64, "up", 32, 16, 2, "up"]
    for step in steps:
        if step == "up":
            x = L.UpSampling2D(2)(x)
        else:
            x = conv(step, activation="tanh" if step == 2 else "relu",
                     keras_module=keras_module)(x)
    return keras_module.Model([image, vector], x)


def residual_lambda(size: tuple[int, int] = (64, 64)) -> keras.Model:
    """A tiny functional colorizer with Keras 2's Inception-ResNet residual Lambda."""
    image = keras.Input((*size, 1))
    a = conv(4)(image)
    b = layers.Conv2D(4, 1)(a)
    x = layers.Lambda(lambda i, scale: i[0] + i[1] * scale, arguments={"scale": 0.3})([a, b])
    return keras.Model(image, conv(2, activation="tanh")(x))


def inception(classes: int) -> keras.Model:
    return keras.applications.InceptionResNetV2(weights=None, classes=classes)


def randomize(model, seed: int, first_conv_scale: float = 1.0, dense_scale: float = 1.0) -> None:
    """Seeded random weights, also for biases and BatchNorm statistics (which Keras starts as
    constants), so that a converter mixing them up is caught. `first_conv_scale` keeps raw-L
    inputs from saturating the output; `dense_scale` makes a softmax far from uniform."""
    rng = np.random.default_rng(seed)
    first = True
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        names = [w.name.rsplit("/", 1)[-1].split(":")[0] for w in layer.weights]
        new = []
        for name, w in zip(names, weights):
            if name == "kernel":
                # Glorot-uniform, as Keras initialises kernels, but from our seed.
                receptive = int(np.prod(w.shape[:-2]))
                limit = np.sqrt(6.0 / (w.shape[-2] * receptive + w.shape[-1] * receptive))
                w = rng.uniform(-limit, limit, w.shape)
                if w.ndim == 2:
                    w = w * dense_scale
                elif first:
                    w = w * first_conv_scale
                    first = False
            elif name in ("bias", "beta", "moving_mean"):
                w = rng.normal(0.0, 0.05, w.shape)
            elif name in ("gamma", "moving_variance"):
                w = rng.uniform(0.7, 1.3, w.shape)
            new.append(np.asarray(w, np.float32))
        layer.set_weights(new)


def resized(model: keras.Model, build, size: tuple[int, int]) -> keras.Model:
    """The same network and weights for another input size (the fusion Reshape is fixed)."""
    other = build(size)
    other.set_weights(model.get_weights())
    return other
