"""colorize-ai: colorize photo files from the command line."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import __version__
from .errors import (
    BadInput,
    BadRequest,
    ColorizeError,
    ModelUnknown,
    OutOfMemory,
    OutputError,
    is_out_of_memory,
)
from .imagefile import (
    EXTENSIONS,
    FORMATS,
    MAX_MEGAPIXELS,
    Photo,
    fit_to_format,
    read_photo,
    write_photo,
)
from .logs import log_to_file
from .model import Model, load_model
from .options import BOOL, CHOICE, IMAGE, INSTALL, OPTIONS, PIPELINE, SESSION, Option
from .pipeline import colorize
from .registry import Catalogue, ModelSpec
from .session import describe_device, max_threads

log = logging.getLogger("colorize_ai.cli")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C
MEMORY_ADVICE = ("use --max-megapixels to skip such photos, close other programs, or try "
                 "--device cpu if the GPU ran out")


def _checked(option: Option):
    """argparse type for a FLOAT or INT option: the table's own check."""
    def convert(text: str):
        try:
            return option.check(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    convert.__name__ = option.kind  # argparse names the type in its messages
    return convert


def _add_option(p: argparse.ArgumentParser, option: Option) -> None:
    if option.kind == IMAGE:
        p.add_argument(option.flag, type=Path, metavar="FILE",
                       help=f"{option.help} (one photo; PNG, TIFF or WebP with alpha)")
        p.add_argument(f"{option.flag}-dir", type=Path, metavar="DIR",
                       help=f"a folder of {option.name} images paired with the inputs by name "
                            "(photo.jpg takes photo.png)")
    elif option.kind == BOOL:
        p.add_argument(option.flag, action="store_true", help=option.help)
    elif option.kind == CHOICE:
        p.add_argument(option.flag, choices=option.values, default=option.default,
                       help=f"{option.help} (default: {option.default})")
    else:
        p.add_argument(option.flag, type=_checked(option), default=option.default,
                       metavar=option.name.upper(),
                       help=f"{option.help}; {option.minimum:g} to {option.maximum:g} "
                            f"(default: {option.default:g})")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="colorize-ai",
        description="Colorize black-and-white photos with deep-learning models. Each result is "
                    "written as <name>_<model id>.png (with colour hints "
                    "<name>_<model id>_hints.png); inputs are never modified.")
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="image files or folders of images")
    p.add_argument("-o", "--output", type=Path, metavar="DIR",
                   help="folder for the results (default: next to each input)")
    p.add_argument("-r", "--recursive", action="store_true",
                   help="also colorize the images in subfolders (results mirrored under -o)")
    p.add_argument("-m", "--model", metavar="ID",
                   help="model id (see --list-models; default: the default installed model, or "
                        "with hints the default hint model)")
    p.add_argument("--all-models", action="store_true",
                   help="one result per installed model, for side-by-side comparison")
    for option in OPTIONS:
        _add_option(p, option)
    p.add_argument("--format", choices=tuple(FORMATS), default="png",
                   help="output file format (default: png; 16-bit inputs stay 16-bit in png/tif)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing results (default: skip them)")
    p.add_argument("--max-megapixels", type=float, default=MAX_MEGAPIXELS,
                   help=f"refuse larger images (default: {MAX_MEGAPIXELS:g})")
    p.add_argument("--list-models", action="store_true", help="list the models and exit")
    p.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def _values(args: argparse.Namespace, target: str) -> dict:
    """The value options of one target (session or pipeline) as given on the command line."""
    return {o.name: getattr(args, o.name) for o in OPTIONS
            if o.target == target and o.kind != IMAGE}


