import Foundation

struct ManifestError: Error, CustomStringConvertible {
    let description: String
}

/// Typed access to parsed JSON by dotted path ("preprocessing.mean", "inputs.0.shape").
struct JsonPath {
    let root: Any

    func find(_ path: String) -> Any? {
        var cur: Any? = root
        for part in path.split(separator: ".") {
            if let d = cur as? [String: Any] {
                cur = d[String(part)]
            } else if let a = cur as? [Any], let i = Int(part) {
                cur = (i >= 0 && i < a.count) ? a[i] : nil
            } else {
                return nil
            }
            if cur is NSNull { return nil }
        }
        return cur
    }

    func string(_ k: ManifestKey) throws -> String {
        guard let s = find(k.path) as? String else { throw ManifestError(description: "manifest field '\(k.path)' must be a string") }
        return s
    }

    func int(_ k: ManifestKey) throws -> Int {
        guard let n = find(k.path) as? NSNumber, n.doubleValue == n.doubleValue.rounded() else {
            throw ManifestError(description: "manifest field '\(k.path)' must be an integer")
        }
        return n.intValue
    }

    func number(_ k: ManifestKey) throws -> Double {
        guard let n = find(k.path) as? NSNumber else { throw ManifestError(description: "manifest field '\(k.path)' must be a number") }
        return n.doubleValue
    }

    func numbers(_ k: ManifestKey) throws -> [Double] {
        guard let a = find(k.path) as? [NSNumber] else { throw ManifestError(description: "manifest field '\(k.path)' must be an array of numbers") }
        return a.map { $0.doubleValue }
    }

    func strings(_ k: ManifestKey) throws -> [String] {
        guard let a = find(k.path) as? [String] else { throw ManifestError(description: "manifest field '\(k.path)' must be an array of strings") }
        return a
    }
}

struct PreprocessSpec {
    let resize: Int
    let crop: Int
    let interpolation: String
    let mean: [Float]
    let std: [Float]
    let scale: Float
    let channelOrder: String
    let layout: String
}

struct Quantization {
    let scale: Float
    let zeroPoint: Int
}

struct TensorSpec {
    let name: String
    let shape: [Int]
    let dtype: String
    let quantization: Quantization?
    let kind: String?
}

/// What teach mode needs (edgekit/trainable.py): backbone program, training-step program, and
/// the step's fixed batch and class capacity.
struct TrainableHeadSpec {
    let embeddingDim: Int
    let backboneFile: String
    let trainStepFile: String
    let batch: Int
    let maxClasses: Int
}

/// The sidecar manifest (edgekit/schema/manifest.schema.json), read only through ManifestKeys.
struct Manifest {
    let format: String
    let artifactFile: String
    let modelName: String
    let precision: String
    let labels: [String]
    let preprocessing: PreprocessSpec
    let input: TensorSpec
    let output: TensorSpec
    let trainableHead: TrainableHeadSpec?

    static func parse(_ data: Data) throws -> Manifest {
        let j = JsonPath(root: try JSONSerialization.jsonObject(with: data))
        let k = ManifestKeys.self
        let interpolation = try j.string(k.interpolation)
        guard ["bilinear", "bicubic", "nearest", "lanczos"].contains(interpolation) else {
            throw ManifestError(description: "unknown interpolation '\(interpolation)'")
        }
        let mean = try j.numbers(k.mean), std = try j.numbers(k.std)
        guard mean.count == 3, std.count == 3 else { throw ManifestError(description: "preprocessing.mean and .std must have 3 values") }
        let pre = PreprocessSpec(
            resize: try j.int(k.resize), crop: try j.int(k.crop), interpolation: interpolation,
            mean: mean.map { Float($0) }, std: std.map { Float($0) }, scale: Float(try j.number(k.scale)),
            channelOrder: try j.string(k.channelOrder), layout: try j.string(k.layout))
        func quant(_ s: ManifestKey, _ z: ManifestKey) throws -> Quantization? {
            guard j.find(s.path) != nil else { return nil }
            return Quantization(scale: Float(try j.number(s)), zeroPoint: try j.int(z))
        }
        let input = TensorSpec(
            name: try j.string(k.inputName), shape: try j.numbers(k.inputShape).map { Int($0) },
            dtype: try j.string(k.inputDtype), quantization: try quant(k.inputScale, k.inputZeroPoint), kind: nil)
        let output = TensorSpec(
            name: try j.string(k.outputName), shape: try j.numbers(k.outputShape).map { Int($0) },
            dtype: try j.string(k.outputDtype), quantization: try quant(k.outputScale, k.outputZeroPoint),
            kind: j.find(k.outputKind.path) as? String)
        var head: TrainableHeadSpec? = nil
        if j.find(k.head.path) != nil, j.find(k.headBackbone.path) != nil, j.find(k.headTrainStep.path) != nil {
            head = TrainableHeadSpec(
                embeddingDim: try j.int(k.headEmbeddingDim), backboneFile: try j.string(k.headBackbone),
                trainStepFile: try j.string(k.headTrainStep), batch: try j.int(k.headBatch),
                maxClasses: try j.int(k.headMaxClasses))
        }
        return Manifest(
            format: try j.string(k.format), artifactFile: try j.string(k.artifactFile),
            modelName: try j.string(k.modelName), precision: try j.string(k.precision),
            labels: try j.strings(k.labels), preprocessing: pre, input: input, output: output,
            trainableHead: head)
    }
}
