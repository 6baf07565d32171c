#!/usr/bin/env python3
"""Colorize (AI) for GIMP 3: Filters > Colorize (AI)...

Adapts GIMP's world (layers, selection, undo, progress, messages) to the engine worker,
which runs in the environment installer.py made (client.py speaks the protocol). This file
imports only gi, the standard library and the two standard-library siblings.
"""

import os
import sys

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("GimpUi", "3.0")
gi.require_version("Gegl", "0.4")
import client  # noqa: E402
import manifest  # noqa: E402
from gi.repository import Gegl, Gimp, GimpUi, GLib, GObject  # noqa: E402

PROC = "plug-in-colorize-ai"
ALL = client.ALL_MODELS
PLUGIN_DIR = os.path.dirname(os.path.abspath(__file__))
DEVICES = (("auto", "Automatic (CUDA when it works, else CPU)"), ("cuda", "CUDA (NVIDIA GPU)"),
           ("cpu", "CPU"))
VARIANTS = (("auto", "Automatic (the fast copy where it is as good)",
             "The model's int8 (CPU) or fp16 (GPU) copy when its measured colour difference "
             "is small, else the exact model"),
            ("exact", "Exact", "The model itself, in float32"),
            ("fast", "Fast", "The model's int8 (CPU) or fp16 (GPU) copy, if one is installed"))
# 8-bit gamma images are read as 8-bit (bit-exact with the CLI); all others as float.
U8_GAMMA = (Gimp.Precision.U8_NON_LINEAR, Gimp.Precision.U8_PERCEPTUAL)


class Failure(Exception):
    """A reason to stop, in one sentence for the user, with the PDB status to return."""

    def __init__(self, message, status=Gimp.PDBStatusType.EXECUTION_ERROR):
        Exception.__init__(self, message)
        self.status = status


def known_models(strict=False):
    """(installed entries, catalogue entries not installed), from the models' manifests.

    A damaged manifest raises Failure when strict, else counts as no models (registration
    must not fail: the run then says what is wrong)."""
    try:
        entries = manifest.list_entries()
    except manifest.ManifestError as exc:
        if strict:
            raise Failure(str(exc)) from None
        return [], []
    installed = [e for e in entries if manifest.is_installed(e)]
    return installed, [e for e in entries if not manifest.is_installed(e)]


def model_choice():
    """The model argument's choices: installed models, "all installed", then the others."""
    installed, missing = known_models()
    choice = Gimp.Choice.new()
    for n, entry in enumerate(installed):
        choice.add(entry["id"], n, entry["name"], entry.get("description", ""))
    choice.add(ALL, len(installed), "All installed models (one layer each)",
               "Compare models: one new layer per installed model")
    for n, entry in enumerate(missing, len(installed) + 1):
        hint = entry.get("install") or "python3 installer.py"
        choice.add(entry["id"], n, f"{entry['name']} (not installed: {hint})",
                   entry.get("description", ""))
    default = manifest.default_entry(installed)
    return choice, default["id"] if default else ALL


def missing_models_text():
    _, missing = known_models()
    if not missing:
        return ""
    lines = [f"{e['name']}: {e.get('install') or 'python3 installer.py'}" for e in missing]
    return "Models not installed yet (run in the Colorize (AI) folder):\n" + "\n".join(lines)


def the_layer(drawables):
    if len(drawables) != 1:
        raise Failure("Colorize (AI) works on one layer at a time; select exactly one layer.",
                      Gimp.PDBStatusType.CALLING_ERROR)
    layer = drawables[0]
    if not isinstance(layer, Gimp.Layer) or isinstance(layer, Gimp.LayerMask):
        raise Failure("Colorize (AI) works on layers; select a layer, not a mask or channel.",
                      Gimp.PDBStatusType.CALLING_ERROR)
    if layer.is_group():
        raise Failure("Colorize (AI) cannot colorize a layer group; select one of its layers "
                      "or merge the group first.", Gimp.PDBStatusType.CALLING_ERROR)
    return layer


def models_to_run(model_id):
    installed, missing = known_models(strict=True)
    try:
        return client.models_to_run(model_id, installed, missing)
    except client.WorkerError as exc:
        raise Failure(exc.message) from None


def read_pixels(layer, precision):
    """The layer's pixels as the worker wants them: (bytes, channels, dtype, Babl format)."""
    channels = 4 if layer.has_alpha() else 3
    kind = "u8" if precision in U8_GAMMA else "float"
    fmt = ("R'G'B'A " if channels == 4 else "R'G'B' ") + kind
    rect = Gegl.Rectangle.new(0, 0, layer.get_width(), layer.get_height())
    data = layer.get_buffer().get(rect, 1.0, fmt, Gegl.AbyssPolicy.CLAMP)
    return bytes(data), channels, "uint8" if kind == "u8" else "float32", fmt


def colorize(config, layer, models, precision):
    """Run the worker; the responses (each with its result's pixels). Changes nothing."""
    pixels, channels, dtype, fmt = read_pixels(layer, precision)
    options = {"strength": config.get_property("strength"),
               "render_size": config.get_property("render-size")}
    label = f"Colorizing with {len(models)} models" if len(models) > 1 else "Colorizing"
    Gimp.progress_init(label + "...")
    try:
        responses = client.colorize(
            PLUGIN_DIR, pixels, layer.get_width(), layer.get_height(), channels, dtype, models,
            config.get_property("device"), options, progress=Gimp.progress_update,
            variant=config.get_property("variant"))
    except client.WorkerError as exc:
        raise Failure(exc.message) from None
    Gimp.progress_update(1.0)
    return responses, fmt


