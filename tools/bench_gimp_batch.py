"""Run inside gimp-console-3.0 (python-fu-eval) by tools/bench_gimp.py: time plug-in-colorize-ai
from the procedure call to its return with the result layer written, several times."""

import json
import time

from gi.repository import Gimp, Gio

with open("/tmp/bench-gimp/settings.json") as f:
    S = json.load(f)
PROC = Gimp.get_pdb().lookup_procedure("plug-in-colorize-ai")
image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(S["photo"]))
source = image.get_layers()[0]
hints = None
if S.get("hints"):  # a "Colour hints" layer of painted dots over the whole photo
    from gi.repository import Gegl

    w, h = source.get_width(), source.get_height()
    hints = Gimp.Layer.new(image, "Colour hints", w, h, Gimp.ImageType.RGBA_IMAGE, 100.0,
                           Gimp.LayerMode.NORMAL)
    image.insert_layer(hints, None, 0)
    with open(S["hints"], "rb") as f:
        hints.get_buffer().set(Gegl.Rectangle.new(0, 0, w, h), "R'G'B'A u8", f.read())
times, statuses = [], []
for _ in range(S["runs"] + 1):  # the first is the warm-up
    config = PROC.create_config()
    config.set_property("image", image)
    config.set_core_object_array("drawables", [source])
    config.set_property("model", S["model"])
    if hints is not None:
        config.set_property("hints", hints)
    start = time.perf_counter()
    result = PROC.run(config)
    times.append(time.perf_counter() - start)
    statuses.append(result.index(0).value_nick)
    for layer in image.get_layers():  # the next run starts from the photo alone again
        if layer not in (source, hints):
            image.remove_layer(layer)
    if hints is not None:
        hints.set_visible(True)
with open(S["out"], "w") as f:
    json.dump({"times": times, "statuses": statuses, "gimp_version": Gimp.version(),
               "size": [source.get_width(), source.get_height()]}, f)
