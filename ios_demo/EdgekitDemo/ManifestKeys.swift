import Foundation

/// JSON types as the manifest JSON Schema names them.
enum JsonType {
    case string, integer, number, boolean, array, object
}

/// One manifest field the app reads: its dotted path and the JSON type it expects there.
struct ManifestKey {
    let path: String
    let type: JsonType
    let required: Bool

    init(_ path: String, _ type: JsonType, required: Bool) {
        self.path = path
        self.type = type
        self.required = required
    }
}

/// Every manifest field the iOS app reads, in one place (the same list as the Android app's
/// ManifestKeys.kt). The app reads the manifest only through these keys (Manifest.swift);
/// tests/test_apps_contract.py extracts this list and checks it against
/// edgekit/schema/manifest.schema.json.
enum ManifestKeys {
    static let format = ManifestKey("artifact.format", .string, required: true)
    static let artifactFile = ManifestKey("artifact.file", .string, required: true)
    static let modelName = ManifestKey("model.name", .string, required: true)
    static let precision = ManifestKey("precision", .string, required: true)
    static let labels = ManifestKey("labels", .array, required: true)

    static let resize = ManifestKey("preprocessing.resize", .integer, required: true)
    static let crop = ManifestKey("preprocessing.crop", .integer, required: true)
    static let interpolation = ManifestKey("preprocessing.interpolation", .string, required: true)
    static let mean = ManifestKey("preprocessing.mean", .array, required: true)
    static let std = ManifestKey("preprocessing.std", .array, required: true)
    static let scale = ManifestKey("preprocessing.scale", .number, required: true)
    static let channelOrder = ManifestKey("preprocessing.channel_order", .string, required: true)
    static let layout = ManifestKey("preprocessing.layout", .string, required: true)

    static let inputName = ManifestKey("inputs.0.name", .string, required: true)
    static let inputShape = ManifestKey("inputs.0.shape", .array, required: true)
    static let inputDtype = ManifestKey("inputs.0.dtype", .string, required: true)
    static let inputScale = ManifestKey("inputs.0.quantization.scale", .number, required: false)
    static let inputZeroPoint = ManifestKey("inputs.0.quantization.zero_point", .integer, required: false)

    static let outputName = ManifestKey("outputs.0.name", .string, required: true)
    static let outputShape = ManifestKey("outputs.0.shape", .array, required: true)
    static let outputDtype = ManifestKey("outputs.0.dtype", .string, required: true)
    static let outputKind = ManifestKey("outputs.0.kind", .string, required: false)
    static let outputScale = ManifestKey("outputs.0.quantization.scale", .number, required: false)
    static let outputZeroPoint = ManifestKey("outputs.0.quantization.zero_point", .integer, required: false)

    static let head = ManifestKey("trainable_head", .object, required: false)
    static let headEmbeddingDim = ManifestKey("trainable_head.embedding_dim", .integer, required: false)
    static let headBackbone = ManifestKey("trainable_head.backbone", .string, required: false)
    static let headTrainStep = ManifestKey("trainable_head.train_step", .string, required: false)
    static let headBatch = ManifestKey("trainable_head.optimizer.batch", .integer, required: false)
    static let headMaxClasses = ManifestKey("trainable_head.optimizer.max_classes", .integer, required: false)
}

/// Where the app looks for what `edgekit export ... --target coreml --bundle ios_demo` writes
/// (edgekit/bundle.py): the folder reference EdgekitDemo/edgekit, copied into the app bundle.
enum AssetPaths {
    static let appFolder = "EdgekitDemo"
    static let dir = "edgekit"
    static let manifest = "edgekit/manifest.json"
    static let goldenDir = "edgekit/golden"
    static let goldenInput = "edgekit/golden/input.bin"
    static let goldenInputMeta = "edgekit/golden/input.json"
    static let goldenCrop = "edgekit/golden/crop_rgb.bin"
    static let goldenPhoto = "edgekit/golden/photo.jpg"
    static let goldenExpected = "edgekit/golden/expected.json"
    static let goldenOutput = "edgekit/golden/output.bin"

    /// The bundled folder's URL inside the app (nil when nothing was bundled).
    static func url(_ relative: String, in bundle: Bundle = .main) -> URL? {
        guard let root = bundle.resourceURL else { return nil }
        let u = root.appendingPathComponent(relative)
        return FileManager.default.fileExists(atPath: u.path) ? u : nil
    }
}
