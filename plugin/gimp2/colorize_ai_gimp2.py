#!/usr/bin/env python2
# -*- coding: utf-8 -*-
"""Colorize (AI) for GIMP 2.10 (Python 2.7 gimpfu): Filters > Colorize (AI)...

The same entry, options and layer behaviour as the GIMP 3 plug-in, for 8-bit images. The
engine runs in the environment installer.py made; client.py (beside this file, in the
colorize_ai_gimp2 folder) speaks the worker protocol.
"""

import os
import sys

# installer.py puts client.py, manifest.py and config.json in a folder named like this file.
SUPPORT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "colorize_ai_gimp2")
sys.path.insert(0, SUPPORT)

import client  # noqa: E402
import options  # noqa: E402
from gimpfu import (  # noqa: E402
    ADD_SELECTION_MASK,
    INDEXED,
    NORMAL_MODE,
    PF_DRAWABLE,
    PF_IMAGE,
    PF_LAYER,
    PF_RADIO,
    PF_SLIDER,
    PF_SPINNER,
    PF_TOGGLE,
    RGB,
    RGB_IMAGE,
    RGBA_IMAGE,
    gimp,
    main,
    pdb,
    register,
)

# GIMP 2.10 precisions that are 8-bit per channel (linear and gamma).
EIGHT_BIT = (100, 150)
GIMP_OPTIONS = [o for o in options.OPTIONS if o.gimp]
HINTS_LAYER_NAMES = ("colour hints", "color hints")


class Failure(Exception):
    pass


def option_params(option):
    """gimpfu parameters for one run option (an image option: a toggle and a layer, as
    gimpfu's layer menus have no "none")."""
    if option.kind == options.CHOICE:
        return [(PF_RADIO, option.name, option.plain_label, option.default,
                 tuple((label, value) for value, label, _ in option.choices))]
    if option.kind == options.FLOAT:
        return [(PF_SLIDER, option.name, option.plain_label, option.default,
                 (option.minimum, option.maximum, option.step))]
    if option.kind == options.INT:
        return [(PF_SPINNER, option.name, option.plain_label, option.default,
                 (option.minimum, option.maximum, option.step))]
    if option.kind == options.BOOL:
        return [(PF_TOGGLE, option.name, option.plain_label, option.default)]
    return [(PF_TOGGLE, "use_" + option.name, "Use a " + option.plain_label.lower(), False),
            (PF_LAYER, option.name, option.plain_label, None)]


def params():
    """Every parameter after image and drawable; the model is chosen by id (PF_RADIO), so
    a model list that changed since GIMP registered the plug-in cannot run another model."""
    menu, default = client.model_menu()
    return ([(PF_RADIO, "model", "Model", default, tuple((label, model_id)
                                                          for model_id, label, _ in menu))]
            + [p for o in GIMP_OPTIONS for p in option_params(o)]
            + [(PF_TOGGLE, "selection_only", "Selection only", True)])


def rgb_pixels(image, layer):
    """The layer's bytes as grey, grey+alpha, RGB or RGBA (indexed colours looked up)."""
    w, h = layer.width, layer.height
    data = layer.get_pixel_rgn(0, 0, w, h, False, False)[0:w, 0:h]
    if image.base_type != INDEXED:
        return data, layer.bpp
    colormap = bytearray(pdb.gimp_image_get_colormap(image)[1])
    colormap.extend(bytearray(768 - len(colormap)))
    bpp, channels = layer.bpp, 4 if layer.has_alpha else 3
    indices = data[0::bpp]
    out = bytearray(w * h * channels)
    for c in range(3):
        out[c::channels] = indices.translate(bytes(colormap[c::3]))
    if channels == 4:
        out[3::channels] = data[1::bpp]
    return bytes(out), channels


def check_layer(image, drawable):
    if not pdb.gimp_item_is_layer(drawable):
        raise Failure("Colorize (AI) works on layers; select a layer, not a mask or channel.")
    if pdb.gimp_item_is_group(drawable):
        raise Failure("Colorize (AI) cannot colorize a layer group; select one of its layers "
                      "or merge the group first.")
    if pdb.gimp_image_get_precision(image) not in EIGHT_BIT:
        raise Failure("In GIMP 2.10 Colorize (AI) works on 8-bit images; choose Image > "
                      "Precision > 8 bit integer first, or use GIMP 3.")


def hints_layer(image, source, chosen):
    """The chosen hints layer, or the one called "Colour hints" when none was chosen."""
    if chosen is not None:
        return chosen
    for layer in image.layers:
        if layer.name.strip().lower() in HINTS_LAYER_NAMES and layer != source:
            return layer
    raise Failure("No hints layer was chosen and the image has none called \"Colour hints\"; "
                  "choose the layer with the painted hints.")


