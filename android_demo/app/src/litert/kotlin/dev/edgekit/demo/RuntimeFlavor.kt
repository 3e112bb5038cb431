package dev.edgekit.demo

import dev.edgekit.demo.core.InputTensor
import dev.edgekit.demo.core.Preprocess
import dev.edgekit.demo.core.Quantization
import dev.edgekit.demo.core.TeachBatch
import dev.edgekit.demo.core.TrainableHeadSpec
import org.tensorflow.lite.DataType
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.gpu.CompatibilityList
import org.tensorflow.lite.gpu.GpuDelegate
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder

/** LiteRT flavor: the LiteRT Interpreter with XNNPACK (CPU) or the GPU delegate. */
object RuntimeFlavor {
    const val NAME = "LiteRT"
    val delegates = listOf("XNNPACK", "GPU")

    fun classifier(file: File, settings: RuntimeSettings): InferenceEngine = LiteRtEngine(file, settings)
    fun backbone(file: File, settings: RuntimeSettings): InferenceEngine = LiteRtEngine(file, settings)
    /** Batch, capacity and dimension are read from the program's own 'train' signature. */
    fun trainer(file: File, settings: RuntimeSettings, spec: TrainableHeadSpec): HeadTrainer = LiteRtHeadTrainer(file, settings.threads)
}

private fun direct(bytes: Int): ByteBuffer = ByteBuffer.allocateDirect(bytes).order(ByteOrder.nativeOrder())

private fun floats(values: FloatArray): ByteBuffer {
    val b = direct(values.size * 4)
    b.asFloatBuffer().put(values)
    return b
}

private fun readFloats(b: ByteBuffer, n: Int): FloatArray {
    b.rewind()
    val out = FloatArray(n)
    b.asFloatBuffer().get(out)
    return out
}

class LiteRtEngine(file: File, settings: RuntimeSettings) : InferenceEngine {
    private var gpu: GpuDelegate? = null
    private val interpreter: Interpreter
    override val description: String

    init {
        val options = Interpreter.Options().setNumThreads(settings.threads)
        var used = "XNNPACK"
        if (settings.delegate == "GPU") {
            val compat = CompatibilityList()
            if (compat.isDelegateSupportedOnThisDevice) {
                val delegate = GpuDelegate(compat.bestOptionsForThisDevice)
                options.addDelegate(delegate)
                gpu = delegate
                used = "GPU"
            } else {
                used = "XNNPACK (GPU delegate not supported on this device)"
            }
        }
        if (gpu == null) options.setUseXNNPACK(true)
        interpreter = Interpreter(file, options)
        description = "LiteRT, $used, ${settings.threads} threads"
    }

    override fun run(input: InputTensor): FloatArray {
        val inT = interpreter.getInputTensor(0)
        val inBuf = direct(inT.numBytes())
        when (inT.dataType()) {
            DataType.FLOAT32 -> inBuf.asFloatBuffer().put(input.floats ?: throw IllegalStateException("model wants float32 input"))
            DataType.INT8, DataType.UINT8 -> {
                val dtype = if (inT.dataType() == DataType.INT8) "int8" else "uint8"
                val q = inT.quantizationParams()
                val bytes = input.bytes ?: Preprocess.quantize(input.floats!!, Quantization(q.scale, q.zeroPoint), dtype)
                inBuf.put(bytes)
            }
            else -> throw IllegalStateException("unsupported input type ${inT.dataType()}")
        }
        inBuf.rewind()
        val outT = interpreter.getOutputTensor(0)
        val outBuf = direct(outT.numBytes())
        interpreter.run(inBuf, outBuf)
        outBuf.rewind()
        val n = outT.numElements()
        return when (outT.dataType()) {
            DataType.FLOAT32 -> readFloats(outBuf, n)
            DataType.INT8 -> FloatArray(n) { (outBuf.get(it).toInt() - outT.quantizationParams().zeroPoint) * outT.quantizationParams().scale }
            DataType.UINT8 -> FloatArray(n) { ((outBuf.get(it).toInt() and 0xFF) - outT.quantizationParams().zeroPoint) * outT.quantizationParams().scale }
            else -> throw IllegalStateException("unsupported output type ${outT.dataType()}")
        }
    }

    override fun close() {
        interpreter.close()
        gpu?.close()
    }
}

/**
 * The 'train' signature of the training .tflite (exporters/train_tflite.py):
 * (args_0 embeddings [B,D], args_1 onehot [B,C], args_2 mask [C], args_3 W [C,D], args_4 b [C],
 *  args_5 mW [C,D], args_6 mb [C], args_7 hparams [lr, momentum, weight_decay])
 * -> (output_0 W', output_1 b', output_2 mW', output_3 mb', output_4 loss [1]).
 * The weights travel as tensors, so this class keeps them between steps.
 */
class LiteRtHeadTrainer(file: File, threads: Int) : HeadTrainer {
    private val interpreter = Interpreter(file, Interpreter.Options().setNumThreads(threads))
    override val batch: Int
    override val dim: Int
    override val capacity: Int
    private var w = FloatArray(0)
    private var b = FloatArray(0)
    private var mw = FloatArray(0)
    private var mb = FloatArray(0)
    private var mask = FloatArray(0)
    private var hparams = FloatArray(3)

    init {
        if (SIGNATURE !in interpreter.signatureKeys) throw IllegalStateException("${file.name} has no '$SIGNATURE' signature")
        val f = interpreter.getInputTensorFromSignature("args_0", SIGNATURE).shape()
        val y = interpreter.getInputTensorFromSignature("args_1", SIGNATURE).shape()
        batch = f[0]; dim = f[1]; capacity = y[1]
    }

    override fun start(numClasses: Int, learningRate: Float, momentum: Float, weightDecay: Float) {
        w = FloatArray(capacity * dim); b = FloatArray(capacity)
        mw = FloatArray(capacity * dim); mb = FloatArray(capacity)
        mask = FloatArray(capacity) { if (it < numClasses) 1f else 0f }
        hparams = floatArrayOf(learningRate, momentum, weightDecay)
    }

    override fun step(b: TeachBatch): Float {
        val inputs = mapOf<String, Any>(
            "args_0" to floats(b.embeddings), "args_1" to floats(b.onehot), "args_2" to floats(mask),
            "args_3" to floats(w), "args_4" to floats(this.b), "args_5" to floats(mw), "args_6" to floats(mb),
            "args_7" to floats(hparams)
        )
        val out = mapOf<String, Any>(
            "output_0" to direct(w.size * 4), "output_1" to direct(this.b.size * 4),
            "output_2" to direct(mw.size * 4), "output_3" to direct(mb.size * 4), "output_4" to direct(4)
        )
        interpreter.runSignature(inputs, out, SIGNATURE)
        w = readFloats(out["output_0"] as ByteBuffer, w.size)
        this.b = readFloats(out["output_1"] as ByteBuffer, this.b.size)
        mw = readFloats(out["output_2"] as ByteBuffer, mw.size)
        mb = readFloats(out["output_3"] as ByteBuffer, mb.size)
        return readFloats(out["output_4"] as ByteBuffer, 1)[0]
    }

    override fun weights(): Pair<FloatArray, FloatArray> = Pair(w.copyOf(), b.copyOf())

    override fun close() = interpreter.close()

    companion object {
        const val SIGNATURE = "train"
    }
}
