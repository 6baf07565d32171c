"""A loaded model: its checked file, its ONNX Runtime session and its family's processing."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .errors import BadRequest, ModelCorrupt
from .families import Family, HintCells
from .registry import DEFAULT_VARIANT, Catalogue, ModelSpec, read_checked
from .session import (
    CUDA,
    DEFAULT_DEVICE,
    DevicePlan,
    SessionInfo,
    create_session,
    plan_device,
)

RENDER_LIMIT = 4  # the largest render size, in multiples of the model's own input size


@dataclass
class Model:
    spec: ModelSpec  # the file that runs: the model itself or one of its fast variants
    family: Family
    info: SessionInfo
    # The model itself: `spec`, or the model `spec` is a fast variant of (`spec` again when
    # that model is not in the folders searched).
    base: ModelSpec

    @property
    def name(self) -> str:
        """The model's own name, also when a variant runs."""
        return self.base.name

    @property
    def max_render_size(self) -> int:
        """Beyond this the model sees detail it was never trained on, and memory grows with
        the square of the side."""
        return RENDER_LIMIT * self.family.size

    @property
    def provider(self) -> str:
        return self.info.provider

    def input_dims(self, height: int, width: int, render_size: int = 0,
                   keep_aspect: bool = False) -> tuple[int, int]:
        """Model input (rows, cols) for a photo: a square of the render size, or with
        `keep_aspect` its long side, both rounded to the family's multiple."""
        f = self.family
        if render_size < 0:
            raise BadRequest(f"Render size must be 0 (the model's default) or positive, "
                             f"not {render_size}.")
        if render_size > self.max_render_size:  # refused before anything is allocated
            raise BadRequest(f"Render size {render_size} is more than {self.name} allows (at "
                             f"most {self.max_render_size}, {RENDER_LIMIT} times its own size "
                             f"of {f.size}).")
        if f.fixed_size or not render_size:
            side = f.size
        else:
            side = max(f.multiple, round(render_size / f.multiple) * f.multiple)
        if not keep_aspect or f.fixed_size or height == width:
            return side, side
        short = max(f.multiple, round(side * min(height, width) / max(height, width)
                                      / f.multiple) * f.multiple)
        return (side, short) if height > width else (short, side)

    @property
    def takes_hints(self) -> bool:
        return self.family.takes_hints

    def predict_ab(self, lightness: np.ndarray, hints: HintCells | None = None) -> np.ndarray:
        """L plane (h x w float32, [0, 100]) -> ab (h' x w' x 2 float32) as the model sees it.
        hints (at h x w) are inputs for a family that takes them, ignored otherwise."""
        feeds = self.family.feeds(lightness, hints if self.takes_hints else None)
        (output,) = self.info.session.run([self.family.output_name], feeds)
        self._check_output(np.asarray(output))
        return self.family.decode(output)

    def _check_output(self, output: np.ndarray) -> None:
        """Refuse an output that is not [1, 2, h, w] (NHWC: [1, h, w, 2]) finite numbers."""
        nhwc = self.family.output_layout == "NHWC"
        shape = tuple(output.shape)
        if (len(shape) != 4 or shape[0] != 1 or shape[3 if nhwc else 1] != 2
                or min(shape) < 1):
            wanted = "[1, h, w, 2]" if nhwc else "[1, 2, h, w]"
            raise ModelCorrupt(f"Model '{self.spec.id}' gave an output of shape {list(shape)}, "
                               f"not {wanted} as its manifest entry says; the model file does "
                               "not fit this program.")
        if not np.isfinite(output).all():
            raise ModelCorrupt(f"Model '{self.spec.id}' ({self.name}) gave invalid numbers (NaN "
                               "or infinity) for this photo; its file may be damaged, or its "
                               "precision too low here (try --variant exact).")


def _check_signature(spec: ModelSpec, family: Family, session: object) -> None:
    """Refuse a file whose inputs/outputs are not what the manifest promises."""
    inputs = {i.name: i.shape for i in session.get_inputs()}
    outputs = {o.name: o.shape for o in session.get_outputs()}
    wanted = family.input_names
    problems = [f"no input '{n}'" for n in wanted if n not in inputs]
    problems += [f"input '{n}' is not 4-D" for n in wanted if n in inputs and len(inputs[n]) != 4]
    if family.output_name not in outputs:
        problems.append(f"no output '{family.output_name}'")
    elif len(outputs[family.output_name]) != 4:
        problems.append(f"output '{family.output_name}' is not 4-D")
    meta = session.get_modelmeta().custom_metadata_map
    if meta.get("family") not in (None, spec.family):
        problems.append(f"its metadata says family '{meta['family']}', not '{spec.family}'")
    if problems:
        raise ModelCorrupt(f"Model file {spec.path} does not match its manifest entry "
                           f"'{spec.id}': {'; '.join(problems)}.")


def _open(spec: ModelSpec, base: ModelSpec, device: DevicePlan, threads: int | None,
          strict_device: bool) -> Model:
    data = read_checked(spec)
    family = spec.make_family()
    info = create_session(spec.path, device=device, threads=threads, strict_device=strict_device,
                          data=data, digest=spec.sha256.lower())
    del data  # the session holds what it needs
    _check_signature(spec, family, info.session)
    return Model(spec=spec, family=family, info=info, base=base)


def load_model(model: str | ModelSpec | None = None, device: str = DEFAULT_DEVICE,
               threads: int | None = None, strict_device: bool = False,
               folders: list[str | os.PathLike] | None = None, variant: str = DEFAULT_VARIANT,
               catalogue: Catalogue | None = None) -> Model:
    """Find, check and open a model by id (None: the default installed model).

    variant (the option's policy; default options.py's): "exact" (the model itself), "fast"
    (its int8 or fp16 copy for the device) or "auto" (the fast copy where its measured
    fidelity allows, else the exact model). catalogue: the manifests of `folders` when the
    caller has already read them; otherwise they are read here, once."""
    plan = plan_device(device)  # the device is checked here, once
    catalogue = catalogue or Catalogue.read(folders)
    spec = model if isinstance(model, ModelSpec) else catalogue.spec(model)
    chosen = catalogue.choose(spec, variant, plan.target)
    base = spec if chosen is not spec else catalogue.base_of(chosen)
    opened = _open(chosen, base, plan, threads, strict_device)
    if variant == "auto" and chosen.device == "cuda" and opened.provider != CUDA:
        return _open(spec, spec, plan, threads, strict_device)  # fp16 for a GPU that did not start
    return opened
