import CoreGraphics
import ImageIO
import XCTest
@testable import EdgekitDemo

/// The golden vectors `edgekit export MODEL --target coreml --bundle ios_demo` wrote
/// (edgekit/bundle.py): the app's preprocessing reproduces edgekit's input tensor, its top-3
/// selection reproduces edgekit's on the recorded output, and Core ML on this device gives
/// edgekit's top-3 on the golden input (when the bundling machine could run Core ML, i.e. macOS).
final class GoldenVectorTests: XCTestCase {
    private func data(_ path: String) throws -> Data {
        guard let url = AssetPaths.url(path) else {
            throw XCTSkip("nothing bundled at \(path): run `edgekit export MODEL --target coreml --bundle ios_demo`")
        }
        return try Data(contentsOf: url)
    }

    private func json(_ path: String) throws -> JsonPath {
        JsonPath(root: try JSONSerialization.jsonObject(with: try data(path)))
    }

    private func manifest() throws -> Manifest { try Manifest.parse(try data(AssetPaths.manifest)) }

    private func goldenInput() throws -> [Float] {
        let meta = try json(AssetPaths.goldenInputMeta)
        let raw = try data(AssetPaths.goldenInput)
        switch meta.find("dtype") as? String {
        case "float32":
            return raw.withUnsafeBytes { p in (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: p.load(fromByteOffset: $0 * 4, as: UInt32.self))) } }
        case "int8":
            return raw.map { Float(Int8(bitPattern: $0)) }
        default:
            return raw.map { Float($0) }
        }
    }

    private func appTensor(_ crop: RgbImage, _ m: Manifest) -> [Float] {
        let x = Preprocess.normalize(crop, m.preprocessing)
        guard m.input.dtype != "float32", let q = m.input.quantization else { return x }
        return Preprocess.quantize(x, q, dtype: m.input.dtype).map { Float($0) }
    }

    func testNormalizationLayoutAndQuantizationFromTheGoldenCropAreExact() throws {
        let m = try manifest()
        let meta = try json(AssetPaths.goldenInputMeta)
        let w = (meta.find("crop.width") as? NSNumber)!.intValue, h = (meta.find("crop.height") as? NSNumber)!.intValue
        let crop = RgbImage(width: w, height: h, pixels: [UInt8](try data(AssetPaths.goldenCrop)))
        let got = appTensor(crop, m), want = try goldenInput()
        XCTAssertEqual(got.count, want.count)
        XCTAssertEqual(zip(got, want).map { abs($0 - $1) }.max() ?? 0, 0, accuracy: 1e-6)
    }

    func testDecodedPhotoPreprocessesToTheGoldenTensor() throws {
        let m = try manifest()
        let d = try data(AssetPaths.goldenPhoto)
        guard let src = CGImageSourceCreateWithData(d as CFData, nil), let cg = CGImageSourceCreateImageAtIndex(src, 0, nil) else {
            return XCTFail("cannot decode the golden photo")
        }
        let (w, h) = (cg.width, cg.height)
        var rgba = [UInt8](repeating: 0, count: w * h * 4)
        let ctx = CGContext(data: &rgba, width: w, height: h, bitsPerComponent: 8, bytesPerRow: w * 4,
                            space: CGColorSpaceCreateDeviceRGB(), bitmapInfo: CGImageAlphaInfo.noneSkipLast.rawValue)!
        ctx.draw(cg, in: CGRect(x: 0, y: 0, width: w, height: h))
        var rgb = [UInt8](repeating: 0, count: w * h * 3)
        for i in 0..<(w * h) { for c in 0..<3 { rgb[i * 3 + c] = rgba[i * 4 + c] } }
        let p = m.preprocessing
        let crop = Preprocess.resizeCenterCrop(RgbImage(width: w, height: h, pixels: rgb), resize: p.resize, crop: p.crop, interpolation: p.interpolation)
        let got = appTensor(crop, m), want = try goldenInput()
        // Apple's JPEG decoder and colour management may differ from Pillow's by a few levels per pixel
        let bound: Float = m.input.dtype == "float32" ? 4 * p.scale / (p.std.min() ?? 1) + 1e-5 : 4
        XCTAssertLessThanOrEqual(zip(got, want).map { abs($0 - $1) }.max() ?? 0, bound)
    }

    func testTopThreeSelectionOnTheGoldenOutput() throws {
        guard let url = AssetPaths.url(AssetPaths.goldenOutput) else { throw XCTSkip("the bundler recorded no output (Core ML cannot run off macOS)") }
        let raw = try Data(contentsOf: url)
        let out: [Float] = raw.withUnsafeBytes { p in (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: p.load(fromByteOffset: $0 * 4, as: UInt32.self))) } }
        let m = try manifest()
        let top = Classification.topK(out, kind: m.output.kind, labels: m.labels, k: 3)
        let exp = try json(AssetPaths.goldenExpected).find("top3") as! [[String: Any]]
        for i in 0..<3 {
            XCTAssertEqual(top[i].index, (exp[i]["index"] as! NSNumber).intValue)
            XCTAssertEqual(top[i].score, (exp[i]["score"] as! NSNumber).floatValue, accuracy: 1e-5)
        }
    }

    func testCoreMLOnThisDeviceGivesTheGoldenTopThree() throws {
        let expected = try json(AssetPaths.goldenExpected)
        guard let exp = expected.find("top3") as? [[String: Any]] else {
            throw XCTSkip("no golden top-3: \(expected.find("reason") as? String ?? "")")
        }
        let m = try manifest()
        let folder = AssetPaths.url(AssetPaths.dir)!
        let engine = try CoreMLEngine(package: folder.appendingPathComponent(m.artifactFile), cacheKey: "tests", computeUnits: .cpuOnly)
        let out = try engine.run(try goldenInput(), shape: Preprocess.shape(m.preprocessing))
        let top = Classification.topK(out, kind: m.output.kind, labels: m.labels, k: 3)
        let tol = (expected.find("tolerance.score_abs") as? NSNumber)?.floatValue ?? 1e-3
        for i in 0..<3 {
            XCTAssertEqual(top[i].index, (exp[i]["index"] as! NSNumber).intValue, "rank \(i)")
            XCTAssertEqual(top[i].score, (exp[i]["score"] as! NSNumber).floatValue, accuracy: tol)
        }
    }
}