def hints_pixels(image, source, hints):
    """The hints layer over the source's area, transparent where it does not reach."""
    if hints == source:
        raise Failure("The hints layer is the layer being colorized; paint the hints on a "
                      "transparent layer above it and choose that one.")
    if pdb.gimp_item_is_group(hints) or pdb.gimp_item_is_text_layer(hints):
        raise Failure("The hints layer must be a plain layer with painted colours, not a group "
                      "or a text layer.")
    if not hints.has_alpha:
        raise Failure("The hints layer has no transparency, so all of it would count as a "
                      "hint; add an alpha channel and paint the hints on a transparent "
                      "background.")
    bpp, w, h = hints.bpp, source.width, source.height
    out = bytearray(w * h * bpp)
    (sx, sy), (hx, hy) = source.offsets, hints.offsets
    left, top = max(sx, hx), max(sy, hy)
    right, bottom = min(sx + w, hx + hints.width), min(sy + h, hy + hints.height)
    if left < right and top < bottom:
        region = hints.get_pixel_rgn(0, 0, hints.width, hints.height, False, False)
        for y in range(top, bottom):
            row = region[left - hx:right - hx, y - hy]
            start = ((y - sy) * w + (left - sx)) * bpp
            out[start:start + len(row)] = row
    return client.Raw(bytes(out), w, h, bpp, "uint8")


def add_layers(image, source, responses, mask_selection, hints):
    """All changes to the image, as one undo step."""
    pdb.gimp_image_undo_group_start(image)
    try:
        if image.base_type != RGB:
            pdb.gimp_image_convert_rgb(image)
            gimp.message("Colorize (AI) converted the image to RGB so that it can hold colour.")
        w, h = source.width, source.height
        for response in responses:  # each goes directly above the source: first on top
            kind = RGBA_IMAGE if response.get("channels") == 4 else RGB_IMAGE
            name = client.layer_name(response)
            layer = gimp.Layer(image, name, w, h, kind, 100.0, NORMAL_MODE)
            position = pdb.gimp_image_get_item_position(image, source)
            pdb.gimp_image_insert_layer(image, layer, source.parent, position)
            layer.set_offsets(*source.offsets)
            region = layer.get_pixel_rgn(0, 0, w, h, True, True)
            region[0:w, 0:h] = response["pixels"]
            layer.flush()
            layer.merge_shadow(True)
            layer.update(0, 0, w, h)
            if mask_selection:
                # Outside the selection the mask hides the layer, so the source shows through.
                layer.add_mask(layer.create_mask(ADD_SELECTION_MASK))
        if hints is not None:
            pdb.gimp_item_set_visible(hints, False)  # so that the result shows
    finally:
        pdb.gimp_image_undo_group_end(image)


def run(image, drawable, *values):
    try:
        names = [p[1] for p in params()]
        args = dict(zip(names, values))
        check_layer(image, drawable)
        model_ids = client.plan(args["model"])
        mask_selection = False
        if args["selection_only"] and not pdb.gimp_selection_is_empty(image):
            if not pdb.gimp_drawable_mask_intersect(drawable)[0]:
                raise Failure("The selection does not touch the layer; select part of the "
                              "layer or clear the selection.")
            mask_selection = True
        hints = hints_layer(image, drawable, args["hints"]) if args["use_hints"] else None
        run_options = options.check_values(dict(
            (o.name, args[o.name]) for o in GIMP_OPTIONS if o.kind != options.IMAGE))
        pixels, channels = rgb_pixels(image, drawable)
        images = {"hints": hints_pixels(image, drawable, hints)} if hints is not None else {}
        gimp.progress_init("Colorizing...")
        responses = client.colorize_in_worker(
            SUPPORT, client.Raw(pixels, drawable.width, drawable.height, channels, "uint8"),
            model_ids, run_options, images, progress=gimp.progress_update)
        add_layers(image, drawable, responses, mask_selection, hints)
        gimp.displays_flush()
        for warning in sorted(set(r["warning"] for r in responses if r.get("warning"))):
            gimp.message(warning)  # e.g. CUDA was asked for but the CPU ran the model
    except client.WorkerError as exc:
        gimp.message(exc.message)
    except (Failure, ValueError) as exc:
        gimp.message(str(exc))


register(
    "plug-in-colorize-ai",
    "Colorize a black-and-white photo with a deep-learning model",
    "Adds a colorized copy of the layer directly above it (one per model with 'All installed "
    "models'); the layer itself is not changed. With 'Selection only' the new layer gets a "
    "mask made from the selection; with a hints layer its painted colours guide the model.",
    "Colorize (AI) authors", "Colorize (AI) authors", "2026",
    "Colorize (AI)...",
    "RGB*, GRAY*, INDEXED*",
    [(PF_IMAGE, "image", "Image", None), (PF_DRAWABLE, "drawable", "Layer", None)] + params(),
    [],
    run,
    menu="<Image>/Filters",
)

main()
