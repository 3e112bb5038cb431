package dev.edgekit.demo

import dev.edgekit.demo.core.InputTensor
import dev.edgekit.demo.core.TeachBatch

/** Thread count and delegate chosen in Settings. */
class RuntimeSettings(val threads: Int, val delegate: String)

/** One loaded program: the classifier (image -> logits) or the backbone (image -> embedding). */
interface InferenceEngine : AutoCloseable {
    /** e.g. "LiteRT 1.4.1, XNNPACK, 4 threads" */
    val description: String

    /** Run on one preprocessed image; returns the first output as float32 (dequantized if needed). */
    fun run(input: InputTensor): FloatArray
}

/**
 * The exported head training step, run in the artifact's own runtime (edgekit/trainable.py):
 * start() begins a fresh head (zeros) for `numClasses` new classes; step() runs one SGD step on a
 * padded batch and returns the loss; weights() returns the padded W [capacity*D] and b [capacity].
 */
interface HeadTrainer : AutoCloseable {
    val batch: Int
    val capacity: Int
    val dim: Int
    fun start(numClasses: Int, learningRate: Float, momentum: Float, weightDecay: Float)
    fun step(b: TeachBatch): Float
    fun weights(): Pair<FloatArray, FloatArray>
}