def add_result_layer(image, source, response, fmt, mask_selection):
    w, h = source.get_width(), source.get_height()
    kind = Gimp.ImageType.RGBA_IMAGE if source.has_alpha() else Gimp.ImageType.RGB_IMAGE
    name = client.layer_name(response)
    layer = Gimp.Layer.new(image, name, w, h, kind, 100.0, Gimp.LayerMode.NORMAL)
    parent = source.get_parent()
    image.insert_layer(layer, parent, image.get_item_position(source))
    layer.set_offsets(*source.get_offsets()[1:])
    buffer = layer.get_buffer()
    buffer.set(Gegl.Rectangle.new(0, 0, w, h), fmt, response["pixels"])
    buffer.flush()
    layer.update(0, 0, w, h)
    if mask_selection:
        # Outside the selection the mask hides the layer, so the source shows through.
        layer.add_mask(layer.create_mask(Gimp.AddMaskType.SELECTION))
    return layer


def apply_results(image, source, responses, fmt, mask_selection):
    """All changes to the image, as one undo step."""
    image.undo_group_start()
    try:
        if image.get_base_type() != Gimp.ImageBaseType.RGB:
            image.convert_rgb()
            Gimp.message("Colorize (AI) converted the image to RGB so that it can hold colour.")
        for response in responses:  # each goes directly above the source: first on top
            add_result_layer(image, source, response, fmt, mask_selection)
    finally:
        image.undo_group_end()


def run(procedure, run_mode, image, drawables, config, data):
    try:
        source = the_layer(drawables)
        if run_mode == Gimp.RunMode.INTERACTIVE:
            GimpUi.init(PROC)
            dialog = GimpUi.ProcedureDialog(procedure=procedure, config=config,
                                            title="Colorize (AI)")
            names = ["model", "device", "variant", "strength", "render-size", "selection-only"]
            text = missing_models_text()
            if text:
                dialog.get_label("missing-models", text, False, False)
                names.append("missing-models")
            dialog.get_spin_scale("strength", 1.0)  # a slider instead of a bare number
            dialog.fill(names)
            accepted = dialog.run()
            dialog.destroy()
            if not accepted:
                return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
        models = models_to_run(config.get_property("model"))
        mask_selection = False
        if config.get_property("selection-only") and not Gimp.Selection.is_empty(image):
            touches = source.mask_intersect()[0]
            if not touches:
                raise Failure("The selection does not touch the layer; select part of the "
                              "layer or clear the selection.", Gimp.PDBStatusType.CALLING_ERROR)
            mask_selection = True
        responses, fmt = colorize(config, source, models, image.get_precision())
        apply_results(image, source, responses, fmt, mask_selection)
        for warning in sorted({r["warning"] for r in responses if r.get("warning")}):
            Gimp.message(warning)  # e.g. CUDA was asked for but the CPU ran the model
    except Failure as exc:
        return procedure.new_return_values(exc.status, GLib.Error(str(exc)))
    Gimp.displays_flush()
    return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())


class ColorizeAI(Gimp.PlugIn):
    def do_query_procedures(self):
        return [PROC]

    def do_set_i18n(self, name):
        return False

    def do_create_procedure(self, name):
        procedure = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, run, None)
        procedure.set_image_types("RGB*, GRAY*, INDEXED*")
        procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
        procedure.set_menu_label("Colorize (AI)\u2026")
        procedure.add_menu_path("<Image>/Filters")
        procedure.set_documentation(
            "Colorize a black-and-white photo with a deep-learning model",
            "Adds a colorized copy of the selected layer directly above it (one per model "
            "with 'All installed models'); the layer itself is not changed. With "
            "'Selection only' the new layer gets a mask made from the selection.",
            name)
        procedure.set_attribution("Colorize (AI) authors", "Colorize (AI) authors", "2026")
        flags = GObject.ParamFlags.READWRITE
        choice, default = model_choice()
        procedure.add_choice_argument("model", "_Model", "Model to colorize with", choice,
                                      default, flags)
        devices = Gimp.Choice.new()
        for n, (nick, label) in enumerate(DEVICES):
            devices.add(nick, n, label, "")
        procedure.add_choice_argument("device", "_Device", "Where the model runs", devices,
                                      "auto", flags)
        variants = Gimp.Choice.new()
        for n, (nick, label, help_text) in enumerate(VARIANTS):
            variants.add(nick, n, label, help_text)
        procedure.add_choice_argument("variant", "_Precision", "Exact model or its faster copy",
                                      variants, "auto", flags)
        procedure.add_double_argument("strength", "Stre_ngth",
                                      "Colour strength: 0 grey, 1 the model's colours, 2 double",
                                      0.0, 2.0, 1.0, flags)
        procedure.add_int_argument("render-size", "Render si_ze",
                                   "Side of the image the model sees, in pixels "
                                   "(0: the model's own size)", 0, 4096, 0, flags)
        procedure.add_boolean_argument("selection-only", "Selec_tion only",
                                       "Show the colour only inside the selection (a layer mask)",
                                       True, flags)
        return procedure


Gimp.main(ColorizeAI.__gtype__, sys.argv)
