package dev.edgekit.demo.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Test

/** JUnit twins of the checks CoreChecks.kt runs under Debian's kotlinc in edgekit's test suite. */
class CoreLogicTest {
    @Test
    fun jsonReader() {
        val j = JsonPath(Json.parse("""{"a": [1, 2.5, null], "s": "\u00e9\n"}"""))
        assertEquals(1L, j.find("a.0"))
        assertEquals(2.5, j.number("a.1"), 0.0)
        assertEquals("\u00e9\n", j.string("s"))
    }

    @Test
    fun quantizeRoundsHalfToEvenAndClips() {
        val q = Preprocess.quantize(floatArrayOf(0.5f, 1.5f, -0.5f, 1000f, -1000f), Quantization(1.0f, 0), "int8")
        assertArrayEquals(byteArrayOf(0, 2, 0, 127, -128), q)
    }

    @Test
    fun headSurvivesSaveAndLoad() {
        val h = LinearHead(listOf("cat", "dog"), 2, floatArrayOf(1f, 2f, 3f, 4f), floatArrayOf(0.5f, -0.5f))
        val back = LinearHead.fromBytes(h.toBytes())
        assertEquals(h.labels, back.labels)
        assertArrayEquals(floatArrayOf(1f * 1 + 2f * 1 + 0.5f, 3f + 4f - 0.5f), back.logits(floatArrayOf(1f, 1f)), 0f)
    }
}