def list_models_table(device: str, catalogue: Catalogue | None = None) -> str:
    catalogue = catalogue or Catalogue.read()
    specs = catalogue.models()
    fast = [v for v in catalogue.models(variants=True) if v.variant_of and v.installed]
    provider = describe_device(device)
    rows = [("ID", "NAME", "INSTALLED", "SIZE", "LICENCE", "RUNS ON")]
    for s in specs:
        size = f"{s.size_bytes / 1e6:.1f} MB" if s.size_bytes else "-"
        installed = ("yes (default)" if s.default else "yes") if s.installed else "no"
        rows.append((s.id, s.name, installed, size, s.license or "-",
                     provider if s.installed else f"install: {s.install}"))
        for v in (v for v in fast if v.variant_of == s.id):
            measured = (f"mean ΔE00 {v.fidelity['mean_de00']:.2f}, p99 "
                        f"{v.fidelity['p99_de00']:.2f}" if v.fidelity else "fidelity unmeasured")
            auto = "used by auto" if v.faithful else "--variant fast only"
            rows.append((f"  {v.id}", f"fast variant: {v.precision}", "yes",
                         f"{v.size_bytes / 1e6:.1f} MB" if v.size_bytes else "-",
                         v.license or "-", f"{v.device.upper() if v.device else '-'}; "
                                           f"{measured}; {auto}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:-1], widths)) + "  " + r[-1] for r in rows]
    if len(specs) == 0:
        lines.append(f"(no models found; run `{INSTALL}`)")
    return "\n".join(lines)


@dataclass
class Job:
    source: Path
    error: str | None = None
    relative: Path = Path()  # its folder under the INPUT folder, mirrored under -o
    stem: str = ""  # its results' name before _<model id>, when not the source's own stem


HINTED = "_hints"  # after the model id in a result made with colour hints


def _is_result(path: Path, model_ids: set[str]) -> bool:
    return any(path.stem.endswith((f"_{i}", f"_{i}{HINTED}")) for i in model_ids)


def _scan(folder: Path, relative: Path, model_ids: set[str], recursive: bool,
          skip: Path | None, jobs: list[Job]) -> tuple[int, int]:
    """Add the images of `folder` (and with `recursive` of its subfolders) to `jobs`: the
    number of images found and of subfolders left out."""
    try:
        entries = sorted(folder.iterdir())
        subfolders = [e for e in entries if e.is_dir() and not e.name.startswith(".")]
        files = [f for f in entries if f.suffix.lower() in EXTENSIONS and f.is_file()
                 and not _is_result(f, model_ids)]
    except OSError as exc:
        jobs.append(Job(folder, f"cannot list the folder ({exc.strerror})"))
        return 0, 0
    jobs.extend(Job(f, relative=relative) for f in files)
    if not recursive:
        return len(files), len(subfolders)
    found = len(files)
    for sub in subfolders:
        if sub.is_symlink() or (skip is not None and sub.resolve() == skip):
            continue  # no loops through links; never our own output folder
        found += _scan(sub, relative / sub.name, model_ids, recursive, skip, jobs)[0]
    return found, 0


def collect_inputs(inputs: list[str], model_ids: set[str], recursive: bool = False,
                   out_dir: Path | None = None) -> tuple[list[Job], list[str]]:
    """Files to colorize, each once; folders expand to their images (not our own earlier
    results), with `recursive` those of their subfolders too. Also notes for the user."""
    jobs: list[Job] = []
    notes: list[str] = []
    skip = out_dir.resolve() if out_dir is not None else None
    for text in inputs:
        path = Path(text)
        if path.is_dir():
            found, skipped = _scan(path, Path(), model_ids, recursive, skip, jobs)
            hint = (f"{skipped} subfolder(s) skipped; use --recursive to include them"
                    if skipped else "")
            if not found:
                jobs.append(Job(path, "the folder has no images" + (f" ({hint})" if hint
                                                                     else "")))
            elif hint:
                notes.append(f"{path}: {hint}")
        elif path.exists():
            jobs.append(Job(path))
        else:
            jobs.append(Job(path, "no such file or folder"))
    seen: set[Path] = set()
    unique = []
    for job in jobs:  # a file named twice (or also through its folder) runs once
        key = job.source.resolve()
        if job.error or key not in seen:
            unique.append(job)
            seen.add(key)
    return unique, notes + _name_results(unique, out_dir)


def _name_results(jobs: list[Job], out_dir: Path | None) -> list[str]:
    """Give inputs whose results would share a name (photo.bmp and photo.webp, or two
    photo.png into one -o) distinct ones: the source's extension kept, else a number."""
    def folder(job: Job) -> Path:
        return ((out_dir / job.relative) if out_dir else job.source.parent).resolve()

    def key(job: Job, stem: str) -> tuple[Path, str]:
        return folder(job), stem.casefold()

    todo = [j for j in jobs if not j.error]
    counts: dict[tuple[Path, str], int] = {}
    for job in todo:
        counts[key(job, job.source.stem)] = counts.get(key(job, job.source.stem), 0) + 1
    taken: set[tuple[Path, str]] = set()
    notes = []
    for job in todo:
        base = job.source.stem if counts[key(job, job.source.stem)] == 1 else job.source.name
        stem, n = base, 1
        while key(job, stem) in taken:
            n += 1
            stem = f"{base}-{n}"
        taken.add(key(job, stem))
        if stem != job.source.stem:
            job.stem = stem
            notes.append(f"{job.source}: another input has the same name; its results are "
                         f"named {stem}_<model>")
    return notes


class Bar:
    """A one-line progress bar on a terminal; plain lines elsewhere."""

    def __init__(self, total: int, quiet: bool) -> None:
        self.total, self.done, self.quiet = total, 0, quiet
        self.tty = sys.stderr.isatty() and not quiet

    def _draw(self, label: str) -> None:
        if self.tty:
            filled = int(30 * self.done / max(1, self.total))
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total} "
                             f"{label[-40:]:<40}")
            sys.stderr.flush()

    def start(self, label: str) -> None:
        self._draw(label)

    def say(self, line: str, error: bool = False) -> None:
        if self.quiet and not error:
            return
        if self.tty:
            sys.stderr.write("\r" + " " * 80 + "\r")
        print(line, file=sys.stderr if error else sys.stdout, flush=True)

    def step(self) -> None:
        self.done += 1
        self._draw("")

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\r" + " " * 80 + "\r")


