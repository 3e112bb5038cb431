package dev.edgekit.demo.core

/** A decoded image: width x height pixels, RGB bytes interleaved row by row. */
class RgbImage(val width: Int, val height: Int, val pixels: ByteArray) {
    init {
        if (pixels.size != width * height * 3) throw IllegalArgumentException("RgbImage needs ${width * height * 3} bytes, got ${pixels.size}")
    }

    fun copy() = RgbImage(width, height, pixels.copyOf())

    /** Pixel (x, y) channel c as 0..255. */
    fun at(x: Int, y: Int, c: Int): Int = pixels[(y * width + x) * 3 + c].toInt() and 0xFF

    companion object {
        /** From packed ARGB ints (Android Bitmap.getPixels, java.awt BufferedImage.getRGB). */
        fun fromArgb(width: Int, height: Int, argb: IntArray): RgbImage {
            val px = ByteArray(width * height * 3)
            for (i in 0 until width * height) {
                val v = argb[i]
                px[i * 3] = (v shr 16).toByte()
                px[i * 3 + 1] = (v shr 8).toByte()
                px[i * 3 + 2] = v.toByte()
            }
            return RgbImage(width, height, px)
        }

        /**
         * From an RGBA_8888 buffer as CameraX's ImageAnalysis delivers it (rowStride bytes per row,
         * 4 bytes per pixel), rotated clockwise by `rotationDegrees` (0, 90, 180, 270) so the image
         * is upright as the user sees it.
         */
        fun fromRgba(width: Int, height: Int, rgba: ByteArray, rowStride: Int, rotationDegrees: Int): RgbImage {
            val px = ByteArray(width * height * 3)
            for (y in 0 until height) {
                var s = y * rowStride
                var d = y * width * 3
                for (x in 0 until width) {
                    px[d] = rgba[s]; px[d + 1] = rgba[s + 1]; px[d + 2] = rgba[s + 2]
                    s += 4; d += 3
                }
            }
            return rotate(RgbImage(width, height, px), rotationDegrees)
        }

        fun rotate(img: RgbImage, degrees: Int): RgbImage {
            val d = ((degrees % 360) + 360) % 360
            if (d == 0) return img
            if (d != 90 && d != 180 && d != 270) throw IllegalArgumentException("rotation must be a multiple of 90, got $degrees")
            val w = img.width
            val h = img.height
            val ow = if (d == 180) w else h
            val oh = if (d == 180) h else w
            val out = ByteArray(w * h * 3)
            for (y in 0 until h) for (x in 0 until w) {
                val nx: Int
                val ny: Int
                when (d) {
                    90 -> { nx = h - 1 - y; ny = x }
                    180 -> { nx = w - 1 - x; ny = h - 1 - y }
                    else -> { nx = y; ny = w - 1 - x }
                }
                System.arraycopy(img.pixels, (y * w + x) * 3, out, (ny * ow + nx) * 3, 3)
            }
            return RgbImage(ow, oh, out)
        }
    }
}

/** The model input: float32 values, or int8/uint8 values (stored in a ByteArray) for quantized inputs. */
class InputTensor(val shape: IntArray, val dtype: String, val floats: FloatArray?, val bytes: ByteArray?) {
    val size: Int get() = shape.fold(1) { a, b -> a * b }
}

/**
 * Manifest preprocessing, the same steps and float32 arithmetic as edgekit/preprocess.py:
 * shorter side -> resize (aspect kept, Pillow-exact resampling), centred crop, pixel * scale,
 * optional RGB->BGR, (x - mean) / std, NCHW or NHWC, then int8/uint8 quantization with the input's
 * scale and zero point when the model input is quantized.
 */
