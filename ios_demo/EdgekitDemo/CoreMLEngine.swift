import CoreML
import Foundation

/// Compiles a bundled .mlpackage once (cached in Application Support, keyed by the manifest) and
/// runs it. Threads are not a Core ML setting; the compute units are (CPU, CPU+GPU, all incl.
/// the Neural Engine).
final class CoreMLEngine {
    let model: MLModel
    let inputName: String
    let outputName: String

    init(package: URL, cacheKey: String, computeUnits: MLComputeUnits) throws {
        let fm = FileManager.default
        let cacheDir = try fm.url(for: .applicationSupportDirectory, in: .userDomainMask, appropriateFor: nil, create: true)
            .appendingPathComponent("edgekit-\(cacheKey)", isDirectory: true)
        try fm.createDirectory(at: cacheDir, withIntermediateDirectories: true)
        let compiled = cacheDir.appendingPathComponent(package.deletingPathExtension().lastPathComponent + ".mlmodelc")
        if !fm.fileExists(atPath: compiled.path) {
            let tmp = try MLModel.compileModel(at: package)
            try? fm.removeItem(at: compiled)
            try fm.moveItem(at: tmp, to: compiled)
        }
        let config = MLModelConfiguration()
        config.computeUnits = computeUnits
        model = try MLModel(contentsOf: compiled, configuration: config)
        guard let i = model.modelDescription.inputDescriptionsByName.keys.sorted().first,
              let o = model.modelDescription.outputDescriptionsByName.keys.sorted().first else {
            throw ManifestError(description: "\(package.lastPathComponent) has no inputs or outputs")
        }
        inputName = i
        outputName = o
    }

    /// One input tensor (float32 values in `shape`) -> the first output as float32.
    func run(_ values: [Float], shape: [Int], inputName name: String? = nil) throws -> [Float] {
        let x = try CoreMLEngine.array(values, shape)
        let out = try model.prediction(from: MLDictionaryFeatureProvider(dictionary: [name ?? inputName: x]))
        guard let y = out.featureValue(for: outputName)?.multiArrayValue else {
            throw ManifestError(description: "output \(outputName) is not a tensor")
        }
        return CoreMLEngine.floats(y)
    }

    static func floats(_ a: MLMultiArray) -> [Float] {
        var out = [Float](repeating: 0, count: a.count)
        switch a.dataType {
        case .float32:
            let p = a.dataPointer.bindMemory(to: Float.self, capacity: a.count)
            for i in 0..<a.count { out[i] = p[i] }
        default:
            for i in 0..<a.count { out[i] = a[i].floatValue }
        }
        return out
    }

    static func array(_ values: [Float], _ shape: [Int]) throws -> MLMultiArray {
        let x = try MLMultiArray(shape: shape.map { NSNumber(value: $0) }, dataType: .float32)
        let p = x.dataPointer.bindMemory(to: Float.self, capacity: values.count)
        for i in 0..<values.count { p[i] = values[i] }
        return x
    }
}