def _output_path(job: Job, out_dir: Path | None, model_id: str, fmt: str,
                 hinted: bool = False) -> Path:
    """Where a result goes; one made with hints is named apart, so that the editor can keep
    it beside the automatic one in the same folder and compare."""
    folder = out_dir / job.relative if out_dir else job.source.parent
    tail = HINTED if hinted else ""
    return folder / f"{job.stem or job.source.stem}_{model_id}{tail}{FORMATS[fmt]}"


def _colorize_file(job: Job, models: list[Model], args: argparse.Namespace, bar: Bar) -> bool:
    photo: Photo | None = None
    hints: np.ndarray | None = None
    ok = True
    said: set[str] = set()  # format notes, once per input
    hints_path = _hints_file(job.source, args)
    for model in models:
        target = _output_path(job, args.output, model.spec.base_id, args.format,
                              hints_path is not None)
        if target.exists() and not args.overwrite:
            bar.say(f"skipped: {target} exists (use --overwrite to replace it)")
            continue
        if target.exists() and target.resolve() in args.sources | {job.source.resolve()}:
            bar.say(f"error: {job.source}: the result would replace the input {target}",
                    error=True)
            ok = False
            continue
        if photo is None:
            photo = read_photo(job.source, args.max_megapixels)
            for note in photo.notes:
                bar.say(f"warning: {job.source}: {note}", error=True)
            hints = _read_hints(job.source, hints_path, args, bar)
        start = time.perf_counter()
        pixels = colorize(photo.pixels, model, hints=hints, **_values(args, PIPELINE))
        result, notes = fit_to_format(Photo(pixels, photo.exif, photo.icc), target.suffix)
        del pixels  # `result` holds them, and the writer lets them go
        if model is models[-1]:
            photo = None  # the input's pixels are not needed to write: free them first
        for note in (n for n in notes if n not in said):
            said.add(note)
            bar.say(f"warning: {job.source}: {note}", error=True)
        try:
            _make_folder(target.parent)
            write_photo(target, result, overwrite=args.overwrite, consume=True)
        except FileExistsError:
            bar.say(f"skipped: {target} exists (use --overwrite to replace it)")
            continue
        precision = f" {model.spec.precision}" if model.spec.is_variant else ""
        bar.say(f"{job.source} -> {target} ({model.spec.base_id}{precision}, {model.provider}, "
                f"{time.perf_counter() - start:.1f} s)")
    return ok


HINT_SUFFIXES = (".png", ".tif", ".tiff", ".webp")


def _hints_file(source: Path, args: argparse.Namespace) -> Path | None:
    if args.hints is not None:
        return args.hints
    if args.hints_dir is None:
        return None
    return next((args.hints_dir / f"{source.stem}{s}" for s in HINT_SUFFIXES
                 if (args.hints_dir / f"{source.stem}{s}").is_file()), None)


def _read_hints(source: Path, path: Path | None, args: argparse.Namespace, bar: Bar
                ) -> np.ndarray | None:
    """The hints image at `path` (_hints_file's for `source`); None when it has none."""
    if path is None:
        if args.hints_dir is not None:
            bar.say(f"note: no hints for {source} in {args.hints_dir}; colorizing without")
        return None
    try:
        return read_photo(path, args.max_megapixels).pixels
    except BadInput as exc:
        raise BadInput(f"the hints image {path}: {exc}") from None


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {folder} ({exc.strerror})") from None


def _check_output_folder(parser: argparse.ArgumentParser, out_dir: Path | None) -> None:
    """-o names a folder: refuse a file, or a new name that looks like an image file's."""
    if out_dir is None:
        return
    if out_dir.exists() and not out_dir.is_dir():
        parser.error(f"-o takes a folder for the results, and {out_dir} is a file")
    if not out_dir.exists() and out_dir.suffix.lower() in EXTENSIONS:
        parser.error(f"-o takes a folder for the results, not a file name ({out_dir}); results "
                     "are named <input>_<model id>.<format>")


