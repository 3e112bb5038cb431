"""`edgekit predict ARTIFACT IMAGE... [-k 5] [--threads N] [--json]`: top-k classes of images
(files or folders of images) with the artifact's own runtime, preprocessing and labels."""
from __future__ import annotations

import json

from . import verbose_option


def register(sub) -> None:
    p = sub.add_parser("predict", help="classify images with an exported model",
                       description="Top-k classes of images, using the artifact's manifest for preprocessing and labels.")
    p.add_argument("artifact", help=".pte, .tflite, .onnx or .mlpackage (macOS)")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files or folders of images")
    p.add_argument("-k", "--top-k", dest="k", type=int, default=5, help="classes per image (default 5)")
    p.add_argument("--threads", type=int, default=None, help="runtime threads (default: the runtime's choice)")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout and nothing else")
    verbose_option(p)
    p.set_defaults(func=run)


def run(args) -> int:
    import time
    from pathlib import Path

    from ..errors import InputError
    from ..preprocess import list_images
    from ..runtimes import load

    if args.k < 1:
        raise InputError(f"-k must be at least 1, got {args.k}")
    paths = []
    for item in args.images:
        p = Path(item)
        if p.is_dir():
            found = list_images(p)
            if not found:
                raise InputError(f"no images (jpg/png/webp/bmp) in {p}")
            paths.extend(found)
        elif p.is_file():
            paths.append(p)
        else:
            raise InputError(f"image not found: {p}")
    import sys
    import warnings

    from ..converter_log import quiet

    results = []
    with quiet(getattr(args, "verbose", False), "edgekit-predict-") as clog:  # the runtime's own lines go to a log
        t0 = time.perf_counter()
        model = load(args.artifact, threads=args.threads)
        load_s = time.perf_counter() - t0
        for p in paths:
            t = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                top = model.predict(p, k=args.k)
            for w in caught if not results else ():
                print(f"edgekit: warning: {w.message}", file=clog.terminal)
            results.append({"image": str(p), "ms": (time.perf_counter() - t) * 1000,
                            "top_k": [{"index": i, "label": lab, "score": s} for i, lab, s in top]})
    if args.json:
        print(json.dumps({"artifact": str(args.artifact), "runtime": model.runtime_name,
                          "runtime_version": model.runtime_version, "threads": model.threads,
                          "load_seconds": load_s, "results": results}, indent=2))
        return 0
    for r in results:
        print(f"{r['image']}  ({r['ms']:.1f} ms)")
        for rank, t in enumerate(r["top_k"], 1):
            print(f"  {rank}. {t['score']:.4f}  {t['index']:>4}  {t['label']}")
    return 0
