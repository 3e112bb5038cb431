"""Image preprocessing from a manifest/card `preprocessing` block. numpy + Pillow only (no torch),
so the same code runs on a laptop, a Raspberry Pi and in the parity checks. It follows
torchvision's Resize(int) + CenterCrop semantics on PIL images."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence, Union

import numpy as np

from .errors import DataError, InputError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
_INTERP = {"bilinear": "BILINEAR", "bicubic": "BICUBIC", "nearest": "NEAREST", "lanczos": "LANCZOS"}

ImageLike = Union[str, os.PathLike, "np.ndarray", "PIL.Image.Image"]  # noqa: F821


def _pil():
    from PIL import Image

    return Image


def open_image(path: Union[str, os.PathLike]):
    """Open an image file as RGB; a one-line error if it is not an image."""
    Image = _pil()
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except FileNotFoundError:
        raise InputError(f"image not found: {path}") from None
    except Exception as e:  # PIL raises many kinds for non-images
        raise InputError(f"not a readable image (expected jpg/png/webp/bmp): {path} ({type(e).__name__})") from None


def resize_center_crop(img, resize: int, crop: int, interpolation: str = "bilinear"):
    """Shorter side -> `resize` (aspect kept), then a centered `crop` x `crop` window."""
    Image = _pil()
    try:
        method = getattr(Image.Resampling, _INTERP[interpolation])
    except KeyError:
        raise InputError(f"unknown interpolation {interpolation!r} (expected one of {sorted(_INTERP)})") from None
    w, h = img.size
    if w <= h:
        nw, nh = resize, int(resize * h / w)
    else:
        nw, nh = int(resize * w / h), resize
    if (nw, nh) != (w, h):
        img = img.resize((nw, nh), method)
    left = int(round((nw - crop) / 2.0))
    top = int(round((nh - crop) / 2.0))
    return img.crop((left, top, left + crop, top + crop))


def preprocess(image: ImageLike, spec: dict) -> np.ndarray:
    """One image -> float32 array of shape (1, C, H, W) or (1, H, W, C) per spec["layout"].

    `spec` is a manifest `preprocessing` block (resize, crop, interpolation, mean, std, scale,
    channel_order, layout). An ndarray is taken as an already-decoded HxWx3 uint8 RGB image."""
    Image = _pil()
    if isinstance(image, (str, os.PathLike)):
        img = open_image(image)
    elif isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
            raise InputError(f"an image array must be HxWx3 uint8 RGB, got shape {image.shape} dtype {image.dtype}")
        img = Image.fromarray(image, "RGB")
    elif hasattr(image, "convert"):
        img = image.convert("RGB")
    else:
        raise InputError(f"expected an image path, PIL image or HxWx3 uint8 array, got {type(image).__name__}")
    img = resize_center_crop(img, int(spec["resize"]), int(spec["crop"]), spec.get("interpolation", "bilinear"))
    x = np.asarray(img, dtype=np.float32) * np.float32(spec.get("scale", 1.0 / 255.0))
    if spec.get("channel_order", "RGB").upper() == "BGR":
        x = x[..., ::-1]
    x = (x - np.asarray(spec["mean"], np.float32)) / np.asarray(spec["std"], np.float32)
    if spec.get("layout", "NCHW").upper() == "NCHW":
        x = x.transpose(2, 0, 1)
    return np.ascontiguousarray(x[None], dtype=np.float32)


def list_images(folder: Union[str, os.PathLike], recursive: bool = True) -> list[Path]:
    """Image files under `folder`, sorted for reproducibility."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"not a directory of images: {folder}")
    it: Iterable[Path] = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in it if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def batch(paths: Sequence[Union[str, os.PathLike]], spec: dict) -> np.ndarray:
    """Several images -> one (N, ...) float32 array."""
    return np.concatenate([preprocess(p, spec) for p in paths], axis=0)


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype) -> np.ndarray:
    """Float -> int8/uint8 with a tensor's own scale and zero point (TFLite convention)."""
    info = np.iinfo(dtype)
    q = np.round(x / np.float32(scale)) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return (q.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)
