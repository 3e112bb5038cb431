package dev.edgekit.demo.core

import java.io.ByteArrayInputStream
import java.io.ByteArrayOutputStream
import java.io.DataInputStream
import java.io.DataOutputStream

/**
 * The classifier head the user teaches: W [C, D], b [C] and C labels. Inference is
 * logits = W e + b on the backbone's embedding e (edgekit.head.HeadInfer); training runs the
 * exported training step in the artifact's runtime (see TeachBatches for the padding that step
 * expects). Serialized to a small binary file so the taught head survives restarts.
 */
class LinearHead(val labels: List<String>, val dim: Int, val weight: FloatArray, val bias: FloatArray) {
    val numClasses: Int get() = labels.size

    init {
        if (weight.size != labels.size * dim || bias.size != labels.size) throw IllegalArgumentException("head shapes do not match ${labels.size} classes x $dim")
    }

    fun logits(embedding: FloatArray): FloatArray {
        if (embedding.size != dim) throw IllegalArgumentException("embedding has ${embedding.size} values, head expects $dim")
        return FloatArray(numClasses) { c ->
            var s = 0.0f
            val base = c * dim
            for (i in 0 until dim) s += weight[base + i] * embedding[i]
            s + bias[c]
        }
    }

    fun toBytes(): ByteArray {
        val bo = ByteArrayOutputStream()
        val out = DataOutputStream(bo)
        out.writeInt(MAGIC)
        out.writeInt(dim)
        out.writeInt(labels.size)
        for (l in labels) out.writeUTF(l)
        for (v in weight) out.writeFloat(v)
        for (v in bias) out.writeFloat(v)
        out.flush()
        return bo.toByteArray()
    }

    companion object {
        private const val MAGIC = 0x45444b48 // "EDKH"

        /** A fresh head for new classes: zeros, as edgekit.head.HeadLoss starts. */
        fun zeros(labels: List<String>, dim: Int) = LinearHead(labels, dim, FloatArray(labels.size * dim), FloatArray(labels.size))

        fun fromBytes(data: ByteArray): LinearHead {
            val inp = DataInputStream(ByteArrayInputStream(data))
            if (inp.readInt() != MAGIC) throw IllegalArgumentException("not a saved edgekit head")
            val dim = inp.readInt()
            val n = inp.readInt()
            val labels = (0 until n).map { inp.readUTF() }
            val w = FloatArray(n * dim) { inp.readFloat() }
            val b = FloatArray(n) { inp.readFloat() }
            return LinearHead(labels, dim, w, b)
        }
    }
}

/** One padded batch for the exported head training step (edgekit.head_trainers._PaddedTrainer). */
class TeachBatch(val embeddings: FloatArray, val onehot: FloatArray, val realRows: Int)

/**
 * Builds the fixed-size inputs the exported training step takes: embeddings [batch, D] (all-zero
 * padding rows), one-hot targets [batch, capacity] (all-zero rows for padding, which the loss
 * ignores), the class mask [capacity] (1 for the C real classes) and the weights padded to the
 * program's class capacity. Batches walk a seeded shuffle of the examples, epoch by epoch.
 */
class TeachBatches(val batch: Int, val capacity: Int, val dim: Int) {
    fun mask(numClasses: Int): FloatArray {
        if (numClasses > capacity) throw IllegalArgumentException("$numClasses classes but the training program holds at most $capacity")
        return FloatArray(capacity) { if (it < numClasses) 1f else 0f }
    }

    fun padWeights(head: LinearHead): FloatArray {
        val w = FloatArray(capacity * dim)
        System.arraycopy(head.weight, 0, w, 0, head.weight.size)
        return w
    }

    fun padBias(head: LinearHead): FloatArray {
        val b = FloatArray(capacity)
        System.arraycopy(head.bias, 0, b, 0, head.bias.size)
        return b
    }

    /** The real C rows of padded weights. */
    fun unpad(labels: List<String>, w: FloatArray, b: FloatArray): LinearHead =
        LinearHead(labels, dim, w.copyOf(labels.size * dim), b.copyOf(labels.size))

    fun batches(examples: List<FloatArray>, labels: IntArray, seed: Long): List<TeachBatch> {
        val order = (0 until examples.size).toMutableList()
        java.util.Collections.shuffle(order, java.util.Random(seed))
        val out = ArrayList<TeachBatch>()
        var i = 0
        while (i < order.size) {
            val n = Math.min(batch, order.size - i)
            val f = FloatArray(batch * dim)
            val y = FloatArray(batch * capacity)
            for (r in 0 until n) {
                val e = examples[order[i + r]]
                if (e.size != dim) throw IllegalArgumentException("embedding has ${e.size} values, expected $dim")
                System.arraycopy(e, 0, f, r * dim, dim)
                y[r * capacity + labels[order[i + r]]] = 1f
            }
            out.add(TeachBatch(f, y, n))
            i += n
        }
        return out
    }
}
