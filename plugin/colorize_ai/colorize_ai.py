#!/usr/bin/env python3
"""Colorize (AI) for GIMP 3: Filters > Colorize (AI)...

Adapts GIMP's world (layers, selection, undo, progress, messages) to the engine worker,
which runs in the environment installer.py made (client.py speaks the protocol; options.py
declares the run options this file turns into arguments). This file imports only gi, the
standard library and those standard-library siblings. GIMP requires a plug-in's file to be
named like its folder, hence colorize_ai/colorize_ai.py; the engine's own modules are named
for what they are.
"""

import os
import sys

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("GimpUi", "3.0")
gi.require_version("Gegl", "0.4")
import client  # noqa: E402
import options  # noqa: E402
from gi.repository import Gegl, Gimp, GimpUi, GLib, GObject  # noqa: E402

PROC = "plug-in-colorize-ai"
PLUGIN_DIR = os.path.dirname(os.path.abspath(__file__))
HINTS_LAYER_NAMES = ("colour hints", "color hints")  # picked by default, in any case
# 8-bit gamma images are read as 8-bit (bit-exact with the CLI); all others as float.
U8_GAMMA = (Gimp.Precision.U8_NON_LINEAR, Gimp.Precision.U8_PERCEPTUAL)
GIMP_OPTIONS = [o for o in options.OPTIONS if o.gimp]


class Failure(Exception):
    """A reason to stop, in one sentence for the user, with the PDB status to return."""

    def __init__(self, message, status=Gimp.PDBStatusType.EXECUTION_ERROR):
        Exception.__init__(self, message)
        self.status = status


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


def all_layers(layers):
    for layer in layers:
        yield layer
        if layer.is_group():
            yield from all_layers(layer.get_children())


def default_hints_layer(image, source):
    """The layer called "Colour hints" (or "Color hints"), if the image has one."""
    for layer in all_layers(image.get_layers()):
        if layer.get_name().strip().lower() in HINTS_LAYER_NAMES and layer != source:
            return layer
    return None


def hints_pixels(image, source, hints):
    """The hints layer's pixels over the source layer's area (8-bit RGBA; transparent where
    the hints layer does not reach), as the worker wants them."""
    if hints.get_image() != image:
        raise Failure("The hints layer belongs to another image; choose a layer of this image.",
                      Gimp.PDBStatusType.CALLING_ERROR)
    if hints == source:
        raise Failure("The hints layer is the layer being colorized; paint the hints on a "
                      "transparent layer above it and choose that one.",
                      Gimp.PDBStatusType.CALLING_ERROR)
    if not isinstance(hints, Gimp.Layer) or hints.is_group():
        raise Failure("The hints layer must be a plain layer with painted colours, not a layer "
                      "group; choose one layer.", Gimp.PDBStatusType.CALLING_ERROR)
    if hints.is_text_layer():
        raise Failure("The hints layer is a text layer; paint the hint colours on a "
                      "transparent layer instead.", Gimp.PDBStatusType.CALLING_ERROR)
    if not hints.has_alpha():
        raise Failure("The hints layer has no transparency, so all of it would count as a "
                      "hint; add an alpha channel (Layer > Transparency) and paint the hints "
                      "on a transparent background.", Gimp.PDBStatusType.CALLING_ERROR)
    _, sx, sy = source.get_offsets()
    _, hx, hy = hints.get_offsets()
    w, h = source.get_width(), source.get_height()
    rect = Gegl.Rectangle.new(sx - hx, sy - hy, w, h)
    data = hints.get_buffer().get(rect, 1.0, "R'G'B'A u8", Gegl.AbyssPolicy.NONE)
    return client.Raw(bytes(data), w, h, 4, "uint8")


def read_pixels(layer, precision):
    """The layer's pixels as the worker wants them, and their Babl format."""
    channels = 4 if layer.has_alpha() else 3
    kind = "u8" if precision in U8_GAMMA else "float"
    fmt = ("R'G'B'A " if channels == 4 else "R'G'B' ") + kind
    rect = Gegl.Rectangle.new(0, 0, layer.get_width(), layer.get_height())
    data = layer.get_buffer().get(rect, 1.0, fmt, Gegl.AbyssPolicy.CLAMP)
    raw = client.Raw(bytes(data), layer.get_width(), layer.get_height(), channels,
                     "uint8" if kind == "u8" else "float32")
    return raw, fmt


def worker_responses(config, image, layer, models, hints):
    """Run the worker; the responses (each with its result's pixels). Changes nothing."""
    raw, fmt = read_pixels(layer, image.get_precision())
    values = dict((o.name, config.get_property(o.gimp_name)) for o in GIMP_OPTIONS
                  if o.kind != options.IMAGE)
    images = {"hints": hints_pixels(image, layer, hints)} if hints is not None else {}
    label = f"Colorizing with {len(models)} models" if len(models) > 1 else "Colorizing"
    Gimp.progress_init(label + "...")
    try:
        responses = client.colorize_in_worker(PLUGIN_DIR, raw, models, values, images,
                                              progress=Gimp.progress_update)
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


