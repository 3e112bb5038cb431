import CoreML
import Foundation

/// The taught head: W [C, D], b [C] and C labels; logits = W e + b on the backbone's embedding.
struct LinearHead: Codable {
    let labels: [String]
    let dim: Int
    let weight: [Float]
    let bias: [Float]

    func logits(_ e: [Float]) -> [Float] {
        (0..<labels.count).map { c in
            var s: Float = 0
            for i in 0..<dim { s += weight[c * dim + i] * e[i] }
            return s + bias[c]
        }
    }
}

/// The taught head on disk (Application Support/taught_head-<key>.json), written atomically.
struct HeadStore {
    let url: URL

    init(key: String) throws {
        let dir = try FileManager.default.url(for: .applicationSupportDirectory, in: .userDomainMask, appropriateFor: nil, create: true)
        url = dir.appendingPathComponent("taught_head-\(key).json")
    }

    func load() -> LinearHead? {
        guard let d = try? Data(contentsOf: url) else { return nil }
        return try? JSONDecoder().decode(LinearHead.self, from: d)
    }

    func save(_ h: LinearHead) throws {
        try JSONEncoder().encode(h).write(to: url, options: .atomic)
    }

    func clear() {
        try? FileManager.default.removeItem(at: url)
    }
}

/// Runs the exported Core ML training step (exporters/train_coreml.py, an ML Program):
///   inputs  embeddings [B,D], onehot [B,C], mask [C], W [C,D], b [C], mW [C,D], mb [C], hparams [3]
///   outputs W_new, b_new, mW_new, mb_new, loss [1]
/// The app keeps W, b and the momentum buffers between calls; padding rows are all-zero one-hot
/// rows and unused classes are masked, as in edgekit.head.
final class CoreMLHeadTrainer {
    let model: MLModel
    let batch: Int, capacity: Int, dim: Int

    init(engine: CoreMLEngine, spec: TrainableHeadSpec) {
        model = engine.model
        batch = spec.batch; capacity = spec.maxClasses; dim = spec.embeddingDim
    }

    /// Epochs of SGD over the examples from a zero head (defaults as `edgekit tune`).
    func train(examples: [[Float]], labels: [Int], classNames: [String], epochs: Int = 20, lr: Float = 0.05,
               momentum: Float = 0.9, weightDecay: Float = 0, progress: (Int, Float) -> Void) throws -> LinearHead {
        let C = classNames.count
        guard C >= 2 else { throw ManifestError(description: "teach at least two classes") }
        guard C <= capacity else { throw ManifestError(description: "the training program holds at most \(capacity) classes") }
        var W = [Float](repeating: 0, count: capacity * dim), b = [Float](repeating: 0, count: capacity)
        var mW = W, mb = b
        let mask = (0..<capacity).map { $0 < C ? Float(1) : Float(0) }
        let hp: [Float] = [lr, momentum, weightDecay]
        var rng = SeededGenerator(seed: 0)
        for epoch in 1...epochs {
            let order = Array(examples.indices).shuffled(using: &rng)
            var total: Float = 0
            var start = 0
            while start < order.count {
                let n = min(batch, order.count - start)
                var f = [Float](repeating: 0, count: batch * dim), y = [Float](repeating: 0, count: batch * capacity)
                for r in 0..<n {
                    let i = order[start + r]
                    for d in 0..<dim { f[r * dim + d] = examples[i][d] }
                    y[r * capacity + labels[i]] = 1
                }
                let inputs: [String: Any] = [
                    "embeddings": try CoreMLEngine.array(f, [batch, dim]), "onehot": try CoreMLEngine.array(y, [batch, capacity]),
                    "mask": try CoreMLEngine.array(mask, [capacity]), "W": try CoreMLEngine.array(W, [capacity, dim]),
                    "b": try CoreMLEngine.array(b, [capacity]), "mW": try CoreMLEngine.array(mW, [capacity, dim]),
                    "mb": try CoreMLEngine.array(mb, [capacity]), "hparams": try CoreMLEngine.array(hp, [3]),
                ]
                let out = try model.prediction(from: MLDictionaryFeatureProvider(dictionary: inputs))
                func get(_ k: String) throws -> [Float] {
                    guard let a = out.featureValue(for: k)?.multiArrayValue else { throw ManifestError(description: "training step has no output \(k)") }
                    return CoreMLEngine.floats(a)
                }
                W = try get("W_new"); b = try get("b_new"); mW = try get("mW_new"); mb = try get("mb_new")
                total += try get("loss")[0] * Float(n)
                start += n
            }
            progress(epoch, total / Float(examples.count))
        }
        return LinearHead(labels: classNames, dim: dim, weight: Array(W[0..<(C * dim)]), bias: Array(b[0..<C]))
    }
}

/// A small deterministic generator so a teach run is reproducible.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E3779B97F4A7C15 }
    mutating func next() -> UInt64 {
        state = state &+ 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
}
