package dev.edgekit.demo.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File
import javax.imageio.ImageIO

/**
 * JUnit (./gradlew :core:test) over the golden vectors `edgekit export ... --bundle android_demo`
 * wrote into the app's flavor assets: the app's preprocessing reproduces edgekit's input tensor,
 * and its top-3 selection reproduces edgekit's top-3 on the recorded model output.
 */
class GoldenVectorsTest {
    private fun bundled(): List<File> {
        val dirs = listOf("edgekit.assets.litert", "edgekit.assets.executorch")
            .mapNotNull { System.getProperty(it) }
            .map { File(it) }
            .filter { File(it, AssetPaths.GOLDEN_INPUT).isFile }
        assertTrue("no golden vectors: run `edgekit export MODEL --target tflite --bundle android_demo` first", dirs.isNotEmpty())
        return dirs
    }

    @Test
    fun normalizationLayoutAndQuantizationFromTheGoldenCropAreExact() {
        for (d in bundled()) assertEquals("${d.path}: max abs diff", 0.0f, GoldenVerifier(d).checkFromCrop(), 1e-6f)
    }

    @Test
    fun resizeAndCropOfTheDecodedPhotoMatchPillow() {
        for (d in bundled()) {
            val v = GoldenVerifier(d)
            val img = ImageIO.read(File(d, AssetPaths.GOLDEN_PHOTO))
            val rgb = RgbImage.fromArgb(img.width, img.height, img.getRGB(0, 0, img.width, img.height, null, 0, img.width))
            // javax.imageio and Pillow decode JPEG to the same pixels here; allow one level of decoder difference
            assertTrue("${d.path}: resize/crop differs from Pillow", v.cropDiff(rgb) <= 1)
        }
    }

    @Test
    fun topThreeFromTheGoldenOutputMatchesEdgekit() {
        for (d in bundled()) {
            val out = File(d, AssetPaths.GOLDEN_OUTPUT)
            if (!out.isFile) continue // the bundler could not run this format on its machine (Core ML off macOS)
            val bb = java.nio.ByteBuffer.wrap(out.readBytes()).order(java.nio.ByteOrder.LITTLE_ENDIAN)
            val values = FloatArray(out.length().toInt() / 4) { bb.getFloat(it * 4) }
            val v = GoldenVerifier(d)
            val top = v.top3(values)
            val exp = v.expected.list("top3")
            for (i in 0 until 3) {
                val e = JsonPath(exp[i])
                assertEquals(e.int("index"), top[i].index)
                assertEquals(e.string("label"), top[i].label)
                assertEquals(e.number("score").toFloat(), top[i].score, 1e-5f)
            }
        }
    }
}
