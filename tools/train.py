"""Train the default colorization models (on the CPU, or a CUDA GPU), resume them, and export
them to ONNX.

    python3 tools/train.py train --arch baseline --id baseline-ours --minutes 50 [--resume]
    python3 tools/train.py train --arch classes --id classes-ours --minutes 60 [--resume]
    python3 tools/train.py train --arch hints --id hints-ours --minutes 90 [--resume]
    python3 tools/train.py train --arch auto --id unet-ours --width 24 --minutes 100
    python3 tools/train.py export --id baseline-ours --out models --name ... --description ...

`baseline`: the baseline family's exact Sequential CNN (231,682 parameters), ab/128 regressed
through tanh with an MSE loss. `classes`: a compact network trained with Zhang et al.'s (ECCV 2016)
classification loss over the 313 in-gamut ab bins, with class rebalancing from our data's colour
prior; its ONNX graph ends in the annealed mean (softmax(logits / T) @ bin centres).
`auto`: a U-Net down to 1/16 with the scene's mean feature, trained on ab (MSE, as baseline)
and on the 313 colour classes at once; `export --head ab` gives the baseline family's model,
`--head classes` the colour-class one. `auto-hints`: that network with the hint inputs added
(their weights start at zero, so it starts as the automatic model), trained with simulated
hints; the siggraph17 family. `hints`: a U-Net that takes L, the hints' ab and their mask
(SIGGRAPH 2017's input design), trained with simulated hints (hint_sim.py) and a Huber loss on
ab, as that paper did. Options: `--spread-input` also feeds the hints spread over grey by the
engine; `--prior CKPT` makes the U-Net a correction of a frozen baseline network's prediction
(starting from it);
`--through-spread` takes the loss after the engine's own spread of the hints over the output,
which is what the engine shows (the exported manifest asks the engine for that spread).
On a GPU: `--device cuda --workers 7 --amp` (crops and hints made by worker processes, the
network in bfloat16 autocast).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
BINS_FILE = REPO.parent / "shared" / "fixtures" / "zhang-eccv16" / "pts_in_hull.npy"
BASELINE_PARAMS = 231_682
HINT_AB_DIVISOR = 110.0  # hint ab and predicted ab of the hint model, as in SIGGRAPH 2017
# Input normalisation of both models: L in [0, 100] -> [-1, 1].
L_OFFSET, L_DIVISOR = 50.0, 50.0
AB_SCALE = 128.0
TEMPERATURE = 0.38
REBALANCE_LAMBDA = 0.5
PRIOR_SIGMA = 5.0
SOFT_NEIGHBOURS = 5
SOFT_SIGMA = 5.0
CHECKPOINT_SECONDS = 180
# AutoNet: cross-entropy (~2-3 a pixel) against MSE on ab / 128 (~0.013).
CLASS_WEIGHT = 0.005
HINT_ARCHS = ("hints", "auto-hints")
CLASS_ARCHS = ("classes", "auto")  # trained on the colour classes: bins in the checkpoint


class TrainingError(Exception):
    """A training run that cannot start; the message says why."""


# ---------------------------------------------------------------------------- models


def baseline_net() -> nn.Sequential:
    """The baseline family's table: 8 same-padded 3x3 convolutions, two nearest x2 upsamplings."""
    relu = nn.ReLU
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), relu(),
        nn.Conv2d(32, 32, 3, stride=2, padding=1), relu(),
        nn.Conv2d(32, 64, 3, padding=1), relu(),
        nn.Conv2d(64, 64, 3, stride=2, padding=1), relu(),
        nn.Conv2d(64, 128, 3, padding=1), relu(),
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(128, 64, 3, padding=1), relu(),
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(64, 32, 3, padding=1), relu(),
        nn.Conv2d(32, 2, 3, padding=1), nn.Tanh(),
    )  # fmt: skip


def _block(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> list[nn.Module]:
    conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation)
    return [conv, nn.ReLU(), nn.BatchNorm2d(cout)]


def classes_net(width: int = 32, bins: int = 313) -> nn.Sequential:
    """Compact Zhang-style network: logits over the ab bins at a quarter of the input size."""
    w = width
    layers = (
        _block(1, w) + _block(w, w, stride=2)
        + _block(w, 2 * w) + _block(2 * w, 2 * w, stride=2)
        + _block(2 * w, 4 * w) + _block(4 * w, 4 * w, stride=2)
        + _block(4 * w, 4 * w, dilation=2) + _block(4 * w, 4 * w, dilation=2)
        + [nn.Upsample(scale_factor=2, mode="nearest")]
        + _block(4 * w, 4 * w) + _block(4 * w, 4 * w)
        + [nn.Conv2d(4 * w, bins, 1)]
    )  # fmt: skip
    return nn.Sequential(*layers)


class AnnealedMean(nn.Module):
    """Logits -> ab in ab units: softmax(logits / T) weighted sum of the bin centres."""

    def __init__(self, net: nn.Module, bins: np.ndarray, temperature: float = TEMPERATURE,
                 log_weights: np.ndarray | None = None, unbalance: float = 0.0):
        super().__init__()
        self.net = net
        self.temperature = temperature
        centres = torch.from_numpy(bins.astype(np.float32).T.copy())  # [2, Q]
        self.register_buffer("centres", centres.reshape(2, -1, 1, 1))
        # Rebalanced training learns p(bin) x weight(bin); taking unbalance x log(weight) off
        # the logits undoes that share of it (logit adjustment): 1 is the photos' own odds.
        offset = np.zeros(len(bins), np.float32) if log_weights is None else (
            unbalance * log_weights.astype(np.float32))
        self.register_buffer("offset", torch.from_numpy(offset).reshape(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax((self.net(x) - self.offset) / self.temperature, dim=1)
        return nn.functional.conv2d(probs, self.centres)


def _convs(cin: int, cout: int, count: int = 2, stride: int = 1, dilation: int = 1
           ) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(count):
        layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, stride=stride if i == 0 else 1,
                             padding=dilation, dilation=dilation), nn.ReLU(),
                   nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers)


