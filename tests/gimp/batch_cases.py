"""Run inside gimp-console-3.x (python-fu-eval): the end-to-end cases, one GIMP start.

Reads /tmp/e2e/settings.json, drives plug-in-colorize-ai the way a script or another plug-in
would, and writes what it saw to <out>/results.json plus raw pixel dumps; the pytest side
(tests/test_gimp3_e2e.py) makes the assertions.
"""

import hashlib
import json
import os
import traceback

from gi.repository import Gegl, Gimp, Gio

with open("/tmp/e2e/settings.json") as settings:
    S = json.load(settings)
OUT = S["out"]
PDB = Gimp.get_pdb()
PROC = PDB.lookup_procedure("plug-in-colorize-ai")
results = {}


def pixels(drawable, fmt):
    rect = Gegl.Rectangle.new(0, 0, drawable.get_width(), drawable.get_height())
    return bytes(drawable.get_buffer().get(rect, 1.0, fmt, Gegl.AbyssPolicy.CLAMP))


def dump(drawable, name, fmt):
    with open(os.path.join(OUT, name + ".raw"), "wb") as f:
        f.write(pixels(drawable, fmt))
    return name + ".raw"


def digest(drawable, fmt="R'G'B'A float"):
    return hashlib.sha256(pixels(drawable, fmt)).hexdigest()


def layers(image):
    """Top-level layers, top first: what a person sees in the Layers dialog."""
    found = []
    for layer in image.get_layers():
        found.append({"name": layer.get_name(), "width": layer.get_width(),
                      "height": layer.get_height(), "offsets": list(layer.get_offsets()[1:]),
                      "alpha": bool(layer.has_alpha()), "mask": layer.get_mask() is not None,
                      "group": bool(layer.is_group())})
    return found


def state(image):
    return {"layers": layers(image), "base_type": int(image.get_base_type()),
            "precision": int(image.get_precision()),
            "sources": [digest(layer) for layer in image.get_layers()]}


def run(image, drawables, **args):
    cfg = PROC.create_config()
    cfg.set_property("image", image)
    cfg.set_core_object_array("drawables", drawables)
    for key, value in args.items():
        cfg.set_property(key.replace("_", "-"), value)
    result = PROC.run(cfg)
    status = result.index(0)
    message = result.index(1) if result.length() > 1 else None
    return {"status": status.value_nick if hasattr(status, "value_nick") else str(status),
            "message": message if isinstance(message, str) else PDB.get_last_error()}


def load(path):
    return Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(path))


def new_layer(image, name, w, h, kind, fmt, data, offsets=(0, 0), position=0):
    layer = Gimp.Layer.new(image, name, w, h, kind, 100.0, Gimp.LayerMode.NORMAL)
    image.insert_layer(layer, None, position)
    layer.set_offsets(*offsets)
    buffer = layer.get_buffer()
    buffer.set(Gegl.Rectangle.new(0, 0, w, h), fmt, data)
    buffer.flush()
    return layer


def case(fn):
    try:
        results[fn.__name__] = fn()
    except Exception:
        results[fn.__name__] = {"exception": traceback.format_exc()}
    return fn


@case
def registered():
    if PROC is None:
        return {"found": False}
    info = {"found": True, "menu_paths": list(PROC.get_menu_paths()),
            "menu_label": PROC.get_menu_label(), "image_types": PROC.get_image_types(),
            "arguments": [a.get_name() for a in PROC.get_arguments()]}
    info["gimp_version"] = Gimp.version()
    for spec in PROC.get_arguments():
        if spec.get_name() == "model":
            choice = Gimp.param_spec_choice_get_choice(spec)
            info["model_choices"] = list(choice.list_nicks())
            info["model_labels"] = [choice.get_label(n) for n in choice.list_nicks()]
            info["model_default"] = Gimp.param_spec_choice_get_default(spec)
        if spec.get_name() == "strength":
            info["strength"] = [spec.minimum, spec.maximum, spec.default_value]
    return info


@case
def rgb_photo():
    image = load(S["photo"])
    source = image.get_layers()[0]
    before = state(image)
    outcome = run(image, [source], model=S["model_a"])
    after = state(image)
    top = image.get_layers()[0]
    return {"before": before, "after": after, "run": outcome,
            "result": dump(top, "rgb_photo", "R'G'B' u8"),
            "source_after": digest(source), "source_before": before["sources"][0]}


@case
def all_models():
    image = load(S["photo"])
    outcome = run(image, [image.get_layers()[0]], model="all-installed")
    return {"run": outcome, "after": state(image)}


@case
def grayscale():
    w, h = S["gray_size"]
    image = Gimp.Image.new(w, h, Gimp.ImageBaseType.GRAY)
    with open(S["gray"], "rb") as f:
        source = new_layer(image, "grey", w, h, Gimp.ImageType.GRAY_IMAGE, "Y' u8", f.read())
    before = state(image)
    outcome = run(image, [source], model=S["model_a"])
    after = state(image)
    return {"before": before, "after": after, "run": outcome,
            "result": dump(image.get_layers()[0], "grayscale", "R'G'B' u8"),
            "source": dump(source, "grayscale_source", "R'G'B' u8")}


