package dev.edgekit.demo

import android.graphics.BitmapFactory
import androidx.test.ext.junit.runners.AndroidJUnit4
import androidx.test.platform.app.InstrumentationRegistry
import dev.edgekit.demo.core.AssetPaths
import dev.edgekit.demo.core.Classification
import dev.edgekit.demo.core.InputTensor
import dev.edgekit.demo.core.Json
import dev.edgekit.demo.core.JsonPath
import dev.edgekit.demo.core.Preprocess
import dev.edgekit.demo.core.RgbImage
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * On the phone (./gradlew connectedLitertDebugAndroidTest or connectedExecutorchDebugAndroidTest):
 * the flavor's runtime, fed the golden input tensor, gives edgekit's golden top-3; and the photo
 * decoded by Android's BitmapFactory goes through the app's preprocessing to the golden tensor.
 */
@RunWith(AndroidJUnit4::class)
class GoldenModelTest {
    private val context = InstrumentationRegistry.getInstrumentation().targetContext
    private fun asset(path: String): ByteArray = context.assets.open(path).use { it.readBytes() }
    private fun json(path: String) = JsonPath(Json.parse(String(asset(path), Charsets.UTF_8)))

    private fun goldenInput(): InputTensor {
        val meta = json(AssetPaths.GOLDEN_INPUT_META)
        val shape = meta.ints("shape")
        val raw = asset(AssetPaths.GOLDEN_INPUT)
        val dtype = meta.string("dtype")
        return if (dtype == "float32") {
            val bb = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN)
            InputTensor(shape, dtype, FloatArray(raw.size / 4) { bb.getFloat(it * 4) }, null)
        } else InputTensor(shape, dtype, null, raw)
    }

    @Test
    fun runtimeGivesTheGoldenTopThree() {
        val assets = ModelAssets.load(context)
        val expected = json(AssetPaths.GOLDEN_EXPECTED)
        if (expected.isNullOrAbsent("top3")) return // the bundling machine could not run this format
        val tol = expected.number("tolerance.score_abs").toFloat()
        RuntimeFlavor.classifier(assets.model, RuntimeSettings(2, RuntimeFlavor.delegates[0])).use { engine ->
            val out = engine.run(goldenInput())
            val top = Classification.topK(out, assets.manifest.output.kind, assets.manifest.labels, 3)
            val exp = expected.list("top3")
            for (i in 0 until 3) {
                val e = JsonPath(exp[i])
                assertEquals("rank $i", e.int("index"), top[i].index)
                assertEquals("rank $i score", e.number("score").toFloat(), top[i].score, tol)
            }
        }
    }

    @Test
    fun androidDecodedPhotoPreprocessesToTheGoldenTensor() {
        val assets = ModelAssets.load(context)
        val bytes = asset(AssetPaths.GOLDEN_PHOTO)
        val bmp = BitmapFactory.decodeByteArray(bytes, 0, bytes.size)
        val argb = IntArray(bmp.width * bmp.height)
        bmp.getPixels(argb, 0, bmp.width, 0, 0, bmp.width, bmp.height)
        val got = Preprocess.toInput(RgbImage.fromArgb(bmp.width, bmp.height, argb), assets.manifest)
        val want = goldenInput()
        var maxDiff = 0f
        for (i in 0 until want.size) {
            val a = got.floats?.get(i) ?: got.bytes!![i].toFloat()
            val b = want.floats?.get(i) ?: want.bytes!![i].toFloat()
            maxDiff = Math.max(maxDiff, Math.abs(a - b))
        }
        // Android's JPEG decoder (libjpeg-turbo via Skia) may differ from Pillow's by a level or two
        // per pixel; 2 levels / std is the bound on the normalized tensor
        val std = assets.manifest.preprocessing.std.minOrNull() ?: 1f
        val bound = if (want.floats != null) 2f * assets.manifest.preprocessing.scale / std + 1e-5f else 3f
        assertTrue("max abs diff $maxDiff > $bound", maxDiff <= bound)
    }
}
