package dev.edgekit.demo.core

/** JSON types as the manifest JSON Schema names them. */
enum class JsonType { STRING, INTEGER, NUMBER, BOOLEAN, ARRAY, OBJECT }

/** One manifest field the app reads: its dotted path and the JSON type it expects there. */
class ManifestKey(val path: String, val type: JsonType, val required: Boolean)

/**
 * Every manifest field the Android app reads, in one place. The app reads the manifest only
 * through these keys (Manifest.kt); tests/test_apps_contract.py extracts this list and checks each
 * path exists in edgekit/schema/manifest.schema.json with this type.
 */
object ManifestKeys {
    val FORMAT = ManifestKey("artifact.format", JsonType.STRING, true)
    val ARTIFACT_FILE = ManifestKey("artifact.file", JsonType.STRING, true)
    val MODEL_NAME = ManifestKey("model.name", JsonType.STRING, true)
    val PRECISION = ManifestKey("precision", JsonType.STRING, true)
    val LABELS = ManifestKey("labels", JsonType.ARRAY, true)

    val RESIZE = ManifestKey("preprocessing.resize", JsonType.INTEGER, true)
    val CROP = ManifestKey("preprocessing.crop", JsonType.INTEGER, true)
    val INTERPOLATION = ManifestKey("preprocessing.interpolation", JsonType.STRING, true)
    val MEAN = ManifestKey("preprocessing.mean", JsonType.ARRAY, true)
    val STD = ManifestKey("preprocessing.std", JsonType.ARRAY, true)
    val SCALE = ManifestKey("preprocessing.scale", JsonType.NUMBER, true)
    val CHANNEL_ORDER = ManifestKey("preprocessing.channel_order", JsonType.STRING, true)
    val LAYOUT = ManifestKey("preprocessing.layout", JsonType.STRING, true)

    val INPUT_NAME = ManifestKey("inputs.0.name", JsonType.STRING, true)
    val INPUT_SHAPE = ManifestKey("inputs.0.shape", JsonType.ARRAY, true)
    val INPUT_DTYPE = ManifestKey("inputs.0.dtype", JsonType.STRING, true)
    val INPUT_SCALE = ManifestKey("inputs.0.quantization.scale", JsonType.NUMBER, false)
    val INPUT_ZERO_POINT = ManifestKey("inputs.0.quantization.zero_point", JsonType.INTEGER, false)

    val OUTPUT_NAME = ManifestKey("outputs.0.name", JsonType.STRING, true)
    val OUTPUT_SHAPE = ManifestKey("outputs.0.shape", JsonType.ARRAY, true)
    val OUTPUT_DTYPE = ManifestKey("outputs.0.dtype", JsonType.STRING, true)
    val OUTPUT_KIND = ManifestKey("outputs.0.kind", JsonType.STRING, false)
    val OUTPUT_SCALE = ManifestKey("outputs.0.quantization.scale", JsonType.NUMBER, false)
    val OUTPUT_ZERO_POINT = ManifestKey("outputs.0.quantization.zero_point", JsonType.INTEGER, false)

    val HEAD = ManifestKey("trainable_head", JsonType.OBJECT, false)
    val HEAD_EMBEDDING_DIM = ManifestKey("trainable_head.embedding_dim", JsonType.INTEGER, false)
    val HEAD_BACKBONE = ManifestKey("trainable_head.backbone", JsonType.STRING, false)
    val HEAD_TRAIN_STEP = ManifestKey("trainable_head.train_step", JsonType.STRING, false)
    val HEAD_BATCH = ManifestKey("trainable_head.optimizer.batch", JsonType.INTEGER, false)
    val HEAD_MAX_CLASSES = ManifestKey("trainable_head.optimizer.max_classes", JsonType.INTEGER, false)

    val ALL = listOf(
        FORMAT, ARTIFACT_FILE, MODEL_NAME, PRECISION, LABELS,
        RESIZE, CROP, INTERPOLATION, MEAN, STD, SCALE, CHANNEL_ORDER, LAYOUT,
        INPUT_NAME, INPUT_SHAPE, INPUT_DTYPE, INPUT_SCALE, INPUT_ZERO_POINT,
        OUTPUT_NAME, OUTPUT_SHAPE, OUTPUT_DTYPE, OUTPUT_KIND, OUTPUT_SCALE, OUTPUT_ZERO_POINT,
        HEAD, HEAD_EMBEDDING_DIM, HEAD_BACKBONE, HEAD_TRAIN_STEP, HEAD_BATCH, HEAD_MAX_CLASSES
    )
}

/**
 * Where the app looks for what `edgekit export ... --bundle android_demo` puts in place
 * (edgekit/bundle.py writes the same paths; tests/test_apps_contract.py checks both agree).
 * The folder is relative to the flavor's assets: app/src/litert/assets for .tflite artifacts,
 * app/src/executorch/assets for .pte artifacts.
 */
object AssetPaths {
    const val DIR = "edgekit"
    const val MANIFEST = "edgekit/manifest.json"
    const val GOLDEN_DIR = "edgekit/golden"
    const val GOLDEN_INPUT = "edgekit/golden/input.bin"
    const val GOLDEN_INPUT_META = "edgekit/golden/input.json"
    const val GOLDEN_CROP = "edgekit/golden/crop_rgb.bin"
    const val GOLDEN_PHOTO = "edgekit/golden/photo.jpg"
    const val GOLDEN_EXPECTED = "edgekit/golden/expected.json"
    const val GOLDEN_OUTPUT = "edgekit/golden/output.bin"
    const val FLAVOR_LITERT_ASSETS = "app/src/litert/assets"
    const val FLAVOR_EXECUTORCH_ASSETS = "app/src/executorch/assets"
}
