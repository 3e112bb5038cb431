package dev.edgekit.demo.core

class Prediction(val index: Int, val label: String, val score: Float)

/** Model output -> top-k labels with scores: dequantize if the output is int8/uint8, softmax if it holds logits. */
object Classification {
    fun dequantize(q: ByteArray, quant: Quantization, dtype: String): FloatArray =
        FloatArray(q.size) {
            val v = if (dtype == "uint8") q[it].toInt() and 0xFF else q[it].toInt()
            (v - quant.zeroPoint).toFloat() * quant.scale
        }

    fun softmax(logits: FloatArray): FloatArray {
        var mx = Float.NEGATIVE_INFINITY
        for (v in logits) if (v > mx) mx = v
        val e = DoubleArray(logits.size) { Math.exp((logits[it] - mx).toDouble()) }
        val s = e.sum()
        return FloatArray(logits.size) { (e[it] / s).toFloat() }
    }

    /** Scores shown to the user: probabilities (softmax of logits unless the model already outputs probabilities). */
    fun scores(output: FloatArray, kind: String?): FloatArray = if (kind == "probabilities") output else softmax(output)

    /**
     * Top-k by the raw output values (softmax keeps their order, and ranking the float32 outputs
     * avoids ties that rounding the probabilities would create), lowest index first on ties;
     * each with its probability as the score.
     */
    fun topK(output: FloatArray, kind: String?, labels: List<String>, k: Int): List<Prediction> {
        val scores = scores(output, kind)
        val idx = (0 until output.size).sortedWith(Comparator { a, b ->
            val c = output[b].compareTo(output[a])
            if (c != 0) c else a.compareTo(b)
        })
        return idx.take(k).map { Prediction(it, if (it < labels.size) labels[it] else "class $it", scores[it]) }
    }
}