@case
def indexed():
    image = load(S["photo"])
    image.convert_indexed(Gimp.ConvertDitherType.NONE, Gimp.ConvertPaletteType.GENERATE, 32,
                          False, False, "")
    before = state(image)
    outcome = run(image, [image.get_layers()[0]], model=S["model_a"])
    return {"before": before, "after": state(image), "run": outcome}


@case
def selection():
    image = load(S["photo"])
    source = image.get_layers()[0]
    x, y, w, h = S["selection"]
    image.select_rectangle(Gimp.ChannelOps.REPLACE, x, y, w, h)
    outcome = run(image, [source], model=S["model_a"], selection_only=True)
    top = image.get_layers()[0]
    flat = image.duplicate()
    flat.flatten()
    return {"run": outcome, "after": state(image),
            "mask": dump(top.get_mask(), "selection_mask", "Y u8") if top.get_mask() else None,
            "composite": dump(flat.get_layers()[0], "selection_composite", "R'G'B' u8"),
            "source": dump(source, "selection_source", "R'G'B' u8")}


@case
def alpha():
    w, h = S["alpha_size"]
    image = Gimp.Image.new(w, h, Gimp.ImageBaseType.RGB)
    with open(S["alpha"], "rb") as f:
        source = new_layer(image, "with alpha", w, h, Gimp.ImageType.RGBA_IMAGE, "R'G'B'A u8",
                           f.read())
    outcome = run(image, [source], model=S["model_a"])
    return {"run": outcome, "after": state(image),
            "result": dump(image.get_layers()[0], "alpha", "R'G'B'A u8")}


@case
def offsets():
    cw, ch = S["canvas"]
    w, h = S["gray_size"]
    image = Gimp.Image.new(cw, ch, Gimp.ImageBaseType.RGB)
    new_layer(image, "background", cw, ch, Gimp.ImageType.RGB_IMAGE, "R'G'B' u8",
              b"\x80" * (cw * ch * 3))
    with open(S["gray"], "rb") as f:
        grey = f.read()
    rgb = bytes(v for v in grey for _ in range(3))
    source = new_layer(image, "placed", w, h, Gimp.ImageType.RGB_IMAGE, "R'G'B' u8", rgb,
                       offsets=S["offsets"], position=0)
    new_layer(image, "on top", 8, 8, Gimp.ImageType.RGBA_IMAGE, "R'G'B'A u8", b"\0" * 256)
    outcome = run(image, [source], model=S["model_a"])
    return {"run": outcome, "after": state(image)}


@case
def sixteen_bit():
    w, h = S["deep_size"]
    image = Gimp.Image.new_with_precision(w, h, Gimp.ImageBaseType.RGB,
                                          Gimp.Precision.U16_NON_LINEAR)
    with open(S["deep"], "rb") as f:
        source = new_layer(image, "deep", w, h, Gimp.ImageType.RGB_IMAGE, "R'G'B' u16",
                           f.read())
    outcome = run(image, [source], model=S["model_a"])
    return {"run": outcome, "after": state(image),
            "result": dump(image.get_layers()[0], "sixteen_bit", "R'G'B' u16"),
            "result_float": dump(image.get_layers()[0], "sixteen_bit_float", "R'G'B' float"),
            "source": dump(source, "sixteen_bit_source", "R'G'B' float")}


@case
def float_linear():
    w, h = S["deep_size"]
    image = Gimp.Image.new_with_precision(w, h, Gimp.ImageBaseType.RGB,
                                          Gimp.Precision.FLOAT_LINEAR)
    with open(S["deep"], "rb") as f:
        source = new_layer(image, "linear", w, h, Gimp.ImageType.RGB_IMAGE, "R'G'B' u16",
                           f.read())
    outcome = run(image, [source], model=S["model_a"])
    return {"run": outcome, "after": state(image),
            "result": dump(image.get_layers()[0], "float_linear", "R'G'B' float"),
            "source": dump(source, "float_linear_source", "R'G'B' float")}


@case
def missing_model():
    image = load(S["photo"])
    before = state(image)
    outcome = run(image, [image.get_layers()[0]], model=S["model_missing"])
    return {"run": outcome, "before": before, "after": state(image)}


@case
def fast_variant_missing():
    image = load(S["photo"])
    before = state(image)
    outcome = run(image, [image.get_layers()[0]], model=S["model_a"], variant="fast")
    return {"run": outcome, "before": before, "after": state(image)}


