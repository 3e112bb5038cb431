package dev.edgekit.demo

import dev.edgekit.demo.core.LinearHead
import dev.edgekit.demo.core.TeachBatches

/**
 * Teach mode: photos of each new class -> backbone embeddings -> the exported training step,
 * run for a number of epochs from a zero head (defaults as `edgekit tune`: 20 epochs, lr 0.05,
 * momentum 0.9) -> a LinearHead with the new labels.
 */
class Teacher {
    val classNames = ArrayList<String>()
    private val embeddings = ArrayList<FloatArray>()
    private val labels = ArrayList<Int>()

    fun add(className: String, embedding: FloatArray) {
        var idx = classNames.indexOf(className)
        if (idx < 0) {
            classNames.add(className)
            idx = classNames.size - 1
        }
        embeddings.add(embedding)
        labels.add(idx)
    }

    fun count(className: String): Int {
        val idx = classNames.indexOf(className)
        return labels.count { it == idx }
    }

    val size: Int get() = embeddings.size

    fun clear() {
        classNames.clear(); embeddings.clear(); labels.clear()
    }

    fun train(
        trainer: HeadTrainer,
        epochs: Int = 20,
        learningRate: Float = 0.05f,
        momentum: Float = 0.9f,
        weightDecay: Float = 0f,
        progress: (epoch: Int, loss: Float) -> Unit
    ): LinearHead {
        if (classNames.size < 2) throw IllegalStateException("teach at least two classes")
        if (classNames.size > trainer.capacity) throw IllegalStateException("the training program holds at most ${trainer.capacity} classes")
        val batches = TeachBatches(trainer.batch, trainer.capacity, trainer.dim)
        trainer.start(classNames.size, learningRate, momentum, weightDecay)
        val lbl = labels.toIntArray()
        for (epoch in 1..epochs) {
            var sum = 0f
            var n = 0
            for (b in batches.batches(embeddings, lbl, epoch.toLong())) {
                sum += trainer.step(b) * b.realRows
                n += b.realRows
            }
            progress(epoch, sum / n)
        }
        val (w, b) = trainer.weights()
        return batches.unpad(ArrayList(classNames), w, b)
    }
}
