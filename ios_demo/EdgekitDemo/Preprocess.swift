import Foundation

/// A decoded image: width x height RGB bytes, row by row.
struct RgbImage {
    let width: Int
    let height: Int
    var pixels: [UInt8]

    /// From a 32BGRA camera buffer (rowBytes per row), already upright.
    static func fromBGRA(width: Int, height: Int, base: UnsafePointer<UInt8>, rowBytes: Int) -> RgbImage {
        var px = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            let row = base + y * rowBytes
            for x in 0..<width {
                let d = (y * width + x) * 3
                px[d] = row[x * 4 + 2]
                px[d + 1] = row[x * 4 + 1]
                px[d + 2] = row[x * 4]
            }
        }
        return RgbImage(width: width, height: height, pixels: px)
    }
}

/// Pillow's Image.resize arithmetic for 8-bit RGB (the same algorithm as the Android app's
/// Resample.kt and edgekit/preprocess.py): antialiased separable convolution, 22-bit fixed-point
/// coefficients, horizontal pass into an 8-bit buffer, then the vertical pass.
enum Resample {
    private static let precisionBits = 32 - 8 - 2

    private static func support(_ f: String) -> Double {
        switch f {
        case "bicubic": return 2.0
        case "lanczos": return 3.0
        default: return 1.0
        }
    }

    private static func sinc(_ x0: Double) -> Double {
        if x0 == 0.0 { return 1.0 }
        let x = x0 * Double.pi
        return sin(x) / x
    }

    private static func kernel(_ f: String, _ x0: Double) -> Double {
        var x = x0
        switch f {
        case "bicubic":
            let a = -0.5
            if x < 0.0 { x = -x }
            if x < 1.0 { return ((a + 2.0) * x - (a + 3.0)) * x * x + 1 }
            if x < 2.0 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0.0
        case "lanczos":
            return (-3.0 <= x && x < 3.0) ? sinc(x) * sinc(x / 3) : 0.0
        default:
            if x < 0.0 { x = -x }
            return x < 1.0 ? 1.0 - x : 0.0
        }
    }

    private static func coeffs(inSize: Int, outSize: Int, filter: String) -> (ksize: Int, bounds: [Int], kk: [Int]) {
        let in0: Float = 0, in1 = Float(inSize)
        let scale = Double(in1 - in0) / Double(outSize)
        let filterscale = max(scale, 1.0)
        let sup = support(filter) * filterscale
        let ksize = Int(ceil(sup)) * 2 + 1
        var pre = [Double](repeating: 0, count: outSize * ksize)
        var bounds = [Int](repeating: 0, count: outSize * 2)
        for xx in 0..<outSize {
            let center = Double(in0) + (Double(xx) + 0.5) * scale
            var ww = 0.0
            let ss = 1.0 / filterscale
            var xmin = Int(center - sup + 0.5)
            if xmin < 0 { xmin = 0 }
            var xmax = Int(center + sup + 0.5)
            if xmax > inSize { xmax = inSize }
            xmax -= xmin
            for x in 0..<xmax {
                let w = kernel(filter, (Double(x + xmin) - center + 0.5) * ss)
                pre[xx * ksize + x] = w
                ww += w
            }
            if ww != 0.0 { for x in 0..<xmax { pre[xx * ksize + x] /= ww } }
            bounds[xx * 2] = xmin
            bounds[xx * 2 + 1] = xmax
        }
        let one = Double(1 << precisionBits)
        let kk = pre.map { v in v < 0 ? Int(-0.5 + v * one) : Int(0.5 + v * one) }
        return (ksize, bounds, kk)
    }

    private static func clip8(_ ss: Int) -> UInt8 {
        let v = ss >> precisionBits
        return UInt8(v < 0 ? 0 : (v > 255 ? 255 : v))
    }

    static func resize(_ img: RgbImage, _ outW: Int, _ outH: Int, _ filter: String) -> RgbImage {
        if outW == img.width && outH == img.height { return img }
        if filter == "nearest" {
            var out = [UInt8](repeating: 0, count: outW * outH * 3)
            let sx = Double(img.width) / Double(outW), sy = Double(img.height) / Double(outH)
            for y in 0..<outH {
                let yi = min(img.height - 1, Int((Double(y) + 0.5) * sy))
                for x in 0..<outW {
                    let xi = min(img.width - 1, Int((Double(x) + 0.5) * sx))
                    for c in 0..<3 { out[(y * outW + x) * 3 + c] = img.pixels[(yi * img.width + xi) * 3 + c] }
                }
            }
            return RgbImage(width: outW, height: outH, pixels: out)
        }
        let half = 1 << (precisionBits - 1)
        let vert = coeffs(inSize: img.height, outSize: outH, filter: filter)
        let yFirst = vert.bounds[0]
        let yLast = vert.bounds[outH * 2 - 2] + vert.bounds[outH * 2 - 1]
        var src = img
        var vBounds = vert.bounds
        if outW != img.width {
            let hor = coeffs(inSize: img.width, outSize: outW, filter: filter)
            for i in 0..<outH { vBounds[i * 2] -= yFirst }
            let rows = yLast - yFirst
            var tmp = [UInt8](repeating: 0, count: outW * rows * 3)
            for yy in 0..<rows {
                let rowBase = (yy + yFirst) * img.width * 3
                for xx in 0..<outW {
                    let xmin = hor.bounds[xx * 2], xmax = hor.bounds[xx * 2 + 1], kb = xx * hor.ksize
                    var s0 = half, s1 = half, s2 = half
                    for x in 0..<xmax {
                        let k = hor.kk[kb + x], p = rowBase + (x + xmin) * 3
                        s0 += Int(img.pixels[p]) * k
                        s1 += Int(img.pixels[p + 1]) * k
                        s2 += Int(img.pixels[p + 2]) * k
                    }
                    let o = (yy * outW + xx) * 3
                    tmp[o] = clip8(s0); tmp[o + 1] = clip8(s1); tmp[o + 2] = clip8(s2)
                }
            }
            src = RgbImage(width: outW, height: rows, pixels: tmp)
        }
        if outH == img.height { return src }
        let w = src.width
        var out = [UInt8](repeating: 0, count: w * outH * 3)
        for yy in 0..<outH {
            let ymin = vBounds[yy * 2], ymax = vBounds[yy * 2 + 1], kb = yy * vert.ksize
            for xx in 0..<w {
                var s0 = half, s1 = half, s2 = half
                for y in 0..<ymax {
                    let k = vert.kk[kb + y], p = ((y + ymin) * w + xx) * 3
                    s0 += Int(src.pixels[p]) * k
                    s1 += Int(src.pixels[p + 1]) * k
                    s2 += Int(src.pixels[p + 2]) * k
                }
                let o = (yy * w + xx) * 3
                out[o] = clip8(s0); out[o + 1] = clip8(s1); out[o + 2] = clip8(s2)
            }
        }
        return RgbImage(width: w, height: outH, pixels: out)
    }
}

