package dev.edgekit.demo.core

/**
 * Image resampling with the same arithmetic as Pillow's Image.resize on 8-bit RGB images
 * (libImaging/Resample.c): separable convolution with the filter stretched by the scale factor
 * when downscaling (antialiasing), coefficients computed in double, then converted to 22-bit
 * fixed point; horizontal pass first into an 8-bit buffer (only the rows the vertical pass
 * needs), then the vertical pass. Written from the algorithm's description so the app's pixels
 * equal edgekit.preprocess's on the same decoded image. NEAREST follows Pillow's affine
 * nearest-neighbour sampling at pixel centres.
 */
object Resample {
    private const val PRECISION_BITS = 32 - 8 - 2

    private fun support(filter: String): Double = when (filter) {
        "bilinear" -> 1.0
        "bicubic" -> 2.0
        "lanczos" -> 3.0
        else -> throw IllegalArgumentException("no convolution filter for '$filter'")
    }

    private fun sinc(x0: Double): Double {
        if (x0 == 0.0) return 1.0
        val x = x0 * Math.PI
        return Math.sin(x) / x
    }

    private fun kernel(filter: String, x0: Double): Double {
        var x = x0
        when (filter) {
            "bilinear" -> {
                if (x < 0.0) x = -x
                return if (x < 1.0) 1.0 - x else 0.0
            }
            "bicubic" -> {
                val a = -0.5
                if (x < 0.0) x = -x
                if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1
                if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a
                return 0.0
            }
            "lanczos" -> return if (-3.0 <= x && x < 3.0) sinc(x) * sinc(x / 3) else 0.0
        }
        throw IllegalArgumentException("unknown filter '$filter'")
    }

    /** Fixed-point coefficients: per output index, [bounds(2*i)=first source index, bounds(2*i+1)=count]. */
    private class Coeffs(val ksize: Int, val bounds: IntArray, val kk: IntArray)

    private fun coeffs(inSize: Int, outSize: Int, filter: String): Coeffs {
        val in0 = 0.0f
        val in1 = inSize.toFloat()
        val scale = (in1 - in0).toDouble() / outSize
        var filterscale = scale
        if (filterscale < 1.0) filterscale = 1.0
        val support = support(filter) * filterscale
        val ksize = Math.ceil(support).toInt() * 2 + 1
        val pre = DoubleArray(outSize * ksize)
        val bounds = IntArray(outSize * 2)
        for (xx in 0 until outSize) {
            val center = in0 + (xx + 0.5) * scale
            var ww = 0.0
            val ss = 1.0 / filterscale
            var xmin = (center - support + 0.5).toInt()
            if (xmin < 0) xmin = 0
            var xmax = (center + support + 0.5).toInt()
            if (xmax > inSize) xmax = inSize
            xmax -= xmin
            val base = xx * ksize
            for (x in 0 until xmax) {
                val w = kernel(filter, (x + xmin - center + 0.5) * ss)
                pre[base + x] = w
                ww += w
            }
            for (x in 0 until xmax) {
                if (ww != 0.0) pre[base + x] = pre[base + x] / ww
            }
            bounds[xx * 2] = xmin
            bounds[xx * 2 + 1] = xmax
        }
        val one = (1 shl PRECISION_BITS).toDouble()
        val kk = IntArray(pre.size) {
            val v = pre[it]
            if (v < 0) (-0.5 + v * one).toInt() else (0.5 + v * one).toInt()
        }
        return Coeffs(ksize, bounds, kk)
    }

    private fun clip8(ss: Int): Int {
        val v = ss shr PRECISION_BITS
        return if (v < 0) 0 else if (v > 255) 255 else v
    }

    /** Resize an RGB image to (outW, outH) with `filter` (bilinear, bicubic, lanczos, nearest). */
    fun resize(img: RgbImage, outW: Int, outH: Int, filter: String): RgbImage =
        resizeWindow(img, outW, outH, filter, 0, 0, outW, outH)