@case
def corrupt_model():
    image = load(S["photo"])
    with open(S["corrupt_file"], "wb") as f:
        f.write(b"not an onnx file")
    before = state(image)
    outcome = run(image, [image.get_layers()[0]], model=S["model_corrupt"])
    return {"run": outcome, "before": before, "after": state(image)}


@case
def two_layers():
    image = load(S["photo"])
    source = image.get_layers()[0]
    copy = source.copy()
    image.insert_layer(copy, None, 0)
    before = state(image)
    outcome = run(image, [source, copy], model=S["model_a"])
    return {"run": outcome, "before": before, "after": state(image)}


@case
def layer_group():
    image = load(S["photo"])
    group = Gimp.GroupLayer.new(image, "group")
    image.insert_layer(group, None, 0)
    before = state(image)
    outcome = run(image, [group], model=S["model_a"])
    return {"run": outcome, "before": before, "after": state(image)}


@case
def inside_group():
    image = load(S["photo"])
    group = Gimp.GroupLayer.new(image, "group")
    image.insert_layer(group, None, 0)
    source = image.get_layers()[1].copy()
    source.set_name("child")
    image.insert_layer(source, group, 0)
    outcome = run(image, [source], model=S["model_a"])
    children = [child.get_name() for child in group.get_children()]
    return {"run": outcome, "after": state(image), "children": children}


@case
def engine_missing():
    image = load(S["photo"])
    with open(S["plugin_config"]) as f:
        saved = f.read()
    settings = json.loads(saved)
    settings["python"] = "/nonexistent/python"
    try:
        with open(S["plugin_config"], "w") as f:
            json.dump(settings, f)
        before = state(image)
        outcome = run(image, [image.get_layers()[0]], model=S["model_a"])
    finally:
        with open(S["plugin_config"], "w") as f:
            f.write(saved)
    return {"run": outcome, "before": before, "after": state(image)}


@case
def damaged_manifest():
    image = load(S["photo"])
    path = os.path.join(S["models"], "manifest.json")
    with open(path) as f:
        saved = f.read()
    try:
        with open(path, "w") as f:
            f.write("{ not json")
        before = state(image)
        # Damaged before GIMP started, "all installed" is the one choice left to run.
        outcome = run(image, [image.get_layers()[0]], model="all-installed")
    finally:
        with open(path, "w") as f:
            f.write(saved)
    return {"run": outcome, "before": before, "after": state(image)}


def hints_image(layer_kind=Gimp.ImageType.RGBA_IMAGE):
    """The photo with a hints layer larger than it and shifted: red painted over the photo's
    left part, blue over its right part, transparent elsewhere."""
    image = load(S["photo"])
    w, h = S["hints_size"]
    with open(S["hints"], "rb") as f:
        data = f.read()
    hints = new_layer(image, "Colour hints", w, h, layer_kind, "R'G'B'A u8", data,
                      offsets=S["hints_offsets"], position=0)
    return image, image.get_layers()[1], hints


@case
def hints_red_blue():
    image, source, hints = hints_image()
    before = state(image)
    outcome = run(image, [source], model=S["model_a"], hints=hints)
    result = [layer for layer in image.get_layers() if layer.get_name().startswith("Colorized")]
    return {"run": outcome, "before": before, "after": state(image),
            "hints_visible": bool(hints.get_visible()),
            "result": dump(result[0], "hints_red_blue", "R'G'B' u8") if result else None}


@case
def hints_none_is_the_plain_run():
    image, source, hints = hints_image()
    outcome = run(image, [source], model=S["model_a"], hints=None)
    return {"run": outcome, "hints_visible": bool(hints.get_visible()),
            "result": dump(image.get_layers()[1], "hints_none", "R'G'B' u8")}


@case
def hints_group_refused():
    image, source, hints = hints_image()
    group = Gimp.GroupLayer.new(image, "a group")
    image.insert_layer(group, None, 0)
    before = state(image)
    outcome = run(image, [source], model=S["model_a"], hints=group)
    return {"run": outcome, "before": before, "after": state(image)}


@case
def hints_text_refused():
    image, source, hints = hints_image()
    text = Gimp.TextLayer.new(image, "red", Gimp.context_get_font(), 12.0, Gimp.Unit.pixel())
    image.insert_layer(text, None, 0)
    before = state(image)
    outcome = run(image, [source], model=S["model_a"], hints=text)
    return {"run": outcome, "before": before, "after": state(image)}


@case
def hints_without_alpha_refused():
    image = load(S["photo"])
    source = image.get_layers()[0]
    w, h = S["gray_size"]
    opaque = new_layer(image, "opaque", w, h, Gimp.ImageType.RGB_IMAGE, "R'G'B' u8",
                       b"\xff\x00\x00" * (w * h), position=0)
    before = state(image)
    outcome = run(image, [source], model=S["model_a"], hints=opaque)
    return {"run": outcome, "before": before, "after": state(image)}


with open(os.path.join(OUT, "results.json"), "w") as f:
    json.dump(results, f, indent=1)
