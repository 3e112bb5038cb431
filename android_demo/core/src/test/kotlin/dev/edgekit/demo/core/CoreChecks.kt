package dev.edgekit.demo.core

import java.io.File

/**
 * Self-checking JVM main for tests/test_apps_kotlin.py (args: a JSON case file with a head W, b,
 * an embedding e and numpy's logits). Prints {"checks": N, "failed": [...]}; exits 1 on a failure.
 */
private val failed = ArrayList<String>()
private var checks = 0

private fun check(name: String, ok: Boolean) {
    checks++
    if (!ok) failed.add(name)
}

private fun throwsJson(text: String): Boolean = try { Json.parse(text); false } catch (e: JsonException) { true }

fun main(args: Array<String>) {
    // JSON reader
    val j = JsonPath(Json.parse("""{"a": [1, 2.5, -3e2, true, null], "s": "x\"y\u00e9\n", "o": {"k": {}}}"""))
    check("json int", j.find("a.0") == 1L)
    check("json float", j.number("a.1") == 2.5 && j.number("a.2") == -300.0)
    check("json bool/null", j.find("a.3") == true && j.find("a.4") == null && j.has("a.4") && !j.has("a.5"))
    check("json string escapes", j.string("s") == "x\"y\u00e9\n")
    check("json nested empty object", (j.find("o.k") as Map<*, *>).isEmpty())
    check("json rejects trailing comma", throwsJson("[1,]") && throwsJson("{\"a\":1,}"))
    check("json rejects garbage", throwsJson("{\"a\": 1} x") && throwsJson("\"open"))

    // manifest errors name the field
    val bad = """{"artifact": {"format": "tflite", "file": "m.tflite"}, "model": {"name": "m"}, "precision": "fp32",
        "labels": ["a"], "preprocessing": {"resize": 8, "crop": 8, "interpolation": "area", "mean": [0,0,0], "std": [1,1,1],
        "scale": 0.1, "channel_order": "RGB", "layout": "NCHW"},
        "inputs": [{"name": "x", "shape": [1,3,8,8], "dtype": "float32"}], "outputs": [{"name": "y", "shape": [1,1], "dtype": "float32"}]}"""
    val msg = try { Manifest.parse(bad); "" } catch (e: JsonException) { e.message ?: "" }
    check("manifest rejects unknown interpolation", msg.contains("interpolation"))
    val noLabels = try { Manifest.parse(bad.replace("\"labels\": [\"a\"],", "").replace("area", "bilinear")); "" } catch (e: JsonException) { e.message ?: "" }
    check("manifest names a missing field", noLabels.contains("labels"))
    val ok = Manifest.parse(bad.replace("area", "bilinear"))
    check("manifest parses", ok.preprocessing.resize == 8 && ok.input.quantization == null && ok.trainableHead == null)

    // rotation: 3x2 image with distinct pixels
    val px = ByteArray(18) { it.toByte() }
    val img = RgbImage(3, 2, px)
    val r90 = RgbImage.rotate(img, 90)
    check("rotate 90 size", r90.width == 2 && r90.height == 3)
    check("rotate 90 pixel", r90.at(1, 0, 0) == img.at(0, 0, 0) && r90.at(0, 0, 0) == img.at(0, 1, 0))
    val r360 = RgbImage.rotate(RgbImage.rotate(RgbImage.rotate(r90, 90), 90), 90)
    check("rotate 4x90 is identity", r360.pixels.contentEquals(img.pixels))
    val rgba = ByteArray(2 * 16) { (it * 7).toByte() }
    val fromRgba = RgbImage.fromRgba(3, 2, rgba, 16, 0)
    check("rgba with row stride", fromRgba.at(0, 1, 0) == (rgba[16].toInt() and 0xFF) && fromRgba.at(2, 0, 2) == (rgba[10].toInt() and 0xFF))

    // quantization rounds half to even and clips, as numpy
    val q = Preprocess.quantize(floatArrayOf(0.5f, 1.5f, -0.5f, 1000f, -1000f), Quantization(1.0f, 0), "int8")
    check("quantize half-even + clip", q.contentEquals(byteArrayOf(0, 2, 0, 127, -128)))

    // top-k ranks raw outputs, softmax scores
    val top = Classification.topK(floatArrayOf(1f, 3f, 2f, 3f), null, listOf("a", "b", "c", "d"), 3)
    check("topk order", top.map { it.index } == listOf(1, 3, 2))
    val sm = Classification.softmax(floatArrayOf(1f, 3f, 2f, 3f))
    check("topk scores", Math.abs(top[0].score - sm[1]) < 1e-7f && Math.abs(sm.sum() - 1f) < 1e-6f)

    // teach-mode head against numpy
    val case = JsonPath(Json.parse(File(args[0]).readText()))
    val w = case.numbers("W")
    val b = case.numbers("b")
    val e = case.numbers("e")
    val want = case.numbers("logits")
    val head = LinearHead(listOf("x", "y", "z"), e.size, FloatArray(w.size) { w[it].toFloat() }, FloatArray(b.size) { b[it].toFloat() })
    val got = head.logits(FloatArray(e.size) { e[it].toFloat() })
    var err = 0.0
    for (i in got.indices) err = Math.max(err, Math.abs(got[i] - want[i]))
    check("head logits vs numpy", err < 1e-5)
    val back = LinearHead.fromBytes(head.toBytes())
    check("head save/load", back.labels == head.labels && back.weight.contentEquals(head.weight) && back.bias.contentEquals(head.bias))
    val tb = TeachBatches(4, 5, e.size)
    check("mask", tb.mask(3).contentEquals(floatArrayOf(1f, 1f, 1f, 0f, 0f)))
    val ex = List(6) { i -> FloatArray(e.size) { i.toFloat() } }
    val batches = tb.batches(ex, intArrayOf(0, 1, 2, 0, 1, 2), 7L)
    check("batches cover every example once", batches.size == 2 && batches.map { it.realRows }.sum() == 6)
    val last = batches[1]
    var padZero = true
    for (r in last.realRows until 4) {
        for (c in 0 until 5) if (last.onehot[r * 5 + c] != 0f) padZero = false
        for (d in 0 until e.size) if (last.embeddings[r * e.size + d] != 0f) padZero = false
    }
    check("padding rows are zero", padZero)
    var labelsMatch = true
    for (bt in batches) for (r in 0 until bt.realRows) {
        val id = bt.embeddings[r * e.size].toInt()
        val hot = (0 until 5).first { bt.onehot[r * 5 + it] == 1f }
        if (hot != intArrayOf(0, 1, 2, 0, 1, 2)[id]) labelsMatch = false
    }
    check("one-hot rows follow their examples", labelsMatch)
    val padded = tb.padWeights(head)
    check("pad/unpad weights", padded.size == 5 * e.size && tb.unpad(head.labels, padded, tb.padBias(head)).weight.contentEquals(head.weight))
    val tooMany = try { tb.mask(6); false } catch (x: IllegalArgumentException) { true }
    check("too many classes rejected", tooMany)

    println("{\"checks\": $checks, \"failed\": [" + failed.joinToString(", ") { "\"$it\"" } + "]}")
    if (failed.isNotEmpty()) System.exit(1)
}