    /**
     * The window [x0, x0+w) x [y0, y0+h) of the image resized to (outW, outH), computing only
     * those output pixels (each depends only on its own coefficients, so the values are the
     * same as resizing everything and cropping). The window must lie inside the output.
     */
    fun resizeWindow(img: RgbImage, outW: Int, outH: Int, filter: String, x0: Int, y0: Int, w: Int, h: Int): RgbImage {
        if (x0 < 0 || y0 < 0 || w < 1 || h < 1 || x0 + w > outW || y0 + h > outH) throw IllegalArgumentException("window outside the resized image")
        if (filter == "nearest") return Preprocess.cropBox(nearest(img, outW, outH), x0, y0, w, h)
        val needH = outW != img.width
        val needV = outH != img.height
        val half = 1 shl (PRECISION_BITS - 1)
        // source rows the window needs (all of them when there is no vertical pass)
        val vert = if (needV) coeffs(img.height, outH, filter) else null
        var yFirst = y0
        var yLast = y0 + h
        if (vert != null) {
            yFirst = Int.MAX_VALUE
            yLast = 0
            for (yy in y0 until y0 + h) {
                yFirst = Math.min(yFirst, vert.bounds[yy * 2])
                yLast = Math.max(yLast, vert.bounds[yy * 2] + vert.bounds[yy * 2 + 1])
            }
        }
        // horizontal pass (or a column copy) into rows yFirst until yLast, window columns only
        val rows = yLast - yFirst
        val tmp = ByteArray(w * rows * 3)
        val inPx = img.pixels
        if (needH) {
            val hor = coeffs(img.width, outW, filter)
            for (yy in 0 until rows) {
                val rowBase = (yy + yFirst) * img.width * 3
                for (xx in x0 until x0 + w) {
                    val xmin = hor.bounds[xx * 2]
                    val xmax = hor.bounds[xx * 2 + 1]
                    val kb = xx * hor.ksize
                    var s0 = half
                    var s1 = half
                    var s2 = half
                    for (x in 0 until xmax) {
                        val k = hor.kk[kb + x]
                        val p = rowBase + (x + xmin) * 3
                        s0 += (inPx[p].toInt() and 0xFF) * k
                        s1 += (inPx[p + 1].toInt() and 0xFF) * k
                        s2 += (inPx[p + 2].toInt() and 0xFF) * k
                    }
                    val o = (yy * w + xx - x0) * 3
                    tmp[o] = clip8(s0).toByte()
                    tmp[o + 1] = clip8(s1).toByte()
                    tmp[o + 2] = clip8(s2).toByte()
                }
            }
        } else {
            for (yy in 0 until rows) System.arraycopy(inPx, ((yy + yFirst) * img.width + x0) * 3, tmp, yy * w * 3, w * 3)
        }
        if (vert == null) return RgbImage(w, h, tmp) // rows == h, starting at y0
        // vertical pass for the window rows
        val out = ByteArray(w * h * 3)
        for (yy in y0 until y0 + h) {
            val ymin = vert.bounds[yy * 2] - yFirst
            val ymax = vert.bounds[yy * 2 + 1]
            val kb = yy * vert.ksize
            for (xx in 0 until w) {
                var s0 = half
                var s1 = half
                var s2 = half
                for (y in 0 until ymax) {
                    val k = vert.kk[kb + y]
                    val p = ((y + ymin) * w + xx) * 3
                    s0 += (tmp[p].toInt() and 0xFF) * k
                    s1 += (tmp[p + 1].toInt() and 0xFF) * k
                    s2 += (tmp[p + 2].toInt() and 0xFF) * k
                }
                val o = ((yy - y0) * w + xx) * 3
                out[o] = clip8(s0).toByte()
                out[o + 1] = clip8(s1).toByte()
                out[o + 2] = clip8(s2).toByte()
            }
        }
        return RgbImage(w, h, out)
    }

    private fun nearest(img: RgbImage, outW: Int, outH: Int): RgbImage {
        val out = RgbImage(outW, outH, ByteArray(outW * outH * 3))
        val sx = img.width.toDouble() / outW
        val sy = img.height.toDouble() / outH
        for (y in 0 until outH) {
            val yi = Math.min(img.height - 1, ((y + 0.5) * sy).toInt())
            for (x in 0 until outW) {
                val xi = Math.min(img.width - 1, ((x + 0.5) * sx).toInt())
                System.arraycopy(img.pixels, (yi * img.width + xi) * 3, out.pixels, (y * outW + x) * 3, 3)
            }
        }
        return out
    }
}
