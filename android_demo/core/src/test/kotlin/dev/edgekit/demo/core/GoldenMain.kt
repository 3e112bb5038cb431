package dev.edgekit.demo.core

import java.io.File
import javax.imageio.ImageIO

/**
 * JVM entry point for tests/test_apps_kotlin.py: args = ASSETS_DIR [PIL_RGB_BIN WIDTH HEIGHT].
 * Prints one JSON line with the measured differences; exits 1 when a check fails.
 * javax.imageio decodes the JPEG here (on the phone: BitmapFactory / CameraX frames).
 */
fun main(args: Array<String>) {
    val v = GoldenVerifier(File(args[0]))
    val results = LinkedHashMap<String, Any>()
    var ok = true

    val fromCrop = v.checkFromCrop()
    results["from_crop_max_abs"] = fromCrop
    if (fromCrop > 1e-6f) ok = false

    if (args.size >= 4) {
        val w = args[2].toInt()
        val h = args[3].toInt()
        val pil = RgbImage(w, h, File(args[1]).readBytes())
        val d = v.cropDiff(pil)
        results["resize_crop_max_pixel_diff_pil_decoded"] = d
        results["full_max_abs_pil_decoded"] = v.fullDiff(pil)
        if (d > 0) ok = false
    }

    val photo = ImageIO.read(File(args[0], AssetPaths.GOLDEN_PHOTO)) ?: throw IllegalStateException("javax.imageio cannot read the golden photo")
    val argb = photo.getRGB(0, 0, photo.width, photo.height, null, 0, photo.width)
    val jvm = RgbImage.fromArgb(photo.width, photo.height, argb)
    results["resize_crop_max_pixel_diff_imageio_decoded"] = v.cropDiff(jvm)
    results["full_max_abs_imageio_decoded"] = v.fullDiff(jvm)

    // top-3 selection on the golden output logits, when the bundle recorded them
    val outFile = File(args[0], AssetPaths.GOLDEN_OUTPUT)
    if (outFile.isFile) {
        val bb = java.nio.ByteBuffer.wrap(outFile.readBytes()).order(java.nio.ByteOrder.LITTLE_ENDIAN)
        val out = FloatArray(outFile.length().toInt() / 4) { bb.getFloat(it * 4) }
        val top = v.top3(out)
        val exp = v.expected.list("top3")
        var maxScoreDiff = 0f
        for (i in 0 until 3) {
            val e = JsonPath(exp[i])
            if (top[i].index != e.int("index") || top[i].label != e.string("label")) ok = false
            maxScoreDiff = Math.max(maxScoreDiff, Math.abs(top[i].score - e.number("score").toFloat()))
        }
        results["top3"] = top.joinToString(",") { it.index.toString() }
        results["top3_max_score_diff"] = maxScoreDiff
        if (maxScoreDiff > 1e-5f) ok = false
    }
    results["ok"] = ok
    println("{" + results.entries.joinToString(", ") { (k, x) -> "\"$k\": " + (if (x is String) "\"$x\"" else x.toString()) } + "}")
    if (!ok) System.exit(1)
}
