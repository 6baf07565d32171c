"""The run options, declared once: the CLI's arguments, the worker's checks, the GIMP 3
procedure's arguments and dialog, and the GIMP 2.10 registration are all made from OPTIONS.

Standard library only, and valid Python 2.7 as well as 3 (GIMP 2.10's gimpfu imports it).
Adding an option is one Option(...) here plus the code that uses its value.
"""

from __future__ import absolute_import

INSTALL = "python3 installer.py"  # the set-up command, as messages print it

# Option kinds.
CHOICE, FLOAT, INT, BOOL, IMAGE = "choice", "float", "int", "bool", "image"
# Where a value goes: the session that runs the model, or the colorize pipeline.
SESSION, PIPELINE = "session", "pipeline"


class Option(object):
    """One run option.

    choices: ((value, label, help), ...) for CHOICE. minimum / maximum bound FLOAT and INT.
    An IMAGE option is a picture of the photo's size: a file in the CLI, a buffer beside the
    pixels for the worker, a layer in GIMP; None when not given.
    """

    def __init__(self, name, kind, default, label, help, target=PIPELINE, choices=(),
                 minimum=None, maximum=None, step=None, flag=None, gimp=True):
        self.name = name
        self.kind = kind
        self.default = default
        self.label = label  # with GIMP's mnemonic underscore
        self.help = help
        self.target = target
        self.choices = tuple(choices)
        self.minimum = minimum
        self.maximum = maximum
        self.step = step
        self.flag = flag or "--" + name.replace("_", "-")
        self.gimp = gimp  # offered in the GIMP dialogs

    @property
    def values(self):
        return tuple(c[0] for c in self.choices)

    @property
    def gimp_name(self):
        """GIMP 3 argument names use dashes."""
        return self.name.replace("_", "-")

    @property
    def plain_label(self):
        return self.label.replace("_", "")

    def check(self, value):
        """The value, converted to the option's type; ValueError with one sentence if it is
        not allowed."""
        if self.kind == CHOICE:
            if value not in self.values:
                raise ValueError("%s must be one of %s, not %r." % (
                    self.plain_label, ", ".join(self.values), value))
            return value
        if self.kind == BOOL:
            if not isinstance(value, bool):
                raise ValueError("%s must be true or false." % self.plain_label)
            return value
        if self.kind in (FLOAT, INT):
            if isinstance(value, bool):
                raise ValueError("%s must be a number." % self.plain_label)
            try:
                number = float(value) if self.kind == FLOAT else _integer(value)
            except (TypeError, ValueError):
                raise ValueError("%s must be %s." % (
                    self.plain_label, "a number" if self.kind == FLOAT else "a whole number"))
            if not self.minimum <= number <= self.maximum:
                raise ValueError("%s must be between %g and %g, not %g." % (
                    self.plain_label, self.minimum, self.maximum, number))
            return number
        raise ValueError("%s is not a value option." % self.plain_label)


def _integer(value):
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(value)
    return int(value)


OPTIONS = (
    Option("device", CHOICE, "auto", "_Device", "Where the model runs", target=SESSION,
           choices=(("auto", "Automatic (CUDA when it works, else CPU)",
                     "CUDA when it really starts, else the CPU"),
                    ("cuda", "CUDA (NVIDIA GPU)", "The NVIDIA GPU, through CUDA"),
                    ("cpu", "CPU", "The processor"))),
    Option("strict_device", BOOL, False, "_Strict device",
           "fail instead of falling back to the CPU when CUDA does not start", target=SESSION,
           gimp=False),
    Option("variant", CHOICE, "auto", "_Precision", "Exact model or its faster copy",
           target=SESSION,
           choices=(("auto", "Automatic (the fast copy where it is as good)",
                     "The model's int8 (CPU) or fp16 (GPU) copy when its measured colour "
                     "difference is small, else the exact model"),
                    ("exact", "Exact", "The model itself, in float32"),
                    ("fast", "Fast", "The model's int8 (CPU) or fp16 (GPU) copy, if one is "
                                     "installed"))),
    Option("threads", INT, 0, "CPU _threads",
           "CPU threads for the model (0: ONNX Runtime's choice; at most 4 per core)",
           target=SESSION, minimum=0, maximum=1024, step=1, gimp=False),
    Option("hints", IMAGE, None, "_Hints layer",
           "Colour hints: a transparent layer (or RGBA image of the photo's size) with dots or "
           "strokes of the wanted colours; their hue and saturation count, not their lightness"),
    Option("strength", FLOAT, 1.0, "Stre_ngth",
           "Colour strength: 0 grey, 1 the model's colours, 2 double", minimum=0.0,
           maximum=2.0, step=0.05),
    Option("render_size", INT, 0, "Render si_ze",
           "Side of the image the model sees, in pixels (0: the model's own size; at most 4 "
           "times it)", minimum=0, maximum=4096, step=8),
    Option("fit", CHOICE, "keep-aspect", "_Fit", "How a non-square photo is fed to the model",
           choices=(("keep-aspect", "Keep the aspect ratio",
                     "The photo's long side at the render size, its proportions kept"),
                    ("stretch", "Stretch to a square",
                     "Squashed into a square, as the reference pipelines do")), gimp=False),
    Option("interpolation", CHOICE, "edge-aware", "_Interpolation",
           "How the predicted colour is enlarged to the photo",
           choices=(("edge-aware", "Edge-aware (colour follows the photo's edges)",
                     "Guided by the photo's own lightness, so that colour does not bleed "
                     "across its edges (measured: docs/EVALUATION.md)"),
                    ("bilinear", "Bilinear", "Smooth colour, the reference pipelines' choice"),
                    ("bicubic", "Bicubic", "Slightly sharper colour transitions"))),
)
BY_NAME = dict((o.name, o) for o in OPTIONS)


def defaults(target=None):
    """{name: default} of the options (of one target)."""
    return dict((o.name, o.default) for o in OPTIONS if target in (None, o.target))


def check_values(values):
    """Checked and converted values of a {name: value} mapping of value options (not IMAGE);
    ValueError naming the first problem."""
    unknown = sorted(n for n in values if n not in BY_NAME or BY_NAME[n].kind == IMAGE)
    if unknown:
        raise ValueError("Unknown option(s): %s." % ", ".join(unknown))
    return dict((n, BY_NAME[n].check(v)) for n, v in values.items())


def split(values):
    """(session values, pipeline values) of a {name: value} mapping."""
    session = dict((n, v) for n, v in values.items() if BY_NAME[n].target == SESSION)
    return session, dict((n, v) for n, v in values.items() if BY_NAME[n].target == PIPELINE)