/// Manifest preprocessing with edgekit/preprocess.py's float32 arithmetic.
enum Preprocess {
    static func resizeCenterCrop(_ img: RgbImage, resize: Int, crop: Int, interpolation: String) -> RgbImage {
        let (w, h) = (img.width, img.height)
        let nw: Int, nh: Int
        if w <= h {
            nw = resize; nh = Int(Double(resize * h) / Double(w))
        } else {
            nw = Int(Double(resize * w) / Double(h)); nh = resize
        }
        let resized = (nw == w && nh == h) ? img : Resample.resize(img, nw, nh, interpolation)
        // Python's round(): half to even
        let left = Int((Double(nw - crop) / 2.0).rounded(.toNearestOrEven))
        let top = Int((Double(nh - crop) / 2.0).rounded(.toNearestOrEven))
        var out = [UInt8](repeating: 0, count: crop * crop * 3)
        for y in 0..<crop {
            let sy = y + top
            if sy < 0 || sy >= resized.height { continue }
            for x in 0..<crop {
                let sx = x + left
                if sx < 0 || sx >= resized.width { continue }
                for c in 0..<3 { out[(y * crop + x) * 3 + c] = resized.pixels[(sy * resized.width + sx) * 3 + c] }
            }
        }
        return RgbImage(width: crop, height: crop, pixels: out)
    }

    /// Normalized float32 values of a resized, cropped image in the spec's layout.
    static func normalize(_ crop: RgbImage, _ spec: PreprocessSpec) -> [Float] {
        let (h, w) = (crop.height, crop.width)
        var out = [Float](repeating: 0, count: 3 * h * w)
        let bgr = spec.channelOrder == "BGR", nchw = spec.layout == "NCHW"
        for y in 0..<h {
            for x in 0..<w {
                for c in 0..<3 {
                    let src = bgr ? 2 - c : c
                    let v = Float(crop.pixels[(y * w + x) * 3 + src]) * spec.scale
                    let idx = nchw ? (c * h + y) * w + x : (y * w + x) * 3 + c
                    out[idx] = (v - spec.mean[c]) / spec.std[c]
                }
            }
        }
        return out
    }

    /// round-half-to-even(x / scale) + zero_point, clipped (edgekit.preprocess.quantize).
    static func quantize(_ x: [Float], _ q: Quantization, dtype: String) -> [Int] {
        let (lo, hi) = dtype == "uint8" ? (0, 255) : (-128, 127)
        return x.map { v in
            let r = (v / q.scale).rounded(.toNearestOrEven) + Float(q.zeroPoint)
            return Int(min(max(r, Float(lo)), Float(hi)))
        }
    }

    static func shape(_ spec: PreprocessSpec) -> [Int] {
        spec.layout == "NCHW" ? [1, 3, spec.crop, spec.crop] : [1, spec.crop, spec.crop, 3]
    }

    static func toInput(_ img: RgbImage, _ m: Manifest) -> [Float] {
        let p = m.preprocessing
        return normalize(resizeCenterCrop(img, resize: p.resize, crop: p.crop, interpolation: p.interpolation), p)
    }
}

struct Prediction: Identifiable {
    let index: Int
    let label: String
    let score: Float
    var id: Int { index }
}

enum Classification {
    static func softmax(_ z: [Float]) -> [Float] {
        let mx = z.max() ?? 0
        let e = z.map { exp(Double($0 - mx)) }
        let s = e.reduce(0, +)
        return e.map { Float($0 / s) }
    }

    /// Top-k by the raw outputs (lowest index first on ties), each with its probability.
    static func topK(_ output: [Float], kind: String?, labels: [String], k: Int) -> [Prediction] {
        let scores = kind == "probabilities" ? output : softmax(output)
        let order = output.indices.sorted { output[$0] != output[$1] ? output[$0] > output[$1] : $0 < $1 }
        return order.prefix(k).map { Prediction(index: $0, label: $0 < labels.count ? labels[$0] : "class \($0)", score: scores[$0]) }
    }
}
