"""Write Caffe binary files for tests: a protobuf wire encoder of our own and a synthetic
caffemodel with random weights in the exact architecture of Zhang et al.'s deploy prototxt.

The architecture table here is written out by hand (not read with the converter's parser), so
the synthetic file is an independent check of the converter.
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

# ---------------------------------------------------------------------------------------------
# Protobuf wire format


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def key(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


def f_bytes(number: int, data: bytes) -> bytes:
    return key(number, 2) + varint(len(data)) + data


def f_varint(number: int, value: int) -> bytes:
    return key(number, 0) + varint(value)


def f_float(number: int, value: float) -> bytes:
    return key(number, 5) + struct.pack("<f", value)


def f_string(number: int, text: str) -> bytes:
    return f_bytes(number, text.encode("utf-8"))


def blob(array: np.ndarray, legacy: bool = False) -> bytes:
    """A BlobProto: packed float data with a BlobShape, or legacy num/channels/height/width."""
    array = np.asarray(array, np.float32)
    if legacy:
        dims = (1,) * (4 - array.ndim) + array.shape
        head = b"".join(f_varint(i + 1, d) for i, d in enumerate(dims))
    else:
        head = f_bytes(7, f_bytes(1, b"".join(varint(d) for d in array.shape)))
    return head + f_bytes(5, array.astype("<f4").tobytes())


# V1LayerParameter.LayerType numbers used in tests.
V1 = {"Convolution": 4, "ReLU": 18, "Softmax": 20, "Deconvolution": 39, "Silence": 36}


def layer(
    name: str,
    type_: str,
    bottom: list[str],
    top: list[str],
    blobs: list[np.ndarray] = (),
    v1: bool = False,
    extra: bytes = b"",
) -> bytes:
    """A LayerParameter (field numbers 1-4, 7) or a legacy V1LayerParameter (4, 5, 2, 3, 6)."""
    if v1:
        body = f_string(4, name) + f_varint(5, V1[type_])
        body += b"".join(f_string(2, b) for b in bottom) + b"".join(f_string(3, t) for t in top)
        body += b"".join(f_bytes(6, blob(b, legacy=True)) for b in blobs)
    else:
        body = f_string(1, name) + f_string(2, type_)
        body += b"".join(f_string(3, b) for b in bottom) + b"".join(f_string(4, t) for t in top)
        body += b"".join(f_bytes(7, blob(b)) for b in blobs)
    return body + extra


def write_net(path: Path, layers: list[bytes], v1: bool = False, name: str = "synthetic") -> None:
    """A NetParameter: name, then each layer as field 100 (`layer`) or 2 (legacy `layers`)."""
    number = 2 if v1 else 100
    with open(path, "wb") as f:
        f.write(f_string(1, name))
        for body in layers:
            f.write(f_bytes(number, body))


# ---------------------------------------------------------------------------------------------
# Zhang et al. ECCV 2016, colorization_deploy_v2.prototxt, written out by hand

# (name, out channels, in channels, kernel, stride, pad, dilation); "bn" rows are BatchNorm.
ZHANG = [
    ("bw_conv1_1", 64, 1, 3, 1, 1, 1), ("conv1_2", 64, 64, 3, 2, 1, 1), ("conv1_2norm", "bn"),
    ("conv2_1", 128, 64, 3, 1, 1, 1), ("conv2_2", 128, 128, 3, 2, 1, 1), ("conv2_2norm", "bn"),
    ("conv3_1", 256, 128, 3, 1, 1, 1), ("conv3_2", 256, 256, 3, 1, 1, 1),
    ("conv3_3", 256, 256, 3, 2, 1, 1), ("conv3_3norm", "bn"),
    ("conv4_1", 512, 256, 3, 1, 1, 1), ("conv4_2", 512, 512, 3, 1, 1, 1),
    ("conv4_3", 512, 512, 3, 1, 1, 1), ("conv4_3norm", "bn"),
    ("conv5_1", 512, 512, 3, 1, 2, 2), ("conv5_2", 512, 512, 3, 1, 2, 2),
    ("conv5_3", 512, 512, 3, 1, 2, 2), ("conv5_3norm", "bn"),
    ("conv6_1", 512, 512, 3, 1, 2, 2), ("conv6_2", 512, 512, 3, 1, 2, 2),
    ("conv6_3", 512, 512, 3, 1, 2, 2), ("conv6_3norm", "bn"),
    ("conv7_1", 512, 512, 3, 1, 1, 1), ("conv7_2", 512, 512, 3, 1, 1, 1),
    ("conv7_3", 512, 512, 3, 1, 1, 1), ("conv7_3norm", "bn"),
]  # fmt: skip
# After conv7_3norm: conv8_1 Deconvolution 512 -> 256 (kernel 4, stride 2, pad 1),
# conv8_2 and conv8_3 (256, 3x3), conv8_313 (313, 1x1, no ReLU).
BN_SCALE_FACTOR = 999.98  # Caffe stores mean and variance multiplied by this moving-average sum


def smooth_l(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A random photo-like L - 50 plane: large smooth shapes plus some fine texture."""
    coarse = rng.uniform(0, 100, (max(height // 24, 2), max(width // 24, 2))).astype(np.float32)
    plane = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    plane += rng.normal(0, 4, (height, width)).astype(np.float32)
    return (np.clip(plane, 0, 100) - 50).astype(np.float32)


def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pad: int, dil: int):
    """Plain numpy convolution, x: (C, N, H, W) -> (O, N, H', W')."""
    c, n, h, wd = x.shape
    k = w.shape[2]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho = (h + 2 * pad - dil * (k - 1) - 1) // stride + 1
    wo = (wd + 2 * pad - dil * (k - 1) - 1) // stride + 1
    out = np.zeros((w.shape[0], n, ho, wo), np.float32)
    for i in range(k):
        for j in range(k):
            patch = xp[:, :, i * dil : i * dil + stride * (ho - 1) + 1 : stride,
                       j * dil : j * dil + stride * (wo - 1) + 1 : stride]  # fmt: skip
            out += np.tensordot(w[:, :, i, j], patch, axes=(1, 0))
    return out + b[:, None, None, None]


def zhang_weights(
    hull: np.ndarray,
    seed: int = 0,
    calibration_size: int = 96,
    gain: float = 2.0,
    logit_gain: float = 0.01,
) -> dict[str, list[np.ndarray]]:
    """Random weights for every trained layer, as Caffe blobs.

    Convolutions get He-initialised weights, so activations keep their scale from layer to
    layer; each BatchNorm gets the real per-channel mean and variance of its input, measured
    with a numpy forward pass on photo-like inputs, so normalised activations are about N(0, 1)
    as in a trained network.
    """
    rng = np.random.default_rng(seed)
    weights: dict[str, list[np.ndarray]] = {}
    x = np.stack([smooth_l(rng, calibration_size, calibration_size) for _ in range(2)])[None]
    for row in ZHANG:
        name = row[0]
        if row[1] == "bn":
            channels = x.reshape(x.shape[0], -1)
            mean = channels.mean(axis=1)
            # A channel that was (nearly) dead on the calibration images must not amplify
            # whatever it sees later by 1/sqrt(eps): give it a typical variance.
            var = np.maximum(channels.var(axis=1), 0.1 * np.median(channels.var(axis=1)))
            # Stored as Caffe does: sums scaled by the moving-average factor, then the factor.
            weights[name] = [
                (mean * BN_SCALE_FACTOR).astype(np.float32),
                (var * BN_SCALE_FACTOR).astype(np.float32),
                np.array([BN_SCALE_FACTOR], np.float32),
            ]
            x = (x - mean[:, None, None, None]) / np.sqrt(var + 1e-5)[:, None, None, None]
            continue
        _, out_c, in_c, k, stride, pad, dil = row
        std = np.sqrt(gain / (in_c * k * k))
        w = (rng.standard_normal((out_c, in_c, k, k)) * std).astype(np.float32)
        b = (rng.standard_normal(out_c) * 0.1).astype(np.float32)
        weights[name] = [w, b]
        x = np.maximum(_conv(x.astype(np.float32), w, b, stride, pad, dil), 0)
    # Deconvolution weights are (in, out, kh, kw); each output sees in * 16 / 4 inputs.
    weights["conv8_1"] = [
        (rng.standard_normal((512, 256, 4, 4)) * np.sqrt(gain / (512 * 4))).astype(np.float32),
        (rng.standard_normal(256) * 0.1).astype(np.float32),
    ]
    for name in ("conv8_2", "conv8_3"):
        weights[name] = [
            (rng.standard_normal((256, 256, 3, 3)) * np.sqrt(gain / (256 * 9))).astype(np.float32),
            (rng.standard_normal(256) * 0.1).astype(np.float32),
        ]
    # A trained network's logits vary smoothly over the ab plane (neighbouring bins score
    # alike): rows of conv8_313 are smooth functions of the bin centres (random Fourier
    # features, length scale about 25 ab units). Their spread is kept small: the float32
    # rounding of two runtimes differs by ~1e-4 of the logits' size, and a peaked softmax turns
    # that into ~1e-2 ab; at this spread ab still varies over ~35 units (see tools/README.md).
    freq = rng.normal(0, 1 / 25, (2, 64))
    phase = rng.uniform(0, 2 * np.pi, 64)
    features = np.cos(hull @ freq + phase)  # (313, 64)
    mix = rng.standard_normal((64, 256)) * np.sqrt(logit_gain / (64 * 256))
    weights["conv8_313"] = [
        (features @ mix).reshape(313, 256, 1, 1).astype(np.float32),
        (rng.standard_normal(313) * 0.1).astype(np.float32),
    ]
    return weights


def write_zhang_caffemodel(
    path: Path, hull: np.ndarray, seed: int = 0, **kw
) -> dict[str, list[np.ndarray]]:
    """Write a synthetic colorization_release_v2.caffemodel; returns its blobs by layer name.

    Like the published file it has the trained layers with blobs, parameter-free layers without
    them, no blobs for conv8_313_rh and class8_ab, and one training-only layer the deploy
    prototxt does not have.
    """
    weights = zhang_weights(hull, seed, **kw)
    bodies = []
    previous = "data_l"
    for name, blobs in weights.items():
        kind = "BatchNorm" if len(blobs) == 3 else "Convolution"
        if name == "conv8_1":
            kind = "Deconvolution"
        bodies.append(layer(name, kind, [previous], [name], blobs))
        if kind != "BatchNorm" and name != "conv8_313":
            bodies.append(layer(f"relu{name[4:]}", "ReLU", [name], [name]))
        previous = name
    bodies.append(layer("conv8_313_rh", "Scale", ["conv8_313"], ["conv8_313_rh"]))
    bodies.append(layer("class8_313_rh", "Softmax", ["conv8_313_rh"], ["class8_313_rh"]))
    bodies.append(layer("loss8_313", "SoftmaxCrossEntropy", ["conv8_313", "gt"], ["loss"]))
    write_net(path, bodies, name="LtoAB")
    return weights


SHARED_ZHANG = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "zhang-eccv16"


def require(folder: Path) -> None:
    """Skip the calling test when a shared fixture folder is not beside the checkout."""
    if not folder.is_dir():
        pytest.skip(f"../shared/fixtures/{folder.name} is not beside the checkout ({folder}); "
                    f"these tests need the published prototxt")
_written: dict[Path, dict[str, list[np.ndarray]]] = {}


def synthetic_zhang(folder: Path) -> tuple[Path, Path, Path, dict[str, list[np.ndarray]]]:
    """(prototxt, caffemodel, hull, weights): the shared prototxt and bin centres and a synthetic
    caffemodel, written once per test session into `folder`."""
    prototxt = SHARED_ZHANG / "colorization_deploy_v2.prototxt"
    hull = SHARED_ZHANG / "pts_in_hull.npy"
    caffemodel = folder / "colorization_release_v2.caffemodel"
    if folder not in _written:
        folder.mkdir(parents=True, exist_ok=True)
        _written[folder] = write_zhang_caffemodel(caffemodel, np.load(hull).astype(np.float64))
    return prototxt, caffemodel, hull, _written[folder]


def opencv_zhang(prototxt: Path, caffemodel: Path, hull: Path, scale: float = 2.606):
    """OpenCV's Caffe importer with class8_ab and conv8_313_rh set as OpenCV's sample
    samples/dnn/colorization.py sets them. Winograd is off: its larger float32 rounding
    (~2e-3 ab here) would hide the converter's."""
    net = cv2.dnn.readNetFromCaffe(str(prototxt), str(caffemodel))
    centres = np.load(hull).transpose().reshape(2, 313, 1, 1)
    net.getLayer(net.getLayerId("class8_ab")).blobs = [centres.astype(np.float32)]
    net.getLayer(net.getLayerId("conv8_313_rh")).blobs = [np.full([1, 313], scale, np.float32)]
    net.enableWinograd(False)
    return net


# ---------------------------------------------------------------------------------------------
# Zhang et al. SIGGRAPH 2017 (ideepcolor), deploy_nodist.prototxt, written out by hand

# Layers in the prototxt's order. ("conv", name, bottom, out, in, kernel, stride, pad, dilation),
# ("ss", name, bottom, channels): the 1x1 stride-2 grouped subsampling with constant weights 1,
# ("deconv", name, bottom, out, in), ("bn", name, bottom), ("sum", name, a, b),
# ("relu", name, tensor, slope).


def _block(stage: int, bottom: str, out: int, inp: int, last: int, first: int = 1,
           dilation: int = 1) -> list[tuple]:
    """conv{stage}_{first..last} (3x3, each followed by its ReLU), then BatchNorm."""
    rows: list[tuple] = []
    for j in range(first, last + 1):
        name = f"conv{stage}_{j}"
        rows += [("conv", name, bottom, out, inp, 3, 1, dilation, dilation),
                 ("relu", f"relu{stage}_{j}", name, 0.0)]
        bottom, inp = name, out
    return rows + [("bn", f"conv{stage}_{last}norm", bottom)]


def _up(stage: int, bottom: str, out: int, inp: int, short: str, short_in: int, relu: str
        ) -> list[tuple]:
    """The x2 Deconvolution, plus a 3x3 shortcut from an earlier BatchNorm, then ReLU."""
    name = f"conv{stage}_1"
    return [("deconv", name, bottom, out, inp),
            ("conv", f"{short}_short", f"{short}norm", out, short_in, 3, 1, 1, 1),
            ("sum", f"{name}_comb", name, f"{short}_short"), ("relu", relu, f"{name}_comb", 0.0)]


SIGGRAPH17 = [
    ("conv", "ab_conv1_1", "data_ab_mask", 64, 3, 3, 1, 1, 1),
    ("conv", "bw_conv1_1", "data_l", 64, 1, 3, 1, 1, 1),
    ("sum", "conv1_1", "bw_conv1_1", "ab_conv1_1"), ("relu", "relu1_1", "conv1_1", 0.0),
    *_block(1, "conv1_1", 64, 64, 2, first=2), ("ss", "conv1_2norm_ss", "conv1_2norm", 64),
    *_block(2, "conv1_2norm_ss", 128, 64, 2), ("ss", "conv2_2norm_ss", "conv2_2norm", 128),
    *_block(3, "conv2_2norm_ss", 256, 128, 3), ("ss", "conv3_3norm_ss", "conv3_3norm", 256),
    *_block(4, "conv3_3norm_ss", 512, 256, 3),
    *_block(5, "conv4_3norm", 512, 512, 3, dilation=2),
    *_block(6, "conv5_3norm", 512, 512, 3, dilation=2),
    *_block(7, "conv6_3norm", 512, 512, 3),
    *_up(8, "conv7_3norm", 256, 512, "conv3_3", 256, "conv8_1_comb"),
    *_block(8, "conv8_1_comb", 256, 256, 3, first=2),
    *_up(9, "conv8_3norm", 128, 256, "conv2_2", 128, "relu9_1_comb"),
    *_block(9, "conv9_1_comb", 128, 128, 2, first=2),
    *_up(10, "conv9_2norm", 128, 128, "conv1_2", 64, "relu10_1_comb"),
    ("conv", "conv10_2", "conv10_1_comb", 128, 128, 3, 1, 1, 1),
    ("relu", "relu10_2", "conv10_2", 0.2),
    ("conv", "conv10_ab", "conv10_2", 2, 128, 1, 1, 0, 1),
]
SIGGRAPH17_MASK_MULT = 110.0  # data/colorize_image.py's Caffe path: the mask channel x 110


def _deconv(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Numpy transposed convolution, kernel 4, stride 2, pad 1; x: (C, N, H, W), w: (C, O, 4, 4)."""
    _, n, h, wd = x.shape
    full = np.zeros((w.shape[1], n, 2 * h + 2, 2 * wd + 2), np.float32)
    for i in range(4):
        for j in range(4):
            full[:, :, i : i + 2 * h : 2, j : j + 2 * wd : 2] += np.tensordot(
                w[:, :, i, j], x, axes=(0, 0))
    return full[:, :, 1 : 2 * h + 1, 1 : 2 * wd + 1] + b[:, None, None, None]


def random_hints(rng: np.random.Generator, height: int, width: int, count: int = 12
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(ab, mask): `count` hint squares of 1 to 3 pixels with random ab, as the UI makes them."""
    ab = np.zeros((2, height, width), np.float32)
    mask = np.zeros((1, height, width), np.float32)
    for _ in range(count):
        y, x, size = rng.integers(0, height - 3), rng.integers(0, width - 3), rng.integers(1, 4)
        ab[:, y : y + size, x : x + size] = rng.uniform(-80, 80, (2, 1, 1))
        mask[:, y : y + size, x : x + size] = 1
    return ab, mask


def siggraph17_input(l_minus_50: np.ndarray, ab: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """data_l_ab_mask, [1, 4, H, W], as the reference Caffe code builds it."""
    return np.concatenate([l_minus_50[None], ab, mask * SIGGRAPH17_MASK_MULT])[None].astype(
        np.float32)


def siggraph17_weights(seed: int = 0, calibration_size: int = 96, gain: float = 2.0,
                       pre_tanh_std: float = 0.5, scale: float = 100.0
                       ) -> dict[str, list[np.ndarray]]:
    """Random weights for every layer with blobs, as Caffe blobs, calibrated like zhang_weights
    (each BatchNorm holds its input's real statistics). conv10_ab is scaled so that its output
    (TanH's input) has standard deviation `pre_tanh_std`: TanH stays far from saturation."""
    rng = np.random.default_rng(seed)
    weights: dict[str, list[np.ndarray]] = {}
    inputs = []
    for _ in range(2):
        plane = smooth_l(rng, calibration_size, calibration_size)
        inputs.append(siggraph17_input(plane, *random_hints(rng, calibration_size,
                                                            calibration_size, 20))[0])
    data = np.stack(inputs, axis=1)  # (4, N, H, W)
    t = {"data_l": data[:1], "data_ab_mask": data[1:]}
    for row in SIGGRAPH17:
        kind, name, bottom = row[:3]
        x = t[bottom].astype(np.float32)
        if kind == "bn":
            channels = x.reshape(x.shape[0], -1)
            mean = channels.mean(axis=1)
            var = np.maximum(channels.var(axis=1), 0.1 * np.median(channels.var(axis=1)))
            weights[name] = [(mean * BN_SCALE_FACTOR).astype(np.float32),
                             (var * BN_SCALE_FACTOR).astype(np.float32),
                             np.array([BN_SCALE_FACTOR], np.float32)]
            t[name] = (x - mean[:, None, None, None]) / np.sqrt(var + 1e-5)[:, None, None, None]
        elif kind == "ss":
            weights[name] = [np.ones((row[3], 1, 1, 1), np.float32)]
            t[name] = x[:, :, ::2, ::2]
        elif kind == "sum":
            t[name] = x + t[row[3]]
        elif kind == "relu":
            t[name] = np.where(x > 0, x, x * row[3])
        elif kind == "deconv":
            out_c, in_c = row[3], row[4]
            w = (rng.standard_normal((in_c, out_c, 4, 4)) * np.sqrt(gain / (in_c * 4)))
            b = rng.standard_normal(out_c) * 0.1
            weights[name] = [w.astype(np.float32), b.astype(np.float32)]
            t[name] = _deconv(x, *weights[name])
        else:
            out_c, in_c, k, stride, pad, dil = row[3:]
            # Inputs in the tens (L - 50, ab, mask x 110) get smaller first-layer weights.
            fan = in_c * k * k * (900.0 if bottom.startswith("data") else 1.0)
            w = rng.standard_normal((out_c, in_c, k, k)) * np.sqrt(gain / fan)
            b = rng.standard_normal(out_c) * 0.1
            weights[name] = [w.astype(np.float32), b.astype(np.float32)]
            t[name] = _conv(x, *weights[name], stride, pad, dil)
    # Scale conv10_ab down (weights and bias) to the wanted spread before TanH.
    w, b = weights["conv10_ab"]
    factor = pre_tanh_std / float(t["conv10_ab"].std())
    weights["conv10_ab"] = [w * np.float32(factor), b * np.float32(factor)]
    weights["pred_ab"] = [np.array([scale], np.float32)]
    return weights


def write_siggraph17_caffemodel(path: Path, seed: int = 0,
                                weights: dict[str, list[np.ndarray]] | None = None, **kw
                                ) -> dict[str, list[np.ndarray]]:
    """Write a synthetic reference_model/model.caffemodel (of `weights`, or new random ones);
    returns its blobs by layer name. Layers without parameters are written without blobs, and
    one training-only layer is added, as in a training snapshot."""
    weights = weights if weights is not None else siggraph17_weights(seed, **kw)
    types = {"conv": "Convolution", "ss": "Convolution", "deconv": "Deconvolution",
             "bn": "BatchNorm", "sum": "Eltwise", "relu": "ReLU"}
    bodies = [layer("Slice", "Slice", ["data_l_ab_mask"], ["data_l", "data_ab_mask"])]
    for row in SIGGRAPH17:
        kind, name, bottom = row[:3]
        blobs = weights.get(name, []) if kind != "relu" else []
        bodies.append(layer(name, types[kind], [bottom], [name], blobs))
    bodies.append(layer("pred_ab_1", "TanH", ["conv10_ab"], ["pred_ab_1"]))
    bodies.append(layer("pred_ab", "Scale", ["pred_ab_1"], ["pred_ab"], weights["pred_ab"]))
    bodies.append(layer("loss_ab", "SmoothL1Loss", ["pred_ab", "data_ab"], ["loss_ab"]))
    write_net(path, bodies, name="ideepcolor")
    return weights


SHARED_SIGGRAPH17 = SHARED_ZHANG.parent / "ideepcolor-siggraph17"


def synthetic_siggraph17(folder: Path) -> tuple[Path, Path, dict[str, list[np.ndarray]]]:
    """(prototxt, caffemodel, weights): the shared prototxt and a synthetic caffemodel, written
    once per test session into `folder`."""
    prototxt = SHARED_SIGGRAPH17 / "deploy_nodist.prototxt"
    caffemodel = folder / "model.caffemodel"
    if folder not in _written:
        folder.mkdir(parents=True, exist_ok=True)
        _written[folder] = write_siggraph17_caffemodel(caffemodel)
    return prototxt, caffemodel, _written[folder]


def opencv_siggraph17(prototxt: Path, caffemodel: Path, winograd: bool = False):
    """OpenCV's Caffe importer of the network; input data_l_ab_mask (siggraph17_input)."""
    net = cv2.dnn.readNetFromCaffe(str(prototxt), str(caffemodel))
    net.enableWinograd(winograd)
    return net
