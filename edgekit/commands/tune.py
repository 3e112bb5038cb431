"""`edgekit tune ARTIFACT --data DIR --out NEW`: retrain the head of a --trainable-head artifact on
one subfolder per class, in the artifact's own runtime (see edgekit.tune)."""
from __future__ import annotations

from . import verbose_option


def register(sub) -> None:
    p = sub.add_parser("tune", help="retrain the classifier head on your own classes (needs --trainable-head export)",
                       description="Retrain the classifier head of an artifact exported with --trainable-head on DIR "
                                   "(one subfolder of images per class), in the artifact's own runtime, and write a new "
                                   "artifact (backbone + new head + new labels). The source artifact is not modified.")
    p.add_argument("artifact", help="a .pte / .tflite / .mlpackage exported with --trainable-head (or a tuned artifact)")
    p.add_argument("--data", required=True, metavar="DIR", help="folder with one subfolder of images per class")
    p.add_argument("--out", required=True, metavar="NEW", help="new artifact path (same suffix) or a folder")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--lr", type=float, default=0.05, help="SGD learning rate (default 0.05)")
    p.add_argument("--batch-size", type=int, default=None, help="default: the training program's batch (32)")
    p.add_argument("--val-split", type=float, default=0.2, help="held-out fraction per class (default 0.2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--cache-dir", default=None, help="embedding cache (default ~/.cache/edgekit/embeddings)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the tuning record as one JSON document on stdout "
                                                       "(the per-epoch lines go to stderr)")
    verbose_option(p)
    p.set_defaults(func=run)


def run(args) -> int:
    import json

    from ..converter_log import quiet
    from ..tune import tune

    with quiet(getattr(args, "verbose", False), "edgekit-tune-") as clog:  # the runtime's own lines go to a log
        lines = clog.terminal if args.json else clog.stdout
        res = tune(args.artifact, args.data, args.out, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                   val_split=args.val_split, seed=args.seed, momentum=args.momentum, weight_decay=args.weight_decay,
                   threads=args.threads, cache_dir=args.cache_dir, progress=not args.no_progress,
                   log=lambda s: print(s, file=lines, flush=True))
    if args.json:
        print(json.dumps({"artifact": str(res.path), "record": res.record}, indent=2, default=str))
        return 0
    before, after = res.record["before"], res.record["after"]
    if after["n"]:
        print(f"held-out accuracy {before['val_accuracy']:.3f} -> {after['val_accuracy']:.3f} "
              f"({after['n']} images); new artifact: {res.path}")
    else:
        print(f"new artifact: {res.path} (no held-out split)")
    return 0
