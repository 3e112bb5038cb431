import CoreML
import Foundation
import QuartzCore

/// The app state: loads the bundled artifact through its manifest, classifies frames (top-3 +
/// latency), and runs Teach mode with the exported Core ML training step.
@MainActor
final class DemoModel: ObservableObject {
    @Published var info = ""
    @Published var results: [Prediction] = []
    @Published var latencyMs: Double = 0
    @Published var medianMs: Double = 0
    @Published var error: String?
    @Published var teachStatus = "Type a class name, point the camera, tap Add photo (5+ per class)"
    @Published var computeUnits: MLComputeUnits = .all { didSet { reload() } }
    @Published var teaching = false

    let camera = Camera()
    private let work = DispatchQueue(label: "edgekit.model")
    private var manifest: Manifest?
    private var manifestKey = ""
    private var classifier: CoreMLEngine?
    private var backbone: CoreMLEngine?
    private var trainStep: CoreMLEngine?
    private var head: LinearHead?
    private var store: HeadStore?
    private var busy = false
    private var training = false
    private var lastFrame: RgbImage?
    private var recent: [Double] = []
    private var examples: [[Float]] = []
    private var exampleLabels: [Int] = []
    private(set) var classNames: [String] = []

    var canTeach: Bool { manifest?.trainableHead != nil }

    func start() {
        reload()
        camera.onFrame = { [weak self] img in
            Task { @MainActor in self?.frame(img) }
        }
        camera.start()
    }

    func reload() {
        let units = computeUnits
        work.async {
            do {
                guard let murl = AssetPaths.url(AssetPaths.manifest), let folder = AssetPaths.url(AssetPaths.dir) else {
                    throw ManifestError(description: "no model bundled: run `edgekit export MODEL --target coreml --bundle ios_demo`, then rebuild")
                }
                let data = try Data(contentsOf: murl)
                let m = try Manifest.parse(data)
                let key = DemoModel.stableKey(data)
                let cls = try CoreMLEngine(package: folder.appendingPathComponent(m.artifactFile), cacheKey: key, computeUnits: units)
                var bb: CoreMLEngine? = nil, ts: CoreMLEngine? = nil
                if let h = m.trainableHead {
                    bb = try CoreMLEngine(package: folder.appendingPathComponent(h.backboneFile), cacheKey: key, computeUnits: units)
                    // the training step runs in float32 on the CPU (its numbers match edgekit's numpy oracle)
                    ts = try CoreMLEngine(package: folder.appendingPathComponent(h.trainStepFile), cacheKey: key, computeUnits: .cpuOnly)
                }
                let store = try HeadStore(key: key)
                let head = store.load()
                Task { @MainActor in
                    self.manifest = m; self.manifestKey = key
                    self.classifier = cls; self.backbone = bb; self.trainStep = ts
                    self.store = store; self.head = head
                    self.info = "\(m.modelName) \(m.precision) · Core ML \(DemoModel.unitsName(units))"
                        + (head.map { " · taught: \($0.labels.joined(separator: ", "))" } ?? "")
                        + (m.trainableHead == nil ? " · no trainable head (export with --trainable-head for Teach)" : "")
                }
            } catch {
                Task { @MainActor in self.error = "\(error)" }
            }
        }
    }

    /// FNV-1a of the manifest: names the compiled-model cache and the taught head (stable across launches).
    nonisolated static func stableKey(_ data: Data) -> String {
        var h: UInt64 = 0xcbf29ce484222325
        for byte in data { h = (h ^ UInt64(byte)) &* 0x100000001b3 }
        return String(h, radix: 16)
    }

    nonisolated static func unitsName(_ u: MLComputeUnits) -> String {
        switch u {
        case .cpuOnly: return "CPU"
        case .cpuAndGPU: return "CPU+GPU"
        case .cpuAndNeuralEngine: return "CPU+Neural Engine"
        default: return "all (CPU, GPU, Neural Engine)"
        }
    }

    private func frame(_ img: RgbImage) {
        lastFrame = img
        guard !busy, !training, let m = manifest else { return }
        let taught = head
        guard let engine = taught != nil ? backbone : classifier else { return }
        busy = true
        work.async {
            defer { Task { @MainActor in self.busy = false } }
            do {
                let x = Preprocess.toInput(img, m)
                let t0 = CACurrentMediaTime()
                let out = try engine.run(x, shape: Preprocess.shape(m.preprocessing))
                let ms = (CACurrentMediaTime() - t0) * 1000
                let top = taught.map { Classification.topK($0.logits(out), kind: "logits", labels: $0.labels, k: 3) }
                    ?? Classification.topK(out, kind: m.output.kind, labels: m.labels, k: 3)
                Task { @MainActor in
                    self.results = top
                    self.latencyMs = ms
                    self.recent.append(ms)
                    if self.recent.count > 30 { self.recent.removeFirst() }
                    self.medianMs = self.recent.sorted()[self.recent.count / 2]
                }
            } catch {
                Task { @MainActor in self.error = "\(error)" }
            }
        }
    }

    func addPhoto(className: String) {
        let name = className.trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty, let img = lastFrame, let m = manifest, let bb = backbone else { return }
        work.async {
            guard let e = try? bb.run(Preprocess.toInput(img, m), shape: Preprocess.shape(m.preprocessing)) else { return }
            Task { @MainActor in
                var idx = self.classNames.firstIndex(of: name) ?? -1
                if idx < 0 { self.classNames.append(name); idx = self.classNames.count - 1 }
                self.examples.append(e); self.exampleLabels.append(idx)
                self.teachStatus = self.classNames.enumerated()
                    .map { i, n in "\(n): \(self.exampleLabels.filter { $0 == i }.count)" }.joined(separator: ", ")
            }
        }
    }

    func train() {
        guard let m = manifest, let spec = m.trainableHead, let ts = trainStep, let store = store else { return }
        training = true
        let (ex, lb, names) = (examples, exampleLabels, classNames)
        work.async {
            do {
                let trainer = CoreMLHeadTrainer(engine: ts, spec: spec)
                let h = try trainer.train(examples: ex, labels: lb, classNames: names) { epoch, loss in
                    Task { @MainActor in self.teachStatus = String(format: "epoch %d: loss %.4f", epoch, loss) }
                }
                try store.save(h)
                Task { @MainActor in
                    self.head = h; self.training = false
                    self.teachStatus = "Taught \(h.labels.joined(separator: ", ")); kept across restarts"
                }
            } catch {
                Task { @MainActor in self.training = false; self.teachStatus = "Training failed: \(error)" }
            }
        }
    }

    func forget() {
        store?.clear(); head = nil
        examples = []; exampleLabels = []; classNames = []
        teachStatus = "Forgot the taught classes"
    }
}
