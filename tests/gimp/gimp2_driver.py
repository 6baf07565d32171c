"""Run under Python 2.7: load the GIMP 2.10 front end against the stand-in gimpfu and run
the scenarios of a JSON spec, writing what the plug-in did (calls, layers, pixels) as JSON.

    python2 gimp2_driver.py SPEC.json RESULT.json
"""

import base64
import imp
import json
import sys


def b64(data):
    return base64.b64encode(bytes(data)).decode("ascii")


def run_scenario(gimpfu, function, options, scenario):
    image = gimpfu.Image(scenario["width"], scenario["height"], scenario["base_type"],
                         scenario.get("precision", gimpfu.PRECISION_U8_GAMMA),
                         scenario.get("colormap"), scenario.get("selection"))
    source = gimpfu.Layer(image, "source", scenario["width"], scenario["height"],
                          scenario["kind"], 100.0, gimpfu.NORMAL_MODE)
    source.pixels = bytearray(base64.b64decode(scenario["pixels"]))
    source.offsets = tuple(scenario.get("offsets", (0, 0)))
    image.layers.append(source)
    del gimpfu.CALLS[:]
    function(image, source, options.index(scenario["model"]), 2, scenario.get("strength", 1.0),
             0, scenario.get("selection_only", True))
    return {"calls": list(gimpfu.CALLS), "base_type": image.base_type,
            "undo_depth": image.undo_depth,
            "layers": [{"name": layer.name, "kind": layer.kind, "offsets": list(layer.offsets),
                        "width": layer.width, "height": layer.height,
                        "mask": layer.mask.kind if layer.mask else None,
                        "pixels": b64(layer.pixels)} for layer in image.layers]}


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    sys.path.insert(0, spec["stub"])
    import gimpfu

    imp.load_source("colorize_ai_gimp2", spec["plugin"])
    registered = dict(gimpfu.REGISTERED)
    function = registered.pop("function")
    options = [p for p in registered["params"] if p[1] == "model"][0][4]
    result = {"python": sys.version.split()[0], "registered": registered,
              "main_called": ["main"] in gimpfu.CALLS, "scenarios": {}}
    for scenario in spec["scenarios"]:
        result["scenarios"][scenario["name"]] = run_scenario(gimpfu, function, options, scenario)
    with open(sys.argv[2], "w") as f:
        json.dump(result, f)


main()
