"""A stand-in for GIMP 2.10's gimpfu (Python 2.7) that records what a plug-in asks of GIMP.

Only what plugin/gimp2/colorize_ai_gimp2.py uses: registration, layers with pixel regions,
the undo group, selection masks, messages and progress. Every call lands in CALLS.
"""

CALLS = []
REGISTERED = {}

PF_IMAGE, PF_DRAWABLE, PF_OPTION, PF_SLIDER, PF_SPINNER, PF_TOGGLE, PF_RADIO, PF_LAYER = range(8)
RGB, GRAY, INDEXED = 0, 1, 2
RGB_IMAGE, RGBA_IMAGE, GRAY_IMAGE, GRAYA_IMAGE, INDEXED_IMAGE, INDEXEDA_IMAGE = range(6)
NORMAL_MODE = 28
ADD_SELECTION_MASK = 4
PRECISION_U8_GAMMA, PRECISION_U16_GAMMA = 150, 250


def record(name, *args):
    CALLS.append([name] + [repr(a) if isinstance(a, (Image, Layer)) else a for a in args])


def register(name, blurb, help_text, author, copyright_, date, label, image_types, params,
             results, function, menu=None):
    REGISTERED.update(name=name, label=label, image_types=image_types, menu=menu,
                      params=[list(p) for p in params], function=function)


def main():
    record("main")


class Region:
    def __init__(self, layer):
        self.layer = layer

    def __getitem__(self, key):
        """region[x0:x1, y0:y1] or region[x0:x1, y], as gimpfu's PixelRgn reads them."""
        record("rgn_get", self.layer.name)
        layer = self.layer
        xs, ys = key
        if not isinstance(ys, slice):
            ys = slice(ys, ys + 1)
        x0, x1 = xs.start or 0, layer.width if xs.stop is None else xs.stop
        y0, y1 = ys.start or 0, layer.height if ys.stop is None else ys.stop
        row = layer.width * layer.bpp
        return b"".join(bytes(layer.pixels[y * row + x0 * layer.bpp:y * row + x1 * layer.bpp])
                        for y in range(y0, y1))

    def __setitem__(self, key, value):
        record("rgn_set", self.layer.name, len(value))
        self.layer.pixels = bytearray(value)


class Mask:
    def __init__(self, kind):
        self.kind = kind


class Layer:
    def __init__(self, image, name, width, height, kind, opacity, mode):
        record("gimp.Layer", name, width, height, kind, opacity, mode)
        self.image, self.name, self.width, self.height, self.kind = image, name, width, height, kind
        self.bpp = {RGB_IMAGE: 3, RGBA_IMAGE: 4, GRAY_IMAGE: 1, GRAYA_IMAGE: 2,
                    INDEXED_IMAGE: 1, INDEXEDA_IMAGE: 2}[kind]
        self.has_alpha = kind in (RGBA_IMAGE, GRAYA_IMAGE, INDEXEDA_IMAGE)
        self.offsets = (0, 0)
        self.parent = None
        self.mask = None
        self.group = False
        self.text = False
        self.visible = True
        self.pixels = bytearray(width * height * self.bpp)

    def __repr__(self):
        return "<Layer " + self.name + ">"

    def get_pixel_rgn(self, x, y, w, h, dirty, shadow):
        record("get_pixel_rgn", self.name, x, y, w, h, dirty, shadow)
        return Region(self)

    def set_offsets(self, x, y):
        record("set_offsets", self.name, x, y)
        self.offsets = (x, y)

    def flush(self):
        record("flush", self.name)

    def merge_shadow(self, undo):
        record("merge_shadow", self.name, undo)

    def update(self, x, y, w, h):
        record("update", self.name, x, y, w, h)

    def create_mask(self, kind):
        record("create_mask", self.name, kind)
        return Mask(kind)

    def add_mask(self, mask):
        record("add_mask", self.name, mask.kind)
        self.mask = mask


class Image:
    def __init__(self, width, height, base_type, precision=PRECISION_U8_GAMMA, colormap=None,
                 selection=None):
        self.width, self.height, self.base_type = width, height, base_type
        self.precision, self.colormap, self.selection = precision, colormap, selection
        self.layers = []
        self.undo_depth = 0

    def __repr__(self):
        return "<Image>"


class _Gimp:
    Layer = Layer

    def message(self, text):
        record("gimp.message", text)

    def progress_init(self, text):
        record("gimp.progress_init", text)

    def progress_update(self, fraction):
        record("gimp.progress_update", round(fraction, 3))

    def displays_flush(self):
        record("gimp.displays_flush")


class _Pdb:
    def gimp_item_is_layer(self, item):
        record("gimp_item_is_layer", item)
        return isinstance(item, Layer)

    def gimp_item_is_group(self, item):
        record("gimp_item_is_group", item)
        return item.group

    def gimp_item_is_text_layer(self, item):
        return item.text

    def gimp_item_set_visible(self, item, visible):
        record("gimp_item_set_visible", item, visible, item.image.undo_depth)
        item.visible = visible

    def gimp_image_get_precision(self, image):
        return image.precision

    def gimp_image_get_colormap(self, image):
        return len(image.colormap), tuple(image.colormap)

    def gimp_selection_is_empty(self, image):
        return image.selection is None

    def gimp_drawable_mask_intersect(self, drawable):
        return (drawable.image.selection is not None, 0, 0, drawable.width, drawable.height)

    def gimp_image_undo_group_start(self, image):
        record("undo_group_start")
        image.undo_depth += 1

    def gimp_image_undo_group_end(self, image):
        record("undo_group_end")
        image.undo_depth -= 1

    def gimp_image_convert_rgb(self, image):
        record("gimp_image_convert_rgb", image.undo_depth)
        image.base_type = RGB

    def gimp_image_get_item_position(self, image, item):
        return image.layers.index(item)

    def gimp_image_insert_layer(self, image, layer, parent, position):
        record("gimp_image_insert_layer", layer, parent, position, image.undo_depth)
        image.layers.insert(position, layer)


gimp = _Gimp()
pdb = _Pdb()