def apply_results(image, source, responses, fmt, mask_selection, hints):
    """All changes to the image, as one undo step; the hints layer is hidden so that the
    result shows (its pixels stay as they are, to repaint and run again)."""
    image.undo_group_start()
    try:
        if image.get_base_type() != Gimp.ImageBaseType.RGB:
            image.convert_rgb()
            Gimp.message("Colorize (AI) converted the image to RGB so that it can hold colour.")
        for response in responses:  # each goes directly above the source: first on top
            add_result_layer(image, source, response, fmt, mask_selection)
        if hints is not None:
            hints.set_visible(False)
    finally:
        image.undo_group_end()


def redraw_when_sized(chooser):
    """GIMP 3.0 and 3.2 draw a layer chooser's thumbnail when its layer is set, which the
    procedure dialog does before the chooser has a size, so the thumbnail stays empty: set the
    same layer again once the chooser is laid out."""
    prop = next((p for p in ("item", "drawable") if chooser is not None
                 and chooser.find_property(p) is not None), None)
    if prop is None:
        return

    def again():
        chooser.set_property(prop, chooser.get_property(prop))
        return GLib.SOURCE_REMOVE

    def sized(widget, _allocation):
        widget.disconnect(handler)
        GLib.idle_add(again)

    handler = chooser.connect_after("size-allocate", sized)


def show_dialog(procedure, config, image, source):
    GimpUi.init(PROC)
    hints = config.get_property("hints")
    if hints is None or not hints.is_valid() or hints.get_image() != image:
        config.set_property("hints", default_hints_layer(image, source))
    dialog = GimpUi.ProcedureDialog(procedure=procedure, config=config, title="Colorize (AI)")
    names = ["model"] + [o.gimp_name for o in GIMP_OPTIONS] + ["selection-only"]
    text = client.missing_models_text()
    if text:
        dialog.get_label("missing-models", text, False, False)
        names.append("missing-models")
    dialog.get_spin_scale("strength", 1.0)  # a slider instead of a bare number
    dialog.fill(names)
    redraw_when_sized(dialog.get_widget("hints", GObject.TYPE_NONE))
    accepted = dialog.run()
    dialog.destroy()
    return accepted


def run(procedure, run_mode, image, drawables, config, data):
    try:
        source = the_layer(drawables)
        if run_mode == Gimp.RunMode.INTERACTIVE and not show_dialog(procedure, config, image,
                                                                    source):
            return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
        try:
            models = client.plan(config.get_property("model"))
        except client.WorkerError as exc:
            raise Failure(exc.message) from None
        mask_selection = False
        if config.get_property("selection-only") and not Gimp.Selection.is_empty(image):
            touches = source.mask_intersect()[0]
            if not touches:
                raise Failure("The selection does not touch the layer; select part of the "
                              "layer or clear the selection.", Gimp.PDBStatusType.CALLING_ERROR)
            mask_selection = True
        hints = config.get_property("hints")
        responses, fmt = worker_responses(config, image, source, models, hints)
        apply_results(image, source, responses, fmt, mask_selection, hints)
        for warning in sorted({r["warning"] for r in responses if r.get("warning")}):
            Gimp.message(warning)  # e.g. CUDA was asked for but the CPU ran the model
    except Failure as exc:
        return procedure.new_return_values(exc.status, GLib.Error(str(exc)))
    Gimp.displays_flush()
    return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())


def add_argument(procedure, option):
    """The procedure argument (and dialog widget) for one run option."""
    flags = GObject.ParamFlags.READWRITE
    name, label, help_text = option.gimp_name, option.label, option.help
    if option.kind == options.CHOICE:
        choice = Gimp.Choice.new()
        for n, (value, text, tip) in enumerate(option.choices):
            choice.add(value, n, text, tip)
        procedure.add_choice_argument(name, label, help_text, choice, option.default, flags)
    elif option.kind == options.FLOAT:
        procedure.add_double_argument(name, label, help_text, option.minimum, option.maximum,
                                      option.default, flags)
    elif option.kind == options.INT:
        procedure.add_int_argument(name, label, help_text, option.minimum, option.maximum,
                                   option.default, flags)
    elif option.kind == options.BOOL:
        procedure.add_boolean_argument(name, label, help_text, option.default, flags)
    elif option.kind == options.IMAGE:
        procedure.add_layer_argument(name, label, help_text, True, flags)


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
        menu, default = client.model_menu()
        models = Gimp.Choice.new()
        for n, (model_id, label, help_text) in enumerate(menu):
            models.add(model_id, n, label, help_text)
        procedure.add_choice_argument("model", "_Model", "Model to colorize with", models,
                                      default, flags)
        for option in GIMP_OPTIONS:
            add_argument(procedure, option)
        procedure.add_boolean_argument("selection-only", "Selec_tion only",
                                       "Show the colour only inside the selection (a layer mask)",
                                       True, flags)
        return procedure


Gimp.main(ColorizeAI.__gtype__, sys.argv)
