package dev.edgekit.demo

import dev.edgekit.demo.core.InputTensor
import dev.edgekit.demo.core.TeachBatch
import dev.edgekit.demo.core.TrainableHeadSpec
import org.pytorch.executorch.DType
import org.pytorch.executorch.EValue
import org.pytorch.executorch.Module
import org.pytorch.executorch.Tensor
import org.pytorch.executorch.training.SGD
import org.pytorch.executorch.training.TrainingModule
import java.io.File

/**
 * ExecuTorch flavor (org.pytorch:executorch-android). The .pte was lowered to XNNPACK at export
 * time, so the delegate is fixed by the artifact; the thread count goes to Module.load.
 */
object RuntimeFlavor {
    const val NAME = "ExecuTorch"
    val delegates = listOf("XNNPACK")

    fun classifier(file: File, settings: RuntimeSettings): InferenceEngine = ExecuTorchEngine(file, settings)
    fun backbone(file: File, settings: RuntimeSettings): InferenceEngine = ExecuTorchEngine(file, settings)
    fun trainer(file: File, settings: RuntimeSettings, spec: TrainableHeadSpec): HeadTrainer =
        ExecuTorchHeadTrainer(file, spec.batch, spec.maxClasses, spec.embeddingDim)
}

class ExecuTorchEngine(file: File, settings: RuntimeSettings) : InferenceEngine {
    private val module = Module.load(file.absolutePath, Module.LOAD_MODE_MMAP, settings.threads)
    override val description = "ExecuTorch, XNNPACK (lowered at export), ${settings.threads} threads"

    override fun run(input: InputTensor): FloatArray {
        val shape = LongArray(input.shape.size) { input.shape[it].toLong() }
        val t = when (input.dtype) {
            "float32" -> Tensor.fromBlob(input.floats!!, shape)
            "int8" -> Tensor.fromBlob(input.bytes!!, shape)
            "uint8" -> Tensor.fromBlobUnsigned(input.bytes!!, shape)
            else -> throw IllegalStateException("unsupported input dtype ${input.dtype}")
        }
        val out = module.forward(EValue.from(t))[0].toTensor()
        return when (out.dtype()) {
            DType.FLOAT -> out.dataAsFloatArray
            else -> throw IllegalStateException("unsupported output dtype ${out.dtype()} (edgekit ExecuTorch exports have float outputs)")
        }
    }

    override fun close() = module.destroy()
}

/**
 * The joint forward/backward program of exporters/train_executorch.py: method "forward"
 * (embeddings [B,D], onehot [B,C], mask [C]) -> (loss, ...), parameters "weight" [C,D] and "bias"
 * [C] (zeros at load), updated in place by ExecuTorch's SGD optimizer.
 */
class ExecuTorchHeadTrainer(
    private val file: File,
    override val batch: Int,
    override val capacity: Int,
    override val dim: Int
) : HeadTrainer {
    // shapes come from the manifest (trainable_head: embedding_dim, optimizer.batch/max_classes):
    // the Java training API exposes parameters only after the method has run once
    private var module = TrainingModule.load(file.absolutePath)
    private var sgd: SGD? = null
    private var mask: Tensor? = null

    override fun start(numClasses: Int, learningRate: Float, momentum: Float, weightDecay: Float) {
        module.destroy()
        module = TrainingModule.load(file.absolutePath) // back to the program's zero head
        val m = FloatArray(capacity) { if (it < numClasses) 1f else 0f }
        mask = Tensor.fromBlob(m, longArrayOf(capacity.toLong()))
        module.executeForwardBackward(
            METHOD,
            EValue.from(Tensor.fromBlob(FloatArray(batch * dim), longArrayOf(batch.toLong(), dim.toLong()))),
            EValue.from(Tensor.fromBlob(FloatArray(batch * capacity), longArrayOf(batch.toLong(), capacity.toLong()))),
            EValue.from(mask)
        )
        // that zero batch (loss 0, gradients 0) made the parameters visible; SGD updates them in place
        sgd = SGD.create(module.namedParameters(METHOD), learningRate.toDouble(), momentum.toDouble(), 0.0, weightDecay.toDouble(), false)
    }

    override fun step(b: TeachBatch): Float {
        val out = module.executeForwardBackward(
            METHOD,
            EValue.from(Tensor.fromBlob(b.embeddings, longArrayOf(batch.toLong(), dim.toLong()))),
            EValue.from(Tensor.fromBlob(b.onehot, longArrayOf(batch.toLong(), capacity.toLong()))),
            EValue.from(mask)
        )
        sgd!!.step(module.namedGradients(METHOD))
        return out[0].toTensor().dataAsFloatArray[0]
    }

    override fun weights(): Pair<FloatArray, FloatArray> {
        val p = module.namedParameters(METHOD)
        return Pair(p["weight"]!!.dataAsFloatArray, p["bias"]!!.dataAsFloatArray)
    }

    override fun close() {
        sgd?.destroy()
        module.destroy()
    }

    companion object {
        const val METHOD = "forward"
    }
}
