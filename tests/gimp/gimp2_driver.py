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


def run_scenario(gimpfu, function, params, scenario):
    image = gimpfu.Image(scenario["width"], scenario["height"], scenario["base_type"],
                         scenario.get("precision", gimpfu.PRECISION_U8_GAMMA),
                         scenario.get("colormap"), scenario.get("selection"))
    source = gimpfu.Layer(image, "source", scenario["width"], scenario["height"],
                          scenario["kind"], 100.0, gimpfu.NORMAL_MODE)
    source.pixels = bytearray(base64.b64decode(scenario["pixels"]))
    source.offsets = tuple(scenario.get("offsets", (0, 0)))
    image.layers.append(source)
    hints = scenario.get("hints")
    if hints:
        layer = gimpfu.Layer(image, hints["name"], hints["width"], hints["height"],
                             hints["kind"], 100.0, gimpfu.NORMAL_MODE)
        layer.pixels = bytearray(base64.b64decode(hints["pixels"]))
        layer.offsets = tuple(hints.get("offsets", (0, 0)))
        layer.group, layer.text = hints.get("group", False), hints.get("text", False)
        image.layers.insert(0, layer)
    del gimpfu.CALLS[:]
    # GIMP passes every parameter: its default unless the scenario sets it ("hints" names
    # the hints layer of the scenario, or None).
    values = dict((p[1], p[3]) for p in params[2:])
    values.update(device="cpu", **scenario.get("values", {}))
    if values.get("hints") == "layer":
        values["hints"] = image.layers[0]
    function(image, source, *[values[p[1]] for p in params[2:]])
    return {"calls": list(gimpfu.CALLS), "base_type": image.base_type,
            "undo_depth": image.undo_depth,
            "layers": [{"name": layer.name, "kind": layer.kind, "offsets": list(layer.offsets),
                        "visible": layer.visible,
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
    params = registered["params"]
    result = {"python": sys.version.split()[0], "registered": registered,
              "main_called": ["main"] in gimpfu.CALLS, "scenarios": {}}
    for scenario in spec["scenarios"]:
        result["scenarios"][scenario["name"]] = run_scenario(gimpfu, function, params, scenario)
    with open(sys.argv[2], "w") as f:
        json.dump(result, f)


main()