def _stop_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so that half-written files are removed."""
    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted(128 + signum)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM; `code` is the exit status (128 + the signal)."""

    def __init__(self, code: int = EXIT_INTERRUPTED) -> None:
        super().__init__(code)
        self.code = code


def _pick_models(args: argparse.Namespace, catalogue: Catalogue) -> list[ModelSpec]:
    if args.all_models:
        specs = [s for s in catalogue.models() if s.installed]
        if not specs:
            catalogue.spec(None)  # raises the "no model is installed" error
        return specs
    hints = args.hints is not None or args.hints_dir is not None
    return [catalogue.spec(args.model, hints=hints and not args.model)]


def _check_usage(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Usage errors (exit 2) that argparse cannot see by itself."""
    if not args.inputs:
        parser.error("give at least one INPUT file or folder (or --list-models)")
    if args.model and args.all_models:
        parser.error("--model and --all-models cannot be used together")
    if args.hints is not None:
        if args.hints_dir is not None:
            parser.error("--hints and --hints-dir cannot be used together")
        if len(args.inputs) != 1 or Path(args.inputs[0]).is_dir():
            parser.error("--hints goes with one photo; for a folder use --hints-dir")
        if not args.hints.is_file():
            parser.error(f"the hints image {args.hints} does not exist")
    if args.hints_dir is not None and not args.hints_dir.is_dir():
        parser.error(f"the hints folder {args.hints_dir} does not exist")
    if args.threads > max_threads():
        parser.error(f"--threads {args.threads} is more than this machine can use (at most "
                     f"{max_threads()})")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logfile = log_to_file("cli")
    _stop_on_sigterm()

    try:
        catalogue = Catalogue.read()  # every manifest, read once for the whole run
        for _, problem in catalogue.problems:  # the other models stay usable
            print(f"warning: {problem}", file=sys.stderr)
        if args.list_models:
            print(list_models_table(args.device, catalogue))
            return EXIT_OK
        _check_usage(args, parser)
        _check_output_folder(parser, args.output)
        if args.output is not None and not args.output.is_dir():
            try:
                args.output.mkdir(parents=True)
            except OSError as exc:
                print(f"error: cannot create the output folder {args.output} "
                      f"({exc.strerror})", file=sys.stderr)
                return EXIT_FAILED
        specs = _pick_models(args, catalogue)
        session = _values(args, SESSION)
        session["threads"] = session["threads"] or None
        models = [load_model(s, catalogue=catalogue, **session) for s in specs]
        for model in models:
            model.input_dims(1, 1, args.render_size)  # a render size it cannot take: exit 2
    except (ModelUnknown, BadRequest) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ColorizeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt as exc:
        print("interrupted", file=sys.stderr)
        return getattr(exc, "code", EXIT_INTERRUPTED)
    for model in models:
        if model.info.warning:
            print(f"warning: {model.info.warning}", file=sys.stderr)

    jobs, notes = collect_inputs(args.inputs, {s.id for s in catalogue.models()}, args.recursive,
                                 args.output)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    args.sources = {j.source.resolve() for j in jobs if not j.error}  # never overwritten
    bar = Bar(len(jobs), args.quiet)
    failed = 0
    for job in jobs:
        bar.start(job.source.name)
        try:
            if job.error:
                raise BadInput(job.error)
            if not _colorize_file(job, models, args, bar):
                failed += 1
        except ColorizeError as exc:
            failed += 1
            bar.say(f"error: {job.source}: {exc}", error=True)
        except KeyboardInterrupt as exc:  # write_photo has removed its partial file
            bar.close()
            print("interrupted", file=sys.stderr)
            return getattr(exc, "code", EXIT_INTERRUPTED)
        except Exception as exc:
            failed += 1
            if is_out_of_memory(exc):  # numpy, OpenCV or ONNX Runtime, each in its words
                log.debug("out of memory on %s", job.source, exc_info=True)
                bar.say(f"error: {job.source}: {OutOfMemory(MEMORY_ADVICE)}", error=True)
            elif isinstance(exc, OSError):
                bar.say(f"error: {job.source}: {exc.strerror or exc}", error=True)
            else:  # a bug: one line here, the traceback in the log
                log.debug("unexpected failure on %s", job.source, exc_info=True)
                where = f"; details in {logfile}" if logfile else ""
                bar.say(f"error: {job.source}: internal error ({type(exc).__name__}: {exc})"
                        f"{where}", error=True)
        bar.step()
    bar.close()
    if failed and not args.quiet:
        print(f"{failed} of {len(jobs)} input(s) failed", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
