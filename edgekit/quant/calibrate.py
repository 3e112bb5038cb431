"""Static int8 PT2E: capture, annotate (annotate.py), calibrate on real images, round the weights
(rounding.py: GPTQ; or nearest with bias.py's correction), convert. `quantize()` is the whole
recipe without the accuracy guard (guard.py adds it).

`calib` is a float32 array (N, C, H, W) preprocessed like the model's card (edgekit.preprocess.batch)
or an iterable of such batches. The example input fixes the batch size of the capture (use 1);
calibration is fed in chunks of that size. int8 without calibration data raises ExportError."""
from __future__ import annotations

import numpy as np

from ..errors import ExportError, UnknownNameError
from ..progress import stage
from .annotate import make_quantizer
from .backends import get_backend
from .bias import INFO_KEY as BIAS_INFO_KEY, correct_biases
from .graph import capture_graph, quantizable_layers
from .recipe import QuantRecipe, QuantResult
from .rounding import INFO_KEY as ROUNDING_INFO_KEY, round_weights

BIAS_CORRECTION_IMAGES = 32  # calibration images whose layer-input means drive the bias correction
ROUNDING_IMAGES = 64  # calibration images whose layer inputs drive the gptq rounding
FLOAT_OUTPUT_KEY = "edgekit_float_output_layers"  # prepared.meta: the output layers left writing float
FLOAT_POOL_KEY = "edgekit_float_output_pooling"  # prepared.meta: the output pooling left in float


def iter_batches(calib, batch_size: int = 8):
    """Yield float32 torch tensors (B, ...) from an array or an iterable of batches."""
    import torch

    if calib is None:
        raise ExportError("int8 needs calibration images (--calib DIR); none were given")
    if isinstance(calib, (np.ndarray, torch.Tensor)):
        arr = calib
        if arr.ndim != 4 or len(arr) == 0:
            raise ExportError(f"calibration data must be a non-empty (N, C, H, W) float array, got shape {tuple(arr.shape)}")
        for i in range(0, len(arr), batch_size):
            b = arr[i : i + batch_size]
            yield torch.as_tensor(np.asarray(b, np.float32) if isinstance(b, np.ndarray) else b.float())
        return
    n = 0
    for b in calib:
        b = torch.as_tensor(np.asarray(b, np.float32)) if isinstance(b, np.ndarray) else b
        if isinstance(b, (tuple, list)):
            b = b[0]
        if b.ndim == 3:
            b = b[None]
        n += 1
        yield b.float()
    if n == 0:
        raise ExportError("calibration data is empty: expected at least one image batch")


def prepare_calibrated(module, example_inputs: tuple, calib, recipe: QuantRecipe, batch_size: int = 8,
                       captured=None):
    """Capture, annotate and calibrate: returns (prepared fx module with observers, quantizer,
    number of calibration images). `convert(prepared, recipe)` turns it into the quantized module.
    With rounding "gptq" the int8 weights are rounded to minimise each layer's output error
    (rounding.py, on the first ROUNDING_IMAGES calibration images; with bias_correction the
    biases absorb what is left); with "nearest" and bias_correction the weights' rounding bias
    moves into the float biases (bias.py). What they did is in prepared.meta under their INFO_KEYs."""
    import torch
    from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e

    if recipe.scheme != "static":
        raise ExportError(f"PT2E calibration is for static int8, not {recipe.scheme}")
    gm = captured if captured is not None else capture_graph(module, example_inputs)
    known = quantizable_layers(gm)
    bad = [l for l in recipe.float_layers if not any(k == l or k.startswith(l + ".") for k in known)]
    if bad:
        raise UnknownNameError("layer", bad[0], known)
    quantizer = make_quantizer(recipe)
    prepared = prepare_pt2e(gm, quantizer)
    prepared.meta[FLOAT_OUTPUT_KEY] = list(quantizer.float_output_layers)
    prepared.meta[FLOAT_POOL_KEY] = list(quantizer.float_output_pooling)
    # the captured graph is specialised to the example batch size: feed calibration in chunks of it
    eb = int(example_inputs[0].shape[0])
    n, kept = 0, []
    total = len(calib) if isinstance(calib, np.ndarray) else None
    with torch.no_grad():
        for b in iter_batches(calib, batch_size):
            for i in range(0, int(b.shape[0]) - eb + 1, eb):
                stage("calibrate", n, total)
                prepared(b[i : i + eb])
                n += eb
                if n <= max(BIAS_CORRECTION_IMAGES, ROUNDING_IMAGES):
                    kept.append(b[i : i + eb].numpy())
    if n == 0:
        raise ExportError(f"calibration data has fewer images than the example batch ({eb})")
    kept = np.concatenate(kept)
    stage("round weights" if recipe.rounding == "gptq" else "calibrate", None, None)
    if recipe.rounding == "gptq":
        round_weights(prepared, kept[:ROUNDING_IMAGES], batch=eb, free_bias=recipe.bias_correction)
    elif recipe.bias_correction:
        correct_biases(prepared, kept[:BIAS_CORRECTION_IMAGES], batch=eb)
    return prepared, quantizer, n


def convert(prepared, recipe_or_backend, fold: bool = None):
    """convert_pt2e as the backend wants it (LiteRT folds weight q/dq itself). fold=False gives
    the editable fake-quant module (every quantize/dequantize pair runs in float)."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    name = recipe_or_backend.backend if isinstance(recipe_or_backend, QuantRecipe) else recipe_or_backend
    if fold is None:
        fold = get_backend(name).fold_quantize
    return convert_pt2e(prepared, fold_quantize=fold)


def edit_details(prepared) -> dict:
    """What bias correction and weight rounding did to `prepared` (None where they did not run)."""
    return {"bias_correction": prepared.meta.get(BIAS_INFO_KEY),
            "weight_rounding": prepared.meta.get(ROUNDING_INFO_KEY)}


def quantize(module, example_inputs: tuple, calib, recipe: QuantRecipe = QuantRecipe(), batch_size: int = 8,
             captured=None) -> QuantResult:
    """Static int8 PT2E quantization of `module` by `recipe`, without the accuracy guard."""
    prepared, quantizer, n = prepare_calibrated(module, example_inputs, calib, recipe, batch_size, captured)
    details = {"calibration_images": n, "observer": recipe.observer, "fuse_clamp": recipe.fuse_clamp,
               **edit_details(prepared)}
    return QuantResult(module=convert(prepared, recipe), recipe=recipe, quantizer=quantizer,
                       float_output_layers=tuple(prepared.meta[FLOAT_OUTPUT_KEY]),
                       float_output_pooling=tuple(prepared.meta[FLOAT_POOL_KEY]), details=details)
