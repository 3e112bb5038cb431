package dev.edgekit.demo.core

/** The manifest `preprocessing` block (same meaning as edgekit/preprocess.py). */
class PreprocessSpec(
    val resize: Int,
    val crop: Int,
    val interpolation: String,
    val mean: FloatArray,
    val std: FloatArray,
    val scale: Float,
    val channelOrder: String,
    val layout: String
)

/** Scale and zero point of an int8/uint8 tensor (TFLite convention: real = scale * (q - zp)). */
class Quantization(val scale: Float, val zeroPoint: Int)

class TensorSpec(val name: String, val shape: IntArray, val dtype: String, val quantization: Quantization?, val kind: String?)

/**
 * What teach mode needs (edgekit/trainable.py): the backbone program (image -> embedding), the
 * head training-step program, and the step's fixed batch and class capacity. Learning rate,
 * momentum and epochs are app settings (defaults as `edgekit tune`).
 */
class TrainableHeadSpec(
    val embeddingDim: Int,
    val backboneFile: String,
    val trainStepFile: String,
    val batch: Int,
    val maxClasses: Int
)

class Manifest(
    val format: String,
    val artifactFile: String,
    val modelName: String,
    val precision: String,
    val labels: List<String>,
    val preprocessing: PreprocessSpec,
    val input: TensorSpec,
    val output: TensorSpec,
    val trainableHead: TrainableHeadSpec?
) {
    companion object {
        val INTERPOLATIONS = listOf("bilinear", "bicubic", "nearest", "lanczos")
        val INPUT_DTYPES = listOf("float32", "int8", "uint8")

        /** Parse a sidecar manifest (edgekit/schema/manifest.schema.json); errors name the field. */
        fun parse(text: String): Manifest {
            val j = JsonPath(Json.parse(text))
            val k = ManifestKeys
            val interpolation = j.string(k.INTERPOLATION.path)
            if (interpolation !in INTERPOLATIONS) throw JsonException("unknown interpolation '$interpolation' (expected one of $INTERPOLATIONS)")
            val mean = j.numbers(k.MEAN.path)
            val std = j.numbers(k.STD.path)
            if (mean.size != 3 || std.size != 3) throw JsonException("preprocessing.mean and .std must have 3 values")
            val layout = j.string(k.LAYOUT.path)
            if (layout != "NCHW" && layout != "NHWC") throw JsonException("preprocessing.layout must be NCHW or NHWC, got '$layout'")
            val order = j.string(k.CHANNEL_ORDER.path)
            if (order != "RGB" && order != "BGR") throw JsonException("preprocessing.channel_order must be RGB or BGR, got '$order'")
            val pre = PreprocessSpec(
                resize = j.int(k.RESIZE.path),
                crop = j.int(k.CROP.path),
                interpolation = interpolation,
                mean = FloatArray(3) { mean[it].toFloat() },
                std = FloatArray(3) { std[it].toFloat() },
                scale = j.number(k.SCALE.path).toFloat(),
                channelOrder = order,
                layout = layout
            )
            val input = TensorSpec(
                j.string(k.INPUT_NAME.path), j.ints(k.INPUT_SHAPE.path), j.string(k.INPUT_DTYPE.path),
                quantization(j, k.INPUT_SCALE, k.INPUT_ZERO_POINT), null
            )
            if (input.dtype !in INPUT_DTYPES) throw JsonException("input dtype '${input.dtype}' is not supported (expected one of $INPUT_DTYPES)")
            if (input.dtype != "float32" && input.quantization == null) throw JsonException("an ${input.dtype} input needs inputs[0].quantization")
            val output = TensorSpec(
                j.string(k.OUTPUT_NAME.path), j.ints(k.OUTPUT_SHAPE.path), j.string(k.OUTPUT_DTYPE.path),
                quantization(j, k.OUTPUT_SCALE, k.OUTPUT_ZERO_POINT), j.stringOrNull(k.OUTPUT_KIND.path)
            )
            val labels = j.strings(k.LABELS.path)
            var head: TrainableHeadSpec? = null
            if (!j.isNullOrAbsent(k.HEAD.path) && j.stringOrNull(k.HEAD_BACKBONE.path) != null && j.stringOrNull(k.HEAD_TRAIN_STEP.path) != null) {
                head = TrainableHeadSpec(
                    embeddingDim = j.int(k.HEAD_EMBEDDING_DIM.path),
                    backboneFile = j.string(k.HEAD_BACKBONE.path),
                    trainStepFile = j.string(k.HEAD_TRAIN_STEP.path),
                    batch = j.int(k.HEAD_BATCH.path),
                    maxClasses = j.int(k.HEAD_MAX_CLASSES.path)
                )
            }
            return Manifest(
                format = j.string(k.FORMAT.path),
                artifactFile = j.string(k.ARTIFACT_FILE.path),
                modelName = j.string(k.MODEL_NAME.path),
                precision = j.string(k.PRECISION.path),
                labels = labels,
                preprocessing = pre,
                input = input,
                output = output,
                trainableHead = head
            )
        }

        private fun quantization(j: JsonPath, scale: ManifestKey, zeroPoint: ManifestKey): Quantization? {
            val s = j.numberOrNull(scale.path) ?: return null
            return Quantization(s.toFloat(), j.int(zeroPoint.path))
        }
    }
}
