"""Run inside the GUI gimp-3.0 under Xvfb (python-fu-eval): what a person sees and does.

1. Opens the grey photo in a window and calls the filter INTERACTIVE; a helper thread
   photographs the dialog and presses Return (OK), as a person would.
2. Photographs the window with the new layer, saves before/after pixels.
3. Presses Ctrl+Z once in the image window and records the image: one undo must revert the
   whole run (the RGB conversion and the new layer).
Writes <out>/gui.json; the pytest side makes the assertions.
"""

import json
import os
import subprocess
import threading
import time
import traceback

from gi.repository import Gegl, Gimp, Gio

with open("/tmp/e2e/settings.json") as settings:
    S = json.load(settings)
OUT = S["out"]
PROC = Gimp.get_pdb().lookup_procedure("plug-in-colorize-ai")
MAIN = " GIMP$"  # the image window's title ends so
report = {"steps": []}


def note(step, **facts):
    facts["step"] = step
    report["steps"].append(facts)


def window(name, timeout=90):
    """The id of the first visible window whose title matches `name` (polls: CI is slow)."""
    end = time.time() + timeout
    while time.time() < end:
        found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", name],
                               capture_output=True, text=True, timeout=30).stdout.split()
        if found:
            return found[0]
        time.sleep(0.5)
    return None


def shoot(name, title):
    """Photograph one window, as a person would see it."""
    found = window(title)
    path = os.path.join(OUT, name + ".png")
    if found:
        # The pointer to the screen's far corner: a widget under it would show its tooltip.
        subprocess.run(["xdotool", "mousemove", "10000", "10000"], check=False, timeout=30)
        time.sleep(1)  # let it finish drawing
        subprocess.run(["import", "-window", found, path], check=False, timeout=60)
    return os.path.exists(path)


def keys(title, *names):
    """Focus a window (there is no window manager) and type keys into it."""
    found = window(title)
    if found:
        subprocess.run(["xdotool", "windowfocus", "--sync", found, "key", "--clearmodifiers",
                        *names], timeout=30, check=False)
    return found


def wait_until(condition, timeout=30):
    end = time.time() + timeout
    while time.time() < end and not condition():
        time.sleep(0.5)
    return condition()


def state(image):
    return {"base_type": int(image.get_base_type()),
            "layers": [layer.get_name() for layer in image.get_layers()]}


def pixels(drawable):
    rect = Gegl.Rectangle.new(0, 0, drawable.get_width(), drawable.get_height())
    return bytes(drawable.get_buffer().get(rect, 1.0, "R'G'B' u8", Gegl.AbyssPolicy.CLAMP))


def press_ok_on_dialog():
    note("dialog", shot=shoot("dialog", "^Colorize \\(AI\\)$"))
    note("ok", window=keys("^Colorize \\(AI\\)$", "Return"))


try:
    image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(S["gui_photo"]))
    hints = None
    if S.get("gui_hints"):  # colour hints need an RGB image to be painted on
        w, h = image.get_width(), image.get_height()
        hints = Gimp.Layer.new(image, "Colour hints", w, h, Gimp.ImageType.RGBA_IMAGE, 100.0,
                               Gimp.LayerMode.NORMAL)
        image.insert_layer(hints, None, 0)
        with open(S["gui_hints"], "rb") as f:
            hints.get_buffer().set(Gegl.Rectangle.new(0, 0, w, h), "R'G'B'A u8", f.read())
    else:
        image.convert_grayscale()
    image.clean_all()
    Gimp.Display.new(image)
    Gimp.displays_flush()
    note("opened", window=window(MAIN), **state(image))
    source = image.get_layers()[-1]
    with open(os.path.join(OUT, "gui_before.raw"), "wb") as f:
        f.write(pixels(source))

    helper = threading.Thread(target=press_ok_on_dialog)
    helper.start()
    cfg = PROC.create_config()
    cfg.set_property("run-mode", Gimp.RunMode.INTERACTIVE)
    cfg.set_property("image", image)
    cfg.set_core_object_array("drawables", [source])
    result = PROC.run(cfg)
    helper.join()
    Gimp.displays_flush()
    note("colorized", status=result.index(0).value_nick, **state(image))
    if not hints:  # the plug-in's note that it converted the grey image to RGB
        note("message", window=keys("Message$", "Return"))
    with open(os.path.join(OUT, "gui_after.raw"), "wb") as f:
        f.write(pixels(image.get_layers()[1 if hints else 0]))
    note("window", shot=shoot("window", MAIN))
    note("undo", window=keys(MAIN, "ctrl+z"))
    if hints:
        wait_until(lambda: hints.get_visible())
    else:
        wait_until(lambda: image.get_base_type() != Gimp.ImageBaseType.RGB)
    note("undone", **state(image))
except Exception:
    report["exception"] = traceback.format_exc()

with open(os.path.join(OUT, "gui.json"), "w") as f:
    json.dump(report, f, indent=1)
