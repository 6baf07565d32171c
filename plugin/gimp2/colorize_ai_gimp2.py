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
import manifest  # noqa: E402
from gimpfu import (  # noqa: E402
    ADD_SELECTION_MASK,
    INDEXED,
    NORMAL_MODE,
    PF_DRAWABLE,
    PF_IMAGE,
    PF_OPTION,
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

DEVICES = [("auto", "Automatic (CUDA when it works, else CPU)"), ("cuda", "CUDA (NVIDIA GPU)"),
           ("cpu", "CPU")]
ALL = client.ALL_MODELS
# GIMP 2.10 precisions that are 8-bit per channel (linear and gamma).
EIGHT_BIT = (100, 150)


class Failure(Exception):
    pass


def model_options():
    """[(id, label)]: installed models, all installed, then those still to install."""
    try:
        entries = manifest.list_entries()
    except manifest.ManifestError:
        entries = []
    installed = [e for e in entries if manifest.is_installed(e)]
    missing = [e for e in entries if not manifest.is_installed(e)]
    default = manifest.default_entry(installed)
    if default is not None:
        installed.remove(default)
        installed.insert(0, default)  # PF_OPTION's default is the first entry
    options = [(e["id"], e["name"]) for e in installed]
    options.append((ALL, "All installed models (one layer each)"))
    options.extend((e["id"], "%s (not installed: %s)" % (
        e["name"], e.get("install") or "python3 installer.py")) for e in missing)
    return options


def models_to_run(model_id):
    entries = manifest.list_entries()
    installed = [e for e in entries if manifest.is_installed(e)]
    try:
        return client.models_to_run(model_id, installed,
                                    [e for e in entries if e not in installed])
    except client.WorkerError as exc:
        raise Failure(exc.message)


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


def colorize(image, drawable, model_ids, device, strength, render_size):
    pixels, channels = rgb_pixels(image, drawable)
    gimp.progress_init("Colorizing...")
    try:
        return client.colorize(
            SUPPORT, pixels, drawable.width, drawable.height, channels, "uint8", model_ids,
            device, {"strength": float(strength), "render_size": int(render_size)},
            progress=gimp.progress_update)
    except client.WorkerError as exc:
        raise Failure(exc.message)


def add_layers(image, source, responses, mask_selection):
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
    finally:
        pdb.gimp_image_undo_group_end(image)


def colorize_ai(image, drawable, model, device, strength, render_size, selection_only):
    try:
        check_layer(image, drawable)
        options = model_options()
        model_id = options[min(int(model), len(options) - 1)][0]
        model_ids = models_to_run(model_id)
        mask_selection = False
        if selection_only and not pdb.gimp_selection_is_empty(image):
            if not pdb.gimp_drawable_mask_intersect(drawable)[0]:
                raise Failure("The selection does not touch the layer; select part of the "
                              "layer or clear the selection.")
            mask_selection = True
        responses = colorize(image, drawable, model_ids, DEVICES[int(device)][0], strength,
                             render_size)
        add_layers(image, drawable, responses, mask_selection)
        gimp.displays_flush()
        for warning in sorted(set(r["warning"] for r in responses if r.get("warning"))):
            gimp.message(warning)  # e.g. CUDA was asked for but the CPU ran the model
    except (Failure, manifest.ManifestError) as exc:
        gimp.message(str(exc))


register(
    "plug-in-colorize-ai",
    "Colorize a black-and-white photo with a deep-learning model",
    "Adds a colorized copy of the layer directly above it (one per model with 'All installed "
    "models'); the layer itself is not changed. With 'Selection only' the new layer gets a "
    "mask made from the selection.",
    "Colorize (AI) authors", "Colorize (AI) authors", "2026",
    "Colorize (AI)...",
    "RGB*, GRAY*, INDEXED*",
    [
        (PF_IMAGE, "image", "Image", None),
        (PF_DRAWABLE, "drawable", "Layer", None),
        (PF_OPTION, "model", "Model", 0, [label for _, label in model_options()]),
        (PF_OPTION, "device", "Device", 0, [label for _, label in DEVICES]),
        (PF_SLIDER, "strength", "Strength", 1.0, (0.0, 2.0, 0.05)),
        (PF_SPINNER, "render_size", "Render size (0: model's own)", 0, (0, 4096, 8)),
        (PF_TOGGLE, "selection_only", "Selection only", True),
    ],
    [],
    colorize_ai,
    menu="<Image>/Filters",
)

main()
