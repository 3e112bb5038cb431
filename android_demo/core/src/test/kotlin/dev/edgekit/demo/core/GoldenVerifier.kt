package dev.edgekit.demo.core

import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * Checks the app's preprocessing against the golden vectors `edgekit export --bundle` writes
 * (edgekit/bundle.py). No JUnit here, so the same checks run from JUnit (GoldenVectorsTest)
 * and from a plain JVM main (GoldenMain, used by tests/test_apps_kotlin.py with Debian's kotlinc).
 */
class GoldenVerifier(val assetsDir: File) {
    val manifest: Manifest = Manifest.parse(File(assetsDir, AssetPaths.MANIFEST).readText())
    private val meta = JsonPath(Json.parse(File(assetsDir, AssetPaths.GOLDEN_INPUT_META).readText()))
    val expected = JsonPath(Json.parse(File(assetsDir, AssetPaths.GOLDEN_EXPECTED).readText()))

    val shape: IntArray = meta.ints("shape")
    val dtype: String = meta.string("dtype")

    /** The expected model input as floats (int8/uint8 values widened). */
    fun expectedInput(): FloatArray {
        val raw = File(assetsDir, AssetPaths.GOLDEN_INPUT).readBytes()
        val n = shape.fold(1) { a, b -> a * b }
        return when (dtype) {
            "float32" -> {
                val bb = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN)
                FloatArray(n) { bb.getFloat(it * 4) }
            }
            "int8" -> FloatArray(n) { raw[it].toFloat() }
            "uint8" -> FloatArray(n) { (raw[it].toInt() and 0xFF).toFloat() }
            else -> throw IllegalStateException("golden dtype $dtype")
        }
    }

    fun goldenCrop(): RgbImage {
        val w = meta.int("crop.width")
        val h = meta.int("crop.height")
        return RgbImage(w, h, File(assetsDir, AssetPaths.GOLDEN_CROP).readBytes())
    }

    fun values(t: InputTensor): FloatArray = when {
        t.floats != null -> t.floats
        t.dtype == "uint8" -> FloatArray(t.size) { t.bytes!![it].toInt().and(0xFF).toFloat() }
        else -> FloatArray(t.size) { t.bytes!![it].toFloat() }
    }

    fun maxAbsDiff(a: FloatArray, b: FloatArray): Float {
        if (a.size != b.size) throw IllegalStateException("size ${a.size} != ${b.size}")
        var m = 0f
        for (i in a.indices) m = Math.max(m, Math.abs(a[i] - b[i]))
        return m
    }

    fun maxPixelDiff(a: RgbImage, b: RgbImage): Int {
        if (a.width != b.width || a.height != b.height) throw IllegalStateException("image ${a.width}x${a.height} != ${b.width}x${b.height}")
        var m = 0
        for (i in a.pixels.indices) m = Math.max(m, Math.abs((a.pixels[i].toInt() and 0xFF) - (b.pixels[i].toInt() and 0xFF)))
        return m
    }

    /** Normalization + layout + quantization from the golden crop: must match exactly. */
    fun checkFromCrop(): Float {
        val t = Preprocess.fromCrop(goldenCrop(), manifest)
        if (!t.shape.contentEquals(shape)) throw AssertionError("shape ${t.shape.toList()} != golden ${shape.toList()}")
        if (t.dtype != dtype) throw AssertionError("dtype ${t.dtype} != golden $dtype")
        return maxAbsDiff(values(t), expectedInput())
    }

    /** Resize + crop of an already decoded photo against the golden crop (max pixel difference, 0..255). */
    fun cropDiff(decoded: RgbImage): Int {
        val p = manifest.preprocessing
        return maxPixelDiff(Preprocess.resizeCenterCrop(decoded, p.resize, p.crop, p.interpolation), goldenCrop())
    }

    /** The whole pipeline from a decoded photo against the golden tensor (max abs difference). */
    fun fullDiff(decoded: RgbImage): Float = maxAbsDiff(values(Preprocess.toInput(decoded, manifest)), expectedInput())

    /** The app's top-3 for given model output values against the golden top-3 (null: the golden has none). */
    fun top3(output: FloatArray): List<Prediction> =
        Classification.topK(output, manifest.output.kind, manifest.labels, 3)
}