object Preprocess {
    /** Shorter side -> spec.resize, then the centred crop x crop window (as resize_center_crop). */
    fun resizeCenterCrop(img: RgbImage, resize: Int, crop: Int, interpolation: String): RgbImage {
        val w = img.width
        val h = img.height
        val nw: Int
        val nh: Int
        if (w <= h) {
            nw = resize
            nh = ((resize.toLong() * h).toDouble() / w).toInt()
        } else {
            nw = ((resize.toLong() * w).toDouble() / h).toInt()
            nh = resize
        }
        val left = Math.rint((nw - crop) / 2.0).toInt()
        val top = Math.rint((nh - crop) / 2.0).toInt()
        if (nw == w && nh == h) return cropBox(img, left, top, crop, crop)
        if (left >= 0 && top >= 0 && left + crop <= nw && top + crop <= nh) {
            // resample only the crop window: same pixels, a fraction of the work per camera frame
            return Resample.resizeWindow(img, nw, nh, interpolation, left, top, crop, crop)
        }
        return cropBox(Resample.resize(img, nw, nh, interpolation), left, top, crop, crop)
    }

    /** Pillow crop semantics: pixels outside the source are 0. */
    fun cropBox(img: RgbImage, left: Int, top: Int, cw: Int, ch: Int): RgbImage {
        val out = ByteArray(cw * ch * 3)
        for (y in 0 until ch) {
            val sy = y + top
            if (sy < 0 || sy >= img.height) continue
            for (x in 0 until cw) {
                val sx = x + left
                if (sx < 0 || sx >= img.width) continue
                System.arraycopy(img.pixels, (sy * img.width + sx) * 3, out, (y * cw + x) * 3, 3)
            }
        }
        return RgbImage(cw, ch, out)
    }

    /** Normalized float32 values of an already resized and cropped image, in the spec's layout. */
    fun normalize(crop: RgbImage, spec: PreprocessSpec): FloatArray {
        val h = crop.height
        val w = crop.width
        val out = FloatArray(3 * h * w)
        val bgr = spec.channelOrder == "BGR"
        val nchw = spec.layout == "NCHW"
        for (y in 0 until h) for (x in 0 until w) for (c in 0 until 3) {
            val src = if (bgr) 2 - c else c
            val v = crop.at(x, y, src).toFloat() * spec.scale
            val n = (v - spec.mean[c]) / spec.std[c]
            val idx = if (nchw) (c * h + y) * w + x else (y * w + x) * 3 + c
            out[idx] = n
        }
        return out
    }

    /** round-half-to-even(x / scale) + zero_point, clipped to the dtype (edgekit.preprocess.quantize). */
    fun quantize(x: FloatArray, q: Quantization, dtype: String): ByteArray {
        val lo = if (dtype == "uint8") 0 else -128
        val hi = if (dtype == "uint8") 255 else 127
        return ByteArray(x.size) {
            val r = Math.rint((x[it] / q.scale).toDouble()).toFloat() + q.zeroPoint
            val v = if (r < lo) lo else if (r > hi) hi else r.toInt()
            v.toByte()
        }
    }

    fun shape(spec: PreprocessSpec): IntArray =
        if (spec.layout == "NCHW") intArrayOf(1, 3, spec.crop, spec.crop) else intArrayOf(1, spec.crop, spec.crop, 3)

    /** Full pipeline: decoded image -> the tensor the manifest's model input expects. */
    fun toInput(img: RgbImage, m: Manifest): InputTensor {
        val spec = m.preprocessing
        val crop = resizeCenterCrop(img, spec.resize, spec.crop, spec.interpolation)
        return fromCrop(crop, m)
    }

    /** The normalized float32 tensor whatever the model's input dtype (for programs that quantize themselves). */
    fun toFloatInput(img: RgbImage, m: Manifest): InputTensor {
        val spec = m.preprocessing
        val crop = resizeCenterCrop(img, spec.resize, spec.crop, spec.interpolation)
        return InputTensor(shape(spec), "float32", normalize(crop, spec), null)
    }

    /** From an already resized and cropped image (the golden crop) to the model input. */
    fun fromCrop(crop: RgbImage, m: Manifest): InputTensor {
        val spec = m.preprocessing
        val x = normalize(crop, spec)
        val shape = shape(spec)
        if (m.input.dtype == "float32") return InputTensor(shape, "float32", x, null)
        val q = m.input.quantization ?: throw IllegalStateException("quantized input without quantization parameters")
        return InputTensor(shape, m.input.dtype, null, quantize(x, q, m.input.dtype))
    }
}