def _unet_layers(net: nn.Module, inputs: int, w: int) -> None:
    """The layers both U-Nets share (their names are the checkpoints' keys): a full-size
    convolution and three stride-2 stages down to 1/8 (6w channels), and the decoder's last
    two x2 steps from 6w channels at 1/8 back to 2w at 1/2."""
    net.full = _convs(inputs, w, count=1)
    net.down2 = _convs(w, 2 * w, stride=2)
    net.down3 = _convs(2 * w, 4 * w, stride=2)
    net.down4 = _convs(4 * w, 6 * w, stride=2)
    net.up3 = nn.Conv2d(6 * w, 4 * w, 3, padding=1)
    net.mix3 = _convs(4 * w, 4 * w, count=1)
    net.up2 = nn.Conv2d(4 * w, 2 * w, 3, padding=1)
    net.mix2 = _convs(2 * w, 2 * w, count=1)


class HintNet(nn.Module):
    """U-Net over (L, hint ab, mask): one full-resolution layer, three stride-2 stages, dilated
    convolutions at 1/8, x2 nearest upsampling with shortcut sums on the way up (the SIGGRAPH
    2017 network's shape, narrower), ab / 110 regressed at half the input size and enlarged
    bilinearly in the graph: colour needs no more, and the photo's own L keeps the detail."""

    def __init__(self, width: int = 32, inputs: int = 4) -> None:
        super().__init__()
        w = width
        _unet_layers(self, inputs, w)
        self.middle = _convs(6 * w, 6 * w, dilation=2)
        self.out = nn.Conv2d(2 * w, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = nn.functional.interpolate
        d2 = self.down2(self.full(x))
        d3 = self.down3(d2)
        m = self.middle(self.down4(d3))
        u3 = self.mix3(torch.relu(self.up3(up(m, scale_factor=2.0)) + d3))
        u2 = self.mix2(torch.relu(self.up2(up(u3, scale_factor=2.0)) + d2))
        return up(self.out(u2), scale_factor=2.0, mode="bilinear", align_corners=False)


class AutoNet(nn.Module):
    """The automatic U-Net: L -> ab. Four stride-2 stages down to 1/16, dilated convolutions
    there plus the whole picture's mean feature (the scene: a sky is blue, a forest green,
    wherever the crop is), x2 upsampling with shortcut sums back to 1/2, where two 1x1 heads
    read the same features: ab / 128 through tanh (enlarged bilinearly in the graph, the
    baseline family's output) and logits over the 313 ab bins (Zhang et al.'s classification,
    trained alongside; exported with the annealed mean as the colour-class model)."""

    def __init__(self, width: int = 24, bins: int = 313, inputs: int = 1) -> None:
        super().__init__()
        w = width
        _unet_layers(self, inputs, w)
        self.down5 = _convs(6 * w, 8 * w, stride=2)
        self.middle = _convs(8 * w, 8 * w, dilation=2)
        self.scene = nn.Conv2d(8 * w, 8 * w, 1)
        self.up4 = nn.Conv2d(8 * w, 6 * w, 3, padding=1)
        self.mix4 = _convs(6 * w, 6 * w, count=1)
        self.ab = nn.Conv2d(2 * w, 2, 1)
        self.logits = nn.Conv2d(2 * w, bins, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        up = nn.functional.interpolate
        d2 = self.down2(self.full(x))
        d3 = self.down3(d2)
        d4 = self.down4(d3)
        m = self.middle(self.down5(d4))
        m = torch.relu(m + self.scene(m.mean(dim=(2, 3), keepdim=True)))
        u4 = self.mix4(torch.relu(self.up4(up(m, scale_factor=2.0)) + d4))
        u3 = self.mix3(torch.relu(self.up3(up(u4, scale_factor=2.0)) + d3))
        return self.mix2(torch.relu(self.up2(up(u3, scale_factor=2.0)) + d2))

    def both(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The training outputs: ab / 128, and the logits at a quarter of the input size."""
        f = self.features(x)
        ab = nn.functional.interpolate(self.ab(f), scale_factor=2.0, mode="bilinear",
                                       align_corners=False)
        # The class loss needs no more than every other logit (a 1x1 convolution commutes
        # with the subsampling): a third of a training step saved.
        return torch.tanh(ab), self.logits(f[:, :, ::2, ::2])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.both(x)[0]


class ClassHead(nn.Module):
    """AutoNet's colour-class output alone (the graph exported with the annealed mean)."""

    def __init__(self, net: AutoNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.logits(self.net.features(x))


class PriorHintNet(nn.Module):
    """A hint U-Net that corrects an automatic model's prediction: the frozen baseline network
    (its ab / 110 an input of the U-Net too) plus the U-Net's output, which starts at zero, so
    training starts from the automatic model and learns where the hints change it."""

    def __init__(self, width: int, inputs: int, prior_scale: float = AB_SCALE) -> None:
        super().__init__()
        self.prior = baseline_net().requires_grad_(False)
        self.register_buffer("prior_scale", torch.tensor(prior_scale / HINT_AB_DIVISOR))
        self.net = HintNet(width, inputs + 2)
        nn.init.zeros_(self.net.out.weight)
        nn.init.zeros_(self.net.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        prior = self.prior(x[:, :1]) * self.prior_scale
        return prior + self.net(torch.cat([x, prior], dim=1))


class HintInputs(nn.Module):
    """The exported graph: inputs L, ab_hint and mask (and with --spread-input ab_spread) as
    the engine's siggraph17 family feeds them (normalised by the manifest's values),
    concatenated for the U-Net."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat(inputs, dim=1))


def build(arch: str, width: int = 32, spread_input: bool = False, prior: bool = False
          ) -> nn.Module:
    if arch == "baseline":
        net = baseline_net()
        count = sum(p.numel() for p in net.parameters())
        if count != BASELINE_PARAMS:
            raise AssertionError(f"baseline has {count} parameters, not {BASELINE_PARAMS}")
        return net
    if arch == "classes":
        return classes_net(width)
    if arch == "auto":
        return AutoNet(width)
    if arch == "auto-hints":  # an auto run's network with the hint inputs added
        return AutoNet(width, inputs=6 if spread_input else 4)
    if arch == "hints":
        inputs = 6 if spread_input else 4
        return PriorHintNet(width, inputs) if prior else HintNet(width, inputs)
    raise TrainingError(f"Unknown architecture {arch!r}: use baseline, classes, auto, "
                        "auto-hints or hints.")


# ---------------------------------------------------------------------------- data


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """8-bit sRGB -> float32 CIE Lab (D65), L in [0, 100], the engine's OpenCV conversion."""
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def split_files(data: Path, split: str, weights: dict[str, float] | None = None,
                strict: bool = True) -> tuple[list[Path], np.ndarray | None]:
    """The split's picture files and, with `weights` (source -> weight, 1 for a source not
    named), each one's chance to be drawn; a source of weight 0 is left out. strict: a
    weight for a source the set lacks is an error (a typo), else it is passed over."""
    files = sorted((data / split).glob("*.jpg")) + sorted((data / split).glob("*.png"))
    if not files:
        raise TrainingError(f"No pictures in {data / split}: run tools/dataset.py build first.")
    if not weights:
        return files, None
    index = data / "index.json"
    if not index.exists():
        raise TrainingError(f"--source-weight needs {index}, which tools/dataset.py build writes.")
    source_of = {e["file"]: e["source"] for e in json.loads(index.read_text(encoding="utf-8"))}
    unknown = sorted(set(weights) - set(source_of.values()))
    if unknown and strict:
        raise TrainingError(f"--source-weight names {', '.join(unknown)}, of which {data} has "
                            "no picture.")
    chance = np.array([weights.get(source_of.get(f"{split}/{f.name}", ""), 1.0) for f in files])
    files = [f for f, c in zip(files, chance) if c > 0]
    if not files:
        raise TrainingError(f"--source-weight leaves no picture in {data / split}.")
    chance = chance[chance > 0]
    return files, chance / chance.sum()


def read_pictures(files: list[Path]) -> list[np.ndarray]:
    return [cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files]


def load_split(data: Path, split: str, weights: dict[str, float] | None = None,
               strict: bool = True) -> list[np.ndarray]:
    """The split's pictures as 8-bit RGB arrays (those of sources of weight 0 left out)."""
    return read_pictures(split_files(data, split, weights, strict)[0])


def source_weights(pairs: list[str]) -> dict[str, float]:
    """--source-weight NAME=W, as given (repeated) on the command line."""
    weights = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        try:
            weights[name] = float(value)
        except ValueError:
            raise TrainingError(f"--source-weight {pair!r}: give NAME=WEIGHT, e.g. "
                                "clothing-dataset=0.25.") from None
        if weights[name] < 0:
            raise TrainingError(f"--source-weight {pair!r}: a weight is 0 or more.")
    return weights


def random_crop(rgb: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A size x size crop at a random scale (short side 1x to 3x the crop), maybe mirrored."""
    h, w = rgb.shape[:2]
    short = rng.uniform(size, min(3 * size, min(h, w)) + 1e-6)
    scale = short / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    img = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
    top, left = rng.integers(0, nh - size + 1), rng.integers(0, nw - size + 1)
    crop = img[top : top + size, left : left + size]
    return crop[:, ::-1] if rng.random() < 0.5 else crop


def batch_tensors(crops: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Model input ((L - 50) / 50) and target ab (ab units), both NCHW float32."""
    lab = np.stack([rgb_to_lab(np.ascontiguousarray(c)) for c in crops]).transpose(0, 3, 1, 2)
    lab_t = torch.from_numpy(np.ascontiguousarray(lab))
    return (lab_t[:, :1] - L_OFFSET) / L_DIVISOR, lab_t[:, 1:]


# ---------------------------------------------------------------------------- class loss


def load_bins(path: Path = BINS_FILE) -> np.ndarray:
    if not path.exists():
        raise TrainingError(f"{path} is missing: the 313 ab bin centres come from ../shared.")
    return np.load(path).astype(np.float32)


def colour_prior(pictures: list[np.ndarray], bins: np.ndarray, sigma: float = PRIOR_SIGMA):
    """Empirical distribution of the nearest ab bin over our pictures, Gaussian-smoothed in ab."""
    counts = np.zeros(len(bins), np.float64)
    for rgb in pictures:
        small = cv2.resize(rgb, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
        ab = rgb_to_lab(small)[..., 1:].reshape(-1, 2)
        nearest = ((ab[:, None, :] - bins[None]) ** 2).sum(-1).argmin(1)
        counts += np.bincount(nearest, minlength=len(bins))
    prior = counts / counts.sum()
    dist2 = ((bins[:, None, :] - bins[None]) ** 2).sum(-1)
    kernel = np.exp(-dist2 / (2 * sigma**2))
    smoothed = kernel @ prior
    return smoothed / smoothed.sum()


def rebalance_weights(prior: np.ndarray, lam: float = REBALANCE_LAMBDA) -> np.ndarray:
    """w proportional to ((1 - lam) p + lam / Q)^-1, normalised so that E_p[w] = 1."""
    w = 1.0 / ((1 - lam) * prior + lam / len(prior))
    return (w / (prior * w).sum()).astype(np.float32)


def soft_encode(ab: torch.Tensor, bins: torch.Tensor, k: int = SOFT_NEIGHBOURS,
                sigma: float = SOFT_SIGMA) -> tuple[torch.Tensor, torch.Tensor]:
    """ab [N,2,h,w] -> soft targets [N,Q,h,w] over the k nearest bins, and the nearest bin."""
    n, _, h, w = ab.shape
    flat = ab.permute(0, 2, 3, 1).reshape(-1, 2)
    dist2 = torch.cdist(flat, bins) ** 2
    near_d, near_i = dist2.topk(k, dim=1, largest=False)
    weights = torch.softmax(-near_d / (2 * sigma**2), dim=1)
    target = torch.zeros(flat.shape[0], bins.shape[0], device=flat.device).scatter_(
        1, near_i, weights)
    target = target.reshape(n, h, w, -1).permute(0, 3, 1, 2)
    return target, near_i[:, 0].reshape(n, h, w)


def class_loss(logits: torch.Tensor, ab: torch.Tensor, bins: torch.Tensor,
               weights: torch.Tensor) -> torch.Tensor:
    """Rebalanced multinomial cross-entropy against soft-encoded ab at the logits' size."""
    ab_small = nn.functional.adaptive_avg_pool2d(ab, logits.shape[-2:])
    target, nearest = soft_encode(ab_small, bins)
    per_pixel = -(target * torch.log_softmax(logits, dim=1)).sum(1)
    return (per_pixel * weights[nearest]).mean()


# ---------------------------------------------------------------------------- training


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                             capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def train(args: argparse.Namespace) -> Path:
    """Train until args.minutes of training time (resumed time included) or args.steps."""
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise TrainingError("--device cuda: PyTorch sees no CUDA GPU here.")
        if args.through_spread or args.spread_input:
            raise TrainingError("--through-spread and --spread-input solve the engine's "
                                "spread on the CPU, picture by picture: train them there.")
        torch.backends.cudnn.benchmark = True
    run_dir = Path(args.runs) / args.id
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = run_dir / "last.pt"
    weights = source_weights(args.source_weight)
    files, chances = split_files(Path(args.data), "train", weights)
    pictures = read_pictures(files)
    val = [_centre(p, args.val_size) for p in load_split(Path(args.data), "val", weights)]
    model = build(args.arch, args.width, args.spread_input, bool(args.prior))
    if args.prior:  # the automatic model's weights and ab scale (its manifest's, shrink kept)
        start_prior(model, Path(args.prior), args.prior_scale)
    state = {"step": 0, "seconds": 0.0, "log": []}
    extra: dict[str, torch.Tensor] = {}
    if args.arch in CLASS_ARCHS:
        bins = load_bins(Path(args.bins))
        prior = colour_prior(pictures, bins)
        extra = {"bins": torch.from_numpy(bins),
                 "weights": torch.from_numpy(rebalance_weights(prior)),
                 "prior": torch.from_numpy(prior.astype(np.float32))}
    trained: set[str] = set()  # parameters that --init gives as they were trained
    if args.init and not (args.resume and ckpt_path.exists()):
        start = torch.load(args.init, map_location="cpu", weights_only=False)
        if isinstance(model, PriorHintNet) and not any(k.startswith("prior.")
                                                       for k in start["model"]):
            # A plain hint net's features start the correcting U-Net; its output stays zero.
            weights = widened({f"net.{k}": v for k, v in start["model"].items()
                               if not k.startswith("out.")}, model)
            model.load_state_dict({**model.state_dict(), **weights})
        else:
            model.load_state_dict(widened(start["model"], model))  # a fresh optimizer
            own = dict(model.named_parameters())
            trained = {k for k, v in start["model"].items()
                       if k in own and v.shape == own[k].shape}
        state["init"] = {"from": str(args.init), "steps": start["state"]["step"],
                         "seconds": round(start["state"]["seconds"], 1),
                         "pictures": start["state"].get("pictures"),
                         "device": start["state"].get("device", "CPU")}
        print(f"initialised from {args.init} ({start['state']['step']} steps)")
    model.to(device)  # before the optimizer is made, which holds the parameters
    if args.resume and ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        # The groups the run was started with (its checkpoint's optimizer state has them).
        opt = optimizer(model, set(ckpt["state"].get("trained", [])),
                        ckpt["state"].get("init_lr_scale", 1.0))
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        state = ckpt["state"]
        extra = ckpt.get("extra", extra)
        print(f"resumed {ckpt_path} at step {state['step']}, {state['seconds'] / 60:.1f} min")
    else:
        opt = optimizer(model, trained, args.init_lr_scale)
        if trained and args.init_lr_scale != 1.0:
            state.update(trained=sorted(trained), init_lr_scale=args.init_lr_scale)
    state["pictures"] = len(pictures)  # the latest run's; the model card tells earlier ones
    state["device"] = device_name(device)
    torch.manual_seed(args.seed + state["step"])
    source = batches(pictures, args, args.seed + state["step"], chances)
    on_device = {k: v.to(device) for k, v in extra.items()}
    budget = args.minutes * 60
    last_save = time.monotonic()
    training_mode(model, args.freeze_norms)
    while state["seconds"] < budget and (args.steps <= 0 or state["step"] < args.steps):
        t0 = time.monotonic()
        for group in opt.param_groups:
            group["lr"] = learning_rate(args, state["seconds"] / budget) * group.get("scale", 1.0)
        x, ab = (t.to(device, non_blocking=True) for t in next(source))
        with autocast(device, args.amp):
            loss = _loss(model, args.arch, x, ab, on_device, args.through_spread)
        opt.zero_grad()
        loss.backward()
        opt.step()
        state["step"] += 1
        # Before the clock is read: loss.item() waits for the GPU, whose time counts too.
        if state["step"] % 50 == 0:
            print(f"step {state['step']} loss {loss.item():.4f} "
                  f"{state['seconds'] / 60:.1f} min", flush=True)
        state["seconds"] += time.monotonic() - t0
        done = state["seconds"] >= budget or state["step"] == args.steps
        if done or time.monotonic() - last_save > args.checkpoint_seconds:
            with autocast(device, args.amp):
                val_loss = _validate(model, args.arch, val, on_device, args.spread_input,
                                     args.through_spread, args.freeze_norms)
            state["log"].append({"step": state["step"], "seconds": round(state["seconds"], 1),
                                 "train_loss": round(loss.item(), 5),
                                 "val_loss": round(val_loss, 5)})
            print(f"checkpoint step {state['step']} val_loss {val_loss:.5f}", flush=True)
            _save(ckpt_path, model, opt, state, extra, args)
            # A few dozen pictures overfit: keep the weights with the lowest validation loss too.
            if state["log"][-1]["val_loss"] <= min(e["val_loss"] for e in state["log"]):
                _save(run_dir / "best.pt", model, opt, state, extra, args)
            last_save = time.monotonic()
    if state["step"] and not ckpt_path.exists():
        _save(ckpt_path, model, opt, state, extra, args)
    return ckpt_path


def batches(pictures: list[np.ndarray], args: argparse.Namespace, seed: int,
            chances: np.ndarray | None = None):
    """Endless training batches (model input, true ab) of random crops, with simulated hints
    for the hint models; each picture drawn with its chance (all alike if None). With
    args.workers the crops are made by that many processes (a GPU step is shorter than the
    CPU's crops and hints), each drawing from its own seed."""
    if args.workers <= 0:
        yield from _batches(pictures, args, np.random.default_rng(seed), chances)
        return
    loader = torch.utils.data.DataLoader(
        _Batches(pictures, args, seed, chances), batch_size=None, num_workers=args.workers,
        pin_memory=args.device != "cpu", prefetch_factor=4, persistent_workers=True)
    yield from loader


def _batches(pictures: list[np.ndarray], args: argparse.Namespace, rng: np.random.Generator,
             chances: np.ndarray | None = None):
    def draw() -> np.ndarray:
        return pictures[rng.integers(len(pictures)) if chances is None
                        else rng.choice(len(pictures), p=chances)]

    while True:
        crops = [random_crop(draw(), args.crop, rng) for _ in range(args.batch)]
        x, ab = batch_tensors(crops)
        if args.arch in HINT_ARCHS:
            x = with_hints(x, ab, rng, args.spread_input)
        yield x, ab


class _Batches(torch.utils.data.IterableDataset):
    def __init__(self, pictures: list[np.ndarray], args: argparse.Namespace, seed: int,
                 chances: np.ndarray | None) -> None:
        self.pictures, self.args, self.seed, self.chances = pictures, args, seed, chances

    def __iter__(self):
        torch.set_num_threads(1)
        worker = torch.utils.data.get_worker_info()
        rng = np.random.default_rng([self.seed, worker.id if worker else 0])
        return _batches(self.pictures, self.args, rng, self.chances)


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"


def autocast(device: torch.device, amp: bool):
    """bfloat16 autocast on a GPU with --amp (the losses stay float32), else nothing."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda")


def optimizer(model: nn.Module, trained: set[str], scale: float) -> torch.optim.Optimizer:
    """Adam; with --init-lr-scale the parameters --init gave as trained move at that share of
    the learning rate, the new or widened ones (a hint model's first convolution) at all of
    it. Fresh Adam moves every weight by about the learning rate per step, whatever its
    gradient: at 3e-4 a converged U-Net lost its colour within 200 steps while the new hint
    weights had hardly grown (the unet-hints-v2 run, session 7)."""
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not trained or scale == 1.0:  # one group (its learning rate is set every step)
        return torch.optim.Adam([p for _, p in params])
    groups = [{"params": [p for n, p in params if n not in trained], "scale": 1.0},
              {"params": [p for n, p in params if n in trained], "scale": scale}]
    return torch.optim.Adam([g for g in groups if g["params"]])


def start_prior(model: PriorHintNet, checkpoint: Path, scale: float) -> None:
    """The frozen prior of a PriorHintNet: a baseline run's weights, its output times scale."""
    weights = torch.load(checkpoint, map_location="cpu", weights_only=False)["model"]
    model.prior.load_state_dict(weights)
    model.prior_scale.fill_(scale / HINT_AB_DIVISOR)


def widened(weights: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """`weights` for `model`, a first convolution with fewer input channels padded with zeros:
    a hint model starts from one trained without the spread input and behaves like it."""
    own = model.state_dict()
    out = dict(weights)
    for name, value in weights.items():
        if name in own and value.ndim == 4 and own[name].shape[1] > value.shape[1]:
            pad = own[name].shape[1] - value.shape[1]
            out[name] = torch.cat([value, value.new_zeros(value.shape[0], pad,
                                                          *value.shape[2:])], dim=1)
    return out


def learning_rate(args: argparse.Namespace, progress: float) -> float:
    """args.lr, or with --decay a cosine from args.lr down to args.lr / 20 at the end of the
    time budget (progress 0 -> 1): the small late steps settle the weights into a minimum."""
    if args.decay == "none":
        return args.lr
    low = args.lr / 20
    return low + 0.5 * (args.lr - low) * (1 + np.cos(np.pi * min(1.0, progress)))


def _centre(rgb: np.ndarray, size: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    scale = size / min(h, w)
    img = cv2.resize(rgb, (max(size, round(w * scale)), max(size, round(h * scale))),
                     interpolation=cv2.INTER_AREA)
    top, left = (img.shape[0] - size) // 2, (img.shape[1] - size) // 2
    return img[top : top + size, left : left + size]


def with_hints(x: torch.Tensor, ab: torch.Tensor, rng: np.random.Generator,
               spread_input: bool = False) -> torch.Tensor:
    """The hint model's input: L, simulated hint ab / 110 and their mask, and with
    spread_input the hints spread over grey by the engine (hints.spread_hints) / 110."""
    from hint_sim import training_hints

    hints = [training_hints(a, rng) for a in ab.permute(0, 2, 3, 1).numpy()]
    hint_ab = torch.from_numpy(np.stack([h[0] for h in hints]).transpose(0, 3, 1, 2).copy())
    mask = torch.from_numpy(np.stack([h[1] for h in hints])[:, None].copy())
    x = torch.cat([x, hint_ab / HINT_AB_DIVISOR, mask], dim=1)
    if spread_input:
        x = torch.cat([x, spread_batch(x, torch.zeros_like(hint_ab))], dim=1)
    return x


def spread_batch(x: torch.Tensor, prior: torch.Tensor, hinted: bool = True) -> torch.Tensor:
    """The engine's spread (hints.spread_hints) of the hints in the model input x (L, hint
    ab / 110, mask) over `prior` (N x 2 x H x W, ab / 110), picture by picture. hinted=False:
    the same solve with the hint colours taken as zero (the cells stay held)."""
    from colorize_ai.families import HintCells
    from colorize_ai.hints import spread_hints

    lightness = (x[:, 0].numpy() * L_DIVISOR + L_OFFSET).astype(np.float32)
    hint_ab = x[:, 1:3].numpy().transpose(0, 2, 3, 1)
    masks = x[:, 3].numpy()
    priors = prior.detach().numpy().transpose(0, 2, 3, 1)
    # A picture without hints keeps the prediction, as in the engine (hint_cells gives None).
    # Without the look-alikes and the colour edges, which are not linear in the prediction.
    out = [spread_hints(light, p, HintCells(np.ascontiguousarray(h) if hinted
                                            else np.zeros_like(p), m), linear=True)
           if m.any() else p for light, p, h, m in zip(lightness, priors, hint_ab, masks)]
    return torch.from_numpy(np.stack(out).transpose(0, 3, 1, 2).copy())


class ThroughSpread(torch.autograd.Function):
    """The engine's spread of the hints over a hint model's prediction (hints.spread_hints),
    as the engine runs it after the model, with its gradient: the spread is linear in the
    prediction, x = A^-1 (hints + SCREEN * prediction) with A symmetric, so the gradient is
    the same solve with the hints left out, applied to the incoming gradient."""

    @staticmethod
    def forward(ctx, prediction: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.inputs = x
        return spread_batch(x, prediction)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return spread_batch(ctx.inputs, grad, hinted=False), None


def _loss(model: nn.Module, arch: str, x: torch.Tensor, ab: torch.Tensor,
          extra: dict[str, torch.Tensor], through_spread: bool = False) -> torch.Tensor:
    if arch == "auto":  # regression plus the colour classes, weighted to a similar size
        pred, logits = model.both(x)
        return (nn.functional.mse_loss(pred, ab / AB_SCALE)
                + CLASS_WEIGHT * class_loss(logits, ab, extra["bins"], extra["weights"]))
    out = model(x)
    if arch == "auto-hints":  # tanh ab / 128 like the automatic network; the spread's unit
        out = out * (AB_SCALE / HINT_AB_DIVISOR)
    if through_spread:  # the loss of what the engine shows: the hints spread over out
        out = ThroughSpread.apply(out, x)
    if arch == "hints":  # SIGGRAPH 2017's Huber loss, here on ab / 110
        return nn.functional.smooth_l1_loss(out, ab / HINT_AB_DIVISOR, beta=1 / HINT_AB_DIVISOR)
    if arch == "auto-hints":  # the PSNR's own loss
        return nn.functional.mse_loss(out, ab / HINT_AB_DIVISOR)
    if arch == "baseline":
        return nn.functional.mse_loss(out, ab / AB_SCALE)
    return class_loss(out, ab, extra["bins"], extra["weights"])


def _validate(model: nn.Module, arch: str, val: list[np.ndarray],
              extra: dict[str, torch.Tensor], spread_input: bool = False,
              through_spread: bool = False, freeze_norms: bool = False) -> float:
    if not val:
        return float("nan")
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        x, ab = batch_tensors(val)
        if arch in HINT_ARCHS:  # the same hints at every validation
            x = with_hints(x, ab, np.random.default_rng(0), spread_input)
        loss = _loss(model, arch, x.to(device), ab.to(device), extra, through_spread).item()
    training_mode(model, freeze_norms)
    return loss


def training_mode(model: nn.Module, freeze_norms: bool = False) -> None:
    """model.train(); with freeze_norms its batch normalisations keep the statistics they
    were trained with (a network trained on from --init whose inputs change, as a hint
    model's do, would otherwise shift them towards the new inputs and lose what it could)."""
    model.train()
    if freeze_norms:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()


def _save(path: Path, model: nn.Module, opt: torch.optim.Optimizer, state: dict,
          extra: dict[str, torch.Tensor], args: argparse.Namespace) -> None:
    tmp = path.with_suffix(".part")
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "state": state,
                "extra": extra, "args": vars(args), "commit": git_commit()}, tmp)
    tmp.replace(path)


# ---------------------------------------------------------------------------- export


def export_module(arch: str, model: nn.Module, bins: np.ndarray | None = None,
                  temperature: float = TEMPERATURE, head: str = "ab",
                  log_weights: np.ndarray | None = None, unbalance: float = 0.0) -> nn.Module:
    """The module whose graph is exported: the net itself, or the net + annealed mean (an
    AutoNet's `head` "classes": its class logits and the annealed mean)."""
    model.eval()
    if arch == "auto" and head == "classes":
        return AnnealedMean(ClassHead(model), bins, temperature, log_weights, unbalance).eval()
    if arch in ("baseline", "auto"):
        return model
    if arch in HINT_ARCHS:
        return HintInputs(model).eval()
    return AnnealedMean(model, bins, temperature, log_weights, unbalance).eval()


def to_onnx(module: nn.Module, path: Path, size: int = 64, spread_input: bool = False
            ) -> None:
    """Export with input "L" [1,1,H,W] (and for the hint model "ab_hint" [1,2,H,W], "mask"
    [1,1,H,W] and with spread_input "ab_spread" [1,2,H,W]) and output "ab", H and W dynamic
    (opset 17)."""
    names = ["L", "ab_hint", "mask"] if isinstance(module, HintInputs) else ["L"]
    names += ["ab_spread"] if spread_input else []
    dummies = tuple(torch.zeros(1, 2 if n.startswith("ab") else 1, size, size) for n in names)
    axes = {n: {2: "height", 3: "width"} for n in names}
    torch.onnx.export(module, dummies, str(path), input_names=names, output_names=["ab"],
                      opset_version=17, dynamo=False,
                      dynamic_axes={**axes, "ab": {2: "out_height", 3: "out_width"}})


def validation_shrink(model: nn.Module, val: list[np.ndarray]) -> float:
    """The least-squares factor s minimising |s * predicted ab - true ab|^2 over the validation
    pictures, clipped to [0.5, 1]. Below 1 when the network colours more boldly than it is right
    on photographs it has not seen; scaling by it is the MSE-optimal correction."""
    model.eval()
    with torch.no_grad():
        x, ab = batch_tensors(val)
        pred = model(x) * AB_SCALE
    s = float((pred * ab).sum() / (pred * pred).sum().clamp_min(1e-12))
    return min(1.0, max(0.5, s))


def _where(state: dict) -> str:
    device = state.get("device", "CPU")
    return "the CPU" if device == "CPU" else f"one {device} GPU"


def export(args: argparse.Namespace) -> Path:
    """Export the checkpoint of args.id to args.out/<id>.onnx and add its manifest entry."""
    import onnx

    sys.path.insert(0, str(REPO / "tools"))
    from converters.common import save_model, set_metadata

    run = args.run or args.id
    ckpt_path = Path(args.runs) / run / f"{args.checkpoint}.pt"
    if not ckpt_path.exists():
        raise TrainingError(f"No checkpoint at {ckpt_path}: train {run} first.")
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    targs = ckpt["args"]
    spread_input = bool(targs.get("spread_input"))
    model = build(targs["arch"], targs["width"], spread_input, bool(targs.get("prior")))
    model.load_state_dict(ckpt["model"])
    bins = ckpt["extra"]["bins"].numpy() if targs["arch"] in CLASS_ARCHS else None
    hints = targs["arch"] in HINT_ARCHS
    tanh = targs["arch"] in ("baseline", "auto", "auto-hints")
    log_weights = np.log(ckpt["extra"]["weights"].numpy()) if bins is not None else None
    module = export_module(targs["arch"], model, bins, args.temperature, args.head,
                           log_weights, args.unbalance)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    tmp = Path(args.out) / f".{args.id}.export.onnx"
    to_onnx(module, tmp, spread_input=spread_input)
    proto = onnx.load(str(tmp))
    tmp.unlink()
    state = ckpt["state"]
    minutes = state["seconds"] / 60
    classes = targs["arch"] == "classes" or (targs["arch"] == "auto" and args.head == "classes")
    ab_scale = 1.0 if classes else AB_SCALE if tanh else HINT_AB_DIVISOR
    shrink = ""
    if args.shrink and not classes and not hints:
        # The run's weights leave the same sources out, where this set has them.
        weights = source_weights(targs.get("source_weight") or [])
        val = [_centre(p, targs["val_size"])
               for p in load_split(Path(args.data), "val", weights, strict=False)]
        factor = validation_shrink(model, val)
        ab_scale = round(AB_SCALE * factor, 3)
        shrink = (f"; ab scaled by {factor:.3f} (the least-squares factor on the {len(val)} "
                  "validation pictures, tools/train.py export --shrink)")
    family = "zhang" if classes else "siggraph17" if hints else "baseline"
    props = {"family": family, "source_files": f"tools/train.py checkpoint {run}",
             "source_sha256": "", "converter_version": "train-1",
             "l_offset": L_OFFSET, "l_divisor": L_DIVISOR,
             "ab_scale": ab_scale}
    if classes:
        props["temperature"] = args.temperature
    set_metadata(proto, props)
    from converters.subpixel import rewrite as subpixel_rewrite

    # After the metadata, where the rewrite records itself.
    folded = 0 if args.direct_convolutions else subpixel_rewrite(proto)
    if args.half_weights:  # after the rewrite, which makes new weights of its own
        from converters.halfweights import half_weights

        half_weights(proto)
    pictures = state.get("pictures")
    photos = f"{pictures} photographs of " if pictures else ""
    init = state.get("init")
    earlier = (f", starting from the weights of an earlier run ({init['steps']} steps, "
               f"{init['seconds'] / 60:.0f} minutes on {_where(init)} on "
               f"{init['pictures'] or 'fewer'} photographs)" if init else "")
    head = f", the {args.head} head" if targs["arch"] == "auto" else ""
    unbalance = (f"; {args.unbalance:g} of the class rebalancing taken off the logits "
                 "(tools/train.py export --unbalance)" if classes and args.unbalance else "")
    recipe = (f"trained by us with tools/train.py (--arch {targs['arch']} --width "
              f"{targs['width']} --crop {targs['crop']} --batch {targs['batch']} --lr "
              f"{targs['lr']} --decay {targs.get('decay', 'none')}{head}) for {state['step']} "
              f"steps / {minutes:.0f} minutes on {_where(state)} on {photos}the train split of "
              f"tools/dataset.py (docs/DATASET.md){earlier}, commit {ckpt['commit']}{shrink}"
              f"{unbalance}"
              + ("; its x2 upsamplings and the 3x3 convolutions after them computed at the "
                 "low resolution (sub-pixel form, tools/converters/subpixel.py)" if folded
                 else "")
              + ("; weights stored as float16, computed in float32 (--half-weights)"
                 if args.half_weights else ""))
    inputs = {"name": "L", "layout": "NCHW", "size": 256,
              "multiple": 16 if targs["arch"].startswith("auto") else 8 if classes or hints
              else 4,
              "fixed_size": False,
              "l_offset": L_OFFSET, "l_divisor": L_DIVISOR}
    if hints:  # the siggraph17 family's hint inputs, normalised as in training
        inputs.update(hint_name="ab_hint", mask_name="mask", hint_divisor=HINT_AB_DIVISOR,
                      mask_offset=0.0)
        if spread_input:
            inputs["spread_name"] = "ab_spread"
    entry = {
        "id": args.id,
        "name": args.name,
        "family": family,
        "file": f"{args.id}.onnx",
        "input": inputs,
        "output": {"name": "ab", "layout": "NCHW", "ab_scale": ab_scale,
                   "decoding": "annealed-mean" if classes else "tanh" if tanh else "linear"},
        "license": "MIT",
        "provenance": recipe,
        "source_urls": [],
        "install": "shipped in the repository's models/ folder",
        "description": args.description,
    }
    if args.default:
        entry["default"] = True
    if hints:
        entry["default_hints"] = True
        # The engine keeps the hint colours and spreads them over the prediction, as for the
        # automatic models (measured better: docs/HINTS.md).
        entry["output"]["spread_hints"] = True
    return save_model(proto, args.out, entry)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["train", "export"])
    parser.add_argument("--id", required=True)
    parser.add_argument("--arch", choices=["baseline", "classes", "auto", "hints", "auto-hints"],
                        default="baseline")
    parser.add_argument("--width", type=int, default=32,
                        help="base width of the classes, auto and hints networks")
    parser.add_argument("--data", default="/work/cache/data")
    parser.add_argument("--runs", default="/work/cache/train")
    parser.add_argument("--bins", default=str(BINS_FILE))
    parser.add_argument("--minutes", type=float, default=50.0, help="training time budget")
    parser.add_argument("--steps", type=int, default=0, help="stop after this many steps")
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--decay", choices=["none", "cosine"], default="none",
                        help="learning-rate schedule over the --minutes budget")
    parser.add_argument("--val-size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="where the network trains (cuda: a GPU)")
    parser.add_argument("--workers", type=int, default=0,
                        help="processes making the crops and hints (0: the training one)")
    parser.add_argument("--amp", action="store_true",
                        help="bfloat16 autocast on a GPU (the losses stay float32)")
    parser.add_argument("--checkpoint-seconds", type=float, default=CHECKPOINT_SECONDS,
                        help="validate and save at least this often")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--prior", default="",
                        help="hints: correct this baseline checkpoint's prediction (frozen)")
    parser.add_argument("--prior-scale", type=float, default=AB_SCALE,
                        help="hints: the prior's ab scale (its manifest's output.ab_scale)")
    parser.add_argument("--through-spread", action="store_true",
                        help="hints: the loss is taken after the engine's spread of the hints")
    parser.add_argument("--spread-input", action="store_true",
                        help="hints: also feed the hints spread over grey by the engine")
    parser.add_argument("--init", help="start from this checkpoint's weights (a new run)")
    parser.add_argument("--source-weight", action="append", default=[], metavar="NAME=W",
                        help="draw the pictures of this source (index.json's) W times as often "
                             "as the others; 0 leaves it out of training and validation "
                             "(repeatable)")
    parser.add_argument("--freeze-norms", action="store_true",
                        help="keep the batch normalisations' statistics (training on from "
                             "--init with new inputs)")
    parser.add_argument("--init-lr-scale", type=float, default=1.0,
                        help="with --init: the learning rate's share for the weights it gives "
                             "as trained (new or widened weights take all of it)")
    parser.add_argument("--out", default=str(REPO / "models"))
    parser.add_argument("--run", default="", help="export: training run to take (default: --id)")
    parser.add_argument("--checkpoint", choices=["last", "best"], default="last",
                        help="export: the last weights or those with the lowest validation loss")
    parser.add_argument("--head", choices=["ab", "classes"], default="ab",
                        help="export of an auto run: its ab regression (baseline family) or "
                        "its colour classes with the annealed mean (zhang family)")
    parser.add_argument("--unbalance", type=float, default=0.0,
                        help="export of colour classes: undo this share (0-1) of the class "
                        "rebalancing in the logits (safer, less saturated colours)")
    parser.add_argument("--temperature", type=float, default=TEMPERATURE,
                        help="export: annealed-mean temperature put in the graph")
    parser.add_argument("--name", default="")
    parser.add_argument("--description", default="")
    parser.add_argument("--default", action="store_true", help="mark as the default model")
    parser.add_argument("--shrink", action="store_true",
                        help="export (baseline): scale ab by the validation least-squares factor")
    parser.add_argument("--half-weights", action="store_true",
                        help="export: store the weights as float16 (half the file; the "
                             "arithmetic stays float32)")
    parser.add_argument("--direct-convolutions", action="store_true",
                        help="export: keep each x2 upsampling + 3x3 convolution as PyTorch "
                             "computes it (by default one 2x2 convolution at the low "
                             "resolution, the same output to float rounding and faster)")
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            print(train(args))
        else:
            print(export(args))
    except TrainingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
