import Foundation
import Kernels
import Testing

#if canImport(Glibc)
import Glibc
#endif

// A by-hand timing check of the fast (SIMD) kernels, single thread, not a timed test: it asserts
// nothing about speed and is skipped unless KERNELS_TIMING is set. Run it in release with AVX2 +
// FMA (see Note [SIMD8 on x86_64]):
//
//   KERNELS_TIMING=1 swift test -c release --scratch-path .build-simd \
//     -Xswiftc -target-cpu -Xswiftc haswell --filter FastKernelTiming
//
// Times are the median of several runs in thread CPU time, so another process sharing the core
// does not inflate them (it still competes for caches and memory bandwidth).

// The tests run one after another (.serialized): in parallel they would time each other.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["KERNELS_TIMING"] != nil))
struct FastKernelTiming {
  /// Median thread CPU time in milliseconds of `runs` calls, after one warm-up call.
  static func median(runs: Int = 11, _ body: () -> Void) -> Double {
    func now() -> Double {
      var time = timespec()
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
      return Double(time.tv_sec) * 1e3 + Double(time.tv_nsec) / 1e6
    }
    body()
    var times: [Double] = []
    for _ in 0..<runs {
      let start = now()
      body()
      times.append(now() - start)
    }
    return times.sorted()[runs / 2]
  }

  static func report(_ name: String, milliseconds: Double, flops: Double? = nil) {
    var line = "timing: \(name): \(String(format: "%.3f", milliseconds)) ms"
    if let flops { line += ", \(String(format: "%.1f", flops / milliseconds / 1e6)) GFLOP/s" }
    print(line)
  }

  /// A convolution layer with packed weights and its buffers, run by the fast kernels.
  final class Layer {
    let shape: Conv2DShape
    let clamp: OutputClamp
    let weight: [Float]
    let bias: [Float]
    let packed: PackedWeights?
    let depthwise: DepthwiseWeights?

    init(_ shape: Conv2DShape, clamp: OutputClamp, generator: inout SeededGenerator) {
      self.shape = shape
      self.clamp = clamp
      // Weights scaled by 1/√fan-in keep activations near unit size: no overflow, no denormals.
      let fanIn = Float(shape.inputChannelsPerGroup * shape.kernelHeight * shape.kernelWidth)
      let limit = (3 / fanIn).squareRoot()
      weight = generator.floats(shape.weightShape.elementCount, in: -limit...limit)
      bias = generator.floats(shape.outputChannels, in: -0.1...0.1)
      let (shape, weight, bias) = (shape, weight, bias)
      if ConvolutionKernels.isDepthwise(shape) && shape.outputChannels > 1 {
        depthwise = weight.withUnsafeBufferPointer { weight in
          bias.withUnsafeBufferPointer { DepthwiseWeights(shape, weight: weight.baseAddress!, bias: $0.baseAddress!) }
        }
        packed = nil
      } else {
        packed = weight.withUnsafeBufferPointer { weight in
          bias.withUnsafeBufferPointer { PackedWeights(convolution: shape, weight: weight.baseAddress!, bias: $0.baseAddress!) }
        }
        depthwise = nil
      }
    }

    var flops: Double {
      2 * Double(shape.outputShape.elementCount * shape.inputChannelsPerGroup * shape.kernelHeight * shape.kernelWidth)
    }

    var scratchCount: Int {
      depthwise != nil ? ConvolutionKernels.depthwiseScratchCount(shape) : ConvolutionKernels.conv2dScratchCount(shape)
    }

    func run(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
      if let depthwise {
        ConvolutionKernels.depthwiseConv2d(
          shape, input: input, weights: depthwise, output: output, clamp: clamp, scratch: scratch)
      } else {
        ConvolutionKernels.conv2d(shape, input: input, weights: packed!, output: output, clamp: clamp, scratch: scratch)
      }
    }

    /// The runtime's way for a dense convolution: scatter into phase planes, then the GEMM
    /// (Note [Phase-plane GEMM]); `planes` holds `phasePlanesCount(shape)` floats.
    func runPhasePlanes(
      _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, planes: UnsafeMutablePointer<Float>,
      scratch: UnsafeMutablePointer<Float>
    ) {
      ConvolutionKernels.conv2dPhasePlanesScatter(shape, input: input, planes: planes, channels: 0..<shape.inputChannels)
      ConvolutionKernels.conv2dPhasePlanesGEMM(
        shape, planes: planes, weights: packed!, output: output, clamp: clamp, scratch: scratch)
    }

    func runReference(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>) {
      weight.withUnsafeBufferPointer { weight in
        bias.withUnsafeBufferPointer { bias in
          ConvolutionKernels.conv2dReference(
            shape, input: input, weight: weight.baseAddress!, bias: bias.baseAddress!, output: output, clamp: clamp)
        }
      }
    }
  }

  static func conv(
    _ inputChannels: Int, _ outputChannels: Int, size: Int, kernel: Int, stride: Int = 1, groups: Int = 1,
    clamp: OutputClamp = .none, generator: inout SeededGenerator
  ) -> Layer {
    let shape = Conv2DShape(
      batch: 1, inputChannels: inputChannels, outputChannels: outputChannels, inputHeight: size, inputWidth: size,
      kernelHeight: kernel, kernelWidth: kernel, stride: (stride, stride), padding: (kernel / 2, kernel / 2),
      groups: groups)
    return Layer(shape, clamp: clamp, generator: &generator)
  }

  @Test func packedGEMM() {
    var generator = SeededGenerator(seed: 1)
    let (m, k, n) = (256, 1024, 3136)
    let a = generator.floats(m * k)
    let bias = generator.floats(m)
    let b = generator.floats(k * n)
    var c = [Float](repeating: 0, count: m * n)
    let weights = a.withUnsafeBufferPointer { a in
      bias.withUnsafeBufferPointer { PackedWeights(rows: m, depth: k, weights: a.baseAddress!, rowStride: k, bias: $0.baseAddress!) }
    }
    let scratch = AlignedBuffer(count: GEMMKernels.packedGEMMScratchCount(depth: k))
    let milliseconds = b.withUnsafeBufferPointer { b in
      c.withUnsafeMutableBufferPointer { c in
        Self.median {
          GEMMKernels.packedGEMM(
            weights: weights, b: b.baseAddress!, bRowStride: n, n: n, c: c.baseAddress!, cRowStride: n, clamp: .relu,
            scratch: scratch.pointer)
        }
      }
    }
    Self.report("packed GEMM \(m)×\(k)×\(n) + bias + relu", milliseconds: milliseconds, flops: 2 * Double(m * n * k))
  }

  /// The micro-kernel's own rate: small GEMMs whose operands stay in L1, called repeatedly.
  @Test func microKernelInCache() {
    var generator = SeededGenerator(seed: 3)
    for (m, k, n) in [(6, 256, 16), (48, 128, 64), (24, 96, 64)] {
      let a = generator.floats(m * k)
      let b = generator.floats(k * n)
      var c = [Float](repeating: 0, count: m * n)
      let weights = a.withUnsafeBufferPointer {
        PackedWeights(rows: m, depth: k, weights: $0.baseAddress!, rowStride: k, bias: nil)
      }
      let scratch = AlignedBuffer(count: GEMMKernels.packedGEMMScratchCount(depth: k))
      let calls = 20_000_000 / (m * n * k) + 1
      let milliseconds = b.withUnsafeBufferPointer { b in
        c.withUnsafeMutableBufferPointer { c in
          Self.median {
            for _ in 0..<calls {
              GEMMKernels.packedGEMM(
                weights: weights, b: b.baseAddress!, bRowStride: n, n: n, c: c.baseAddress!, cRowStride: n,
                scratch: scratch.pointer)
            }
          }
        }
      }
      Self.report(
        "packed GEMM \(m)×\(k)×\(n) in cache, \(calls) calls", milliseconds: milliseconds,
        flops: 2 * Double(m * n * k * calls))
    }
  }

  /// Times each layer's fast kernel and, where asked, the reference kernel on the same input.
  static func time(_ layers: [(String, Layer, Bool)], generator: inout SeededGenerator) {
    for (name, layer, compare) in layers {
      let input = generator.floats(layer.shape.inputShape.elementCount)
      var output = [Float](repeating: 0, count: layer.shape.outputShape.elementCount)
      let scratch = AlignedBuffer(count: layer.scratchCount)
      input.withUnsafeBufferPointer { input in
        output.withUnsafeMutableBufferPointer { output in
          let fast = Self.median { layer.run(input.baseAddress!, output.baseAddress!, scratch: scratch.pointer) }
          Self.report(name, milliseconds: fast, flops: layer.flops)
          if compare {
            let reference = Self.median(runs: 3) { layer.runReference(input.baseAddress!, output.baseAddress!) }
            Self.report(name + " — reference kernel", milliseconds: reference, flops: layer.flops)
          }
        }
      }
    }
  }

  @Test func convolutionLayers() {
    var generator = SeededGenerator(seed: 2)
    let layers: [(String, Layer, Bool)] = [
      ("1×1 conv 320→1280 @7×7", Self.conv(320, 1280, size: 7, kernel: 1, clamp: .relu6, generator: &generator), false),
      ("1×1 conv 512→1000 @13×13 (squeezenet1_1 classifier)", Self.conv(512, 1000, size: 13, kernel: 1, clamp: .relu, generator: &generator), false),
      ("1×1 conv 144→24 @56×56", Self.conv(144, 24, size: 56, kernel: 1, generator: &generator), false),
      ("1×1 conv 24→144 @56×56", Self.conv(24, 144, size: 56, kernel: 1, clamp: .relu6, generator: &generator), false),
      ("1×1 conv 96→576 @14×14", Self.conv(96, 576, size: 14, kernel: 1, clamp: .relu6, generator: &generator), false),
      ("1×1 conv 16→96 @112×112", Self.conv(16, 96, size: 112, kernel: 1, clamp: .relu6, generator: &generator), false),
      ("3×3 conv 64→64 @56×56 (resnet18, implicit im2col)", Self.conv(64, 64, size: 56, kernel: 3, clamp: .relu, generator: &generator), true),
      ("3×3 conv 128→128 @28×28 (resnet18)", Self.conv(128, 128, size: 28, kernel: 3, clamp: .relu, generator: &generator), false),
      ("3×3 conv 256→256 @14×14 (resnet18)", Self.conv(256, 256, size: 14, kernel: 3, clamp: .relu, generator: &generator), false),
      ("3×3 conv 512→512 @7×7 (resnet18)", Self.conv(512, 512, size: 7, kernel: 3, clamp: .relu, generator: &generator), false),
      ("7×7 conv 3→64 s2 @224×224 (resnet18 stem)", Self.conv(3, 64, size: 224, kernel: 7, stride: 2, clamp: .relu, generator: &generator), false),
      ("3×3 conv 3→32 s2 @224×224 (mobilenet_v2 stem)", Self.conv(3, 32, size: 224, kernel: 3, stride: 2, clamp: .relu6, generator: &generator), false),
    ]
    Self.time(layers, generator: &generator)
    // The same 3×3 layer through an explicit im2col matrix, for comparison with the implicit one.
    let layer = Self.conv(64, 64, size: 56, kernel: 3, clamp: .relu, generator: &generator)
    let input = generator.floats(layer.shape.inputShape.elementCount)
    var output = [Float](repeating: 0, count: layer.shape.outputShape.elementCount)
    let columns = AlignedBuffer(count: ConvolutionKernels.im2colCount(layer.shape))
    let scratch = AlignedBuffer(count: layer.scratchCount)
    let plane = 56 * 56
    let explicit = input.withUnsafeBufferPointer { input in
      output.withUnsafeMutableBufferPointer { output in
        Self.median {
          ConvolutionKernels.im2col(layer.shape, input: input.baseAddress!, columns: columns.pointer)
          GEMMKernels.packedGEMM(
            weights: layer.packed!, b: columns.pointer, bRowStride: plane, n: plane, c: output.baseAddress!,
            cRowStride: plane, clamp: .relu, scratch: scratch.pointer)
        }
      }
    }
    Self.report("3×3 conv 64→64 @56×56, explicit im2col + packed GEMM", milliseconds: explicit, flops: layer.flops)
  }

  @Test func scratchLayer() {
    // LAYER=Cin,Cout,size,kernel,stride[,groups]: one layer, timed five times (for profiling).
    guard let spec = ProcessInfo.processInfo.environment["LAYER"] else { return }
    let v = spec.split(separator: ",").compactMap { Int($0) }
    guard v.count == 5 || v.count == 6 else {
      Issue.record("LAYER must be Cin,Cout,size,kernel,stride[,groups], not \(spec)")
      return
    }
    var generator = SeededGenerator(seed: 9)
    let layer = Self.conv(
      v[0], v[1], size: v[2], kernel: v[3], stride: v[4], groups: v.count == 6 ? v[5] : 1, clamp: .relu,
      generator: &generator)
    let input = generator.floats(layer.shape.inputShape.elementCount)
    var output = [Float](repeating: 0, count: layer.shape.outputShape.elementCount)
    let scratch = AlignedBuffer(count: layer.scratchCount)
    let planes = AlignedBuffer(count: ConvolutionKernels.phasePlanesCount(layer.shape))
    input.withUnsafeBufferPointer { input in
      output.withUnsafeMutableBufferPointer { output in
        for _ in 0..<5 {
          let t = Self.median(runs: 21) {
            if ConvolutionKernels.prefersPhasePlanes(layer.shape) {
              layer.runPhasePlanes(input.baseAddress!, output.baseAddress!, planes: planes.pointer, scratch: scratch.pointer)
            } else {
              layer.run(input.baseAddress!, output.baseAddress!, scratch: scratch.pointer)
            }
          }
          Self.report("layer \(spec)", milliseconds: t, flops: layer.flops)
        }
      }
    }
  }

  /// ResNet-18's dense 3×3 layers and the MobileNet stems the way the runtime runs them: scatter
  /// into phase planes, then the packed GEMM reading the planes in place (Note [Phase-plane
  /// GEMM]); and the scatter alone.
  @Test func phasePlaneLayers() {
    var generator = SeededGenerator(seed: 5)
    let layers: [(String, Layer)] = [
      ("3×3 conv 64→64 @56×56", Self.conv(64, 64, size: 56, kernel: 3, clamp: .relu, generator: &generator)),
      ("3×3 conv 128→128 @28×28", Self.conv(128, 128, size: 28, kernel: 3, clamp: .relu, generator: &generator)),
      ("3×3 conv 256→256 @14×14", Self.conv(256, 256, size: 14, kernel: 3, clamp: .relu, generator: &generator)),
      ("3×3 conv 512→512 @7×7", Self.conv(512, 512, size: 7, kernel: 3, clamp: .relu, generator: &generator)),
      ("3×3 conv 256→512 s2 @14×14", Self.conv(256, 512, size: 14, kernel: 3, stride: 2, clamp: .relu, generator: &generator)),
      ("3×3 conv 64→128 s2 @56×56", Self.conv(64, 128, size: 56, kernel: 3, stride: 2, clamp: .relu, generator: &generator)),
      ("7×7 conv 3→64 s2 @224×224 (stem)", Self.conv(3, 64, size: 224, kernel: 7, stride: 2, clamp: .relu, generator: &generator)),
      ("3×3 conv 3→16 s2 @224×224 (mobilenet_v3 stem)", Self.conv(3, 16, size: 224, kernel: 3, stride: 2, generator: &generator)),
      (
        "3×3 conv 3→32 s2 @224×224 (mobilenet_v2 stem)",
        Self.conv(3, 32, size: 224, kernel: 3, stride: 2, clamp: .relu6, generator: &generator)
      ),
    ]
    for (name, layer) in layers {
      let input = generator.floats(layer.shape.inputShape.elementCount)
      var output = [Float](repeating: 0, count: layer.shape.outputShape.elementCount)
      let planes = AlignedBuffer(count: ConvolutionKernels.phasePlanesCount(layer.shape))
      let scratch = AlignedBuffer(count: layer.scratchCount)
      let milliseconds = input.withUnsafeBufferPointer { input in
        output.withUnsafeMutableBufferPointer { output in
          Self.median {
            layer.runPhasePlanes(input.baseAddress!, output.baseAddress!, planes: planes.pointer, scratch: scratch.pointer)
          }
        }
      }
      let scatter = input.withUnsafeBufferPointer { input in
        Self.median {
          ConvolutionKernels.conv2dPhasePlanesScatter(
            layer.shape, input: input.baseAddress!, planes: planes.pointer, channels: 0..<layer.shape.inputChannels)
        }
      }
      Self.report(name + ", phase planes", milliseconds: milliseconds, flops: layer.flops)
      Self.report(name + ", the scatter alone", milliseconds: scatter)
    }
  }

  /// The 3×3 stride-1 layers of ResNet-18 and SqueezeNet by phase planes and by Winograd
  /// F(m×m, 3×3) with the tile size the runtime picks, side by side (GFLOP/s count the direct
  /// convolution's work for both).
  @Test func winogradLayers() {
    var generator = SeededGenerator(seed: 6)
    let layers: [Layer] = [
      Self.conv(64, 64, size: 56, kernel: 3, clamp: .relu, generator: &generator),
      Self.conv(128, 128, size: 28, kernel: 3, clamp: .relu, generator: &generator),
      Self.conv(256, 256, size: 14, kernel: 3, clamp: .relu, generator: &generator),
      Self.conv(512, 512, size: 7, kernel: 3, clamp: .relu, generator: &generator),
      Self.conv(16, 64, size: 55, kernel: 3, clamp: .relu, generator: &generator),
      Self.conv(32, 128, size: 27, kernel: 3, clamp: .relu, generator: &generator),
      Self.conv(48, 192, size: 13, kernel: 3, clamp: .relu, generator: &generator),
      Self.conv(64, 256, size: 13, kernel: 3, clamp: .relu, generator: &generator),
    ]
    for layer in layers {
      let shape = layer.shape
      let input = generator.floats(shape.inputShape.elementCount)
      var direct = [Float](repeating: 0, count: shape.outputShape.elementCount)
      var winograd = direct
      let planes = AlignedBuffer(count: ConvolutionKernels.phasePlanesCount(shape))
      let tileSize = ConvolutionKernels.winogradTileSize(shape)
      let scratch = AlignedBuffer(
        count: max(layer.scratchCount, ConvolutionKernels.winogradScratchCount(shape, tileSize: tileSize)))
      let weights = layer.weight.withUnsafeBufferPointer { weight in
        layer.bias.withUnsafeBufferPointer {
          WinogradWeights(shape, tileSize: tileSize, weight: weight.baseAddress!, bias: $0.baseAddress!)
        }
      }
      let name = "3×3 \(shape.inputChannels)→\(shape.outputChannels) @\(shape.inputHeight) F(\(tileSize))"
      input.withUnsafeBufferPointer { input in
        let phase = direct.withUnsafeMutableBufferPointer { output in
          Self.median {
            layer.runPhasePlanes(input.baseAddress!, output.baseAddress!, planes: planes.pointer, scratch: scratch.pointer)
          }
        }
        let fast = winograd.withUnsafeMutableBufferPointer { output in
          Self.median {
            ConvolutionKernels.conv2dWinograd(
              shape, input: input.baseAddress!, weights: weights, output: output.baseAddress!, clamp: layer.clamp,
              scratch: scratch.pointer)
          }
        }
        let error = zip(direct, winograd).map { abs($0 - $1) }.max() ?? 0
        Self.report(name + ", phase planes", milliseconds: phase, flops: layer.flops)
        Self.report(name + ", Winograd (max diff \(error))", milliseconds: fast, flops: layer.flops)
        // Each step on its own over one chunk, scaled to the plane (the three add up to about
        // the whole).
        let (chunkRows, tileRows) = (
          ConvolutionKernels.winogradChunkRows(shape, tileSize: tileSize),
          ConvolutionKernels.winogradTileRows(shape, tileSize: tileSize)
        )
        let scale = Double(tileRows) / Double(chunkRows)
        let transformed = scratch.pointer
        let products = transformed + ConvolutionKernels.winogradInputCount(shape, tileSize: tileSize, tileRows: chunkRows)
        let threadScratch = products + ConvolutionKernels.winogradProductCount(shape, tileSize: tileSize, tileRows: chunkRows)
        let inputStep = scale * Self.median {
          ConvolutionKernels.winogradInputTransform(
            shape, tileSize: tileSize, input: input.baseAddress!, transformed: transformed, channels: 0..<shape.inputChannels,
            tileRows: 0..<chunkRows, scratch: threadScratch)
        }
        let gemmStep = scale * Self.median {
          ConvolutionKernels.winogradGEMM(
            shape, weights: weights, transformed: transformed, products: products, positions: 0..<weights.positions,
            tileRows: chunkRows, scratch: threadScratch)
        }
        let outputStep = scale * winograd.withUnsafeMutableBufferPointer { output in
          Self.median {
            ConvolutionKernels.winogradOutputTransform(
              shape, products: products, weights: weights, output: output.baseAddress!, clamp: layer.clamp,
              outputChannels: 0..<shape.outputChannels, tileRows: 0..<chunkRows)
          }
        }
        print(String(format: "timing:   input transform %.3f ms, GEMMs %.3f ms, output transform %.3f ms", inputStep, gemmStep, outputStep))
      }
    }
  }

  /// MobileNetV2 / V3 / ShuffleNet depthwise layers, from the large planes where the loop
  /// dominates to the 7×7 planes where per-channel overhead does.
  @Test func depthwiseLayers() {
    var generator = SeededGenerator(seed: 4)
    let layers: [(String, Layer, Bool)] = [
      ("depthwise 3×3 144 s1 @56×56", Self.conv(144, 144, size: 56, kernel: 3, groups: 144, clamp: .relu6, generator: &generator), true),
      ("depthwise 3×3 96 s2 @112×112", Self.conv(96, 96, size: 112, kernel: 3, stride: 2, groups: 96, clamp: .relu6, generator: &generator), true),
      ("depthwise 5×5 120 s1 @28×28 (mobilenet_v3)", Self.conv(120, 120, size: 28, kernel: 5, groups: 120, clamp: .relu, generator: &generator), false),
      ("depthwise 3×3 32 s1 @112×112", Self.conv(32, 32, size: 112, kernel: 3, groups: 32, clamp: .relu6, generator: &generator), false),
      ("depthwise 3×3 192 s1 @28×28", Self.conv(192, 192, size: 28, kernel: 3, groups: 192, clamp: .relu6, generator: &generator), false),
      ("depthwise 3×3 576 s1 @14×14", Self.conv(576, 576, size: 14, kernel: 3, groups: 576, clamp: .relu6, generator: &generator), false),
      ("depthwise 3×3 960 s1 @7×7", Self.conv(960, 960, size: 7, kernel: 3, groups: 960, clamp: .relu6, generator: &generator), false),
      ("depthwise 3×3 144 s2 @56×56", Self.conv(144, 144, size: 56, kernel: 3, stride: 2, groups: 144, clamp: .relu6, generator: &generator), false),
      ("depthwise 3×3 576 s2 @14×14", Self.conv(576, 576, size: 14, kernel: 3, stride: 2, groups: 576, clamp: .relu6, generator: &generator), false),
      ("depthwise 5×5 72 s2 @56×56 (mobilenet_v3)", Self.conv(72, 72, size: 56, kernel: 5, stride: 2, groups: 72, clamp: .relu, generator: &generator), false),
      ("depthwise 5×5 576 s1 @7×7 (mobilenet_v3)", Self.conv(576, 576, size: 7, kernel: 5, groups: 576, clamp: .relu, generator: &generator), false),
      ("depthwise 5×5 96 s2 @14×14 (mobilenet_v3)", Self.conv(96, 96, size: 14, kernel: 5, stride: 2, groups: 96, clamp: .relu, generator: &generator), false),
    ]
    Self.time(layers, generator: &generator)
  }

  @Test func elementwiseAndPooling() {
    var generator = SeededGenerator(seed: 3)
    let count = 1 << 20
    let a = generator.floats(count, in: -8...8)
    let b = generator.floats(count)
    var y = [Float](repeating: 0, count: count)
    a.withUnsafeBufferPointer { a in
      b.withUnsafeBufferPointer { b in
        y.withUnsafeMutableBufferPointer { y in
          for op in [BinaryOperation.add(), .addRelu(), .mul] {
            let fast = Self.median {
              ElementwiseKernels.binaryFloat32(op, a: a.baseAddress!, b: b.baseAddress!, output: y.baseAddress!, elements: 0..<count)
            }
            let reference = Self.median {
              try! ElementwiseKernels.binary(
                op, dtype: .float32, a: a.baseAddress!, aStrides: [1], b: b.baseAddress!, bStrides: [1],
                output: y.baseAddress!, outputStrides: [1], shape: [count])
            }
            Self.report("binary \(op), 1M float32 (reference \(String(format: "%.3f", reference)) ms)", milliseconds: fast)
          }
          for op in [UnaryOperation.relu6, .hardswish, .sigmoid, .silu] {
            let fast = Self.median {
              ElementwiseKernels.unaryFloat32(op, input: a.baseAddress!, output: y.baseAddress!, elements: 0..<count)
            }
            let reference = Self.median {
              ElementwiseKernels.unary(
                op, dtype: .float32, input: a.baseAddress!, inputStrides: [1], output: y.baseAddress!, outputStrides: [1],
                shape: [count])
            }
            Self.report("unary \(op), 1M float32 (reference \(String(format: "%.3f", reference)) ms)", milliseconds: fast)
          }
        }
      }
    }
    let pool = Pool2DShape(planes: 64, inputHeight: 112, inputWidth: 112, kernel: (3, 3), stride: (2, 2), padding: (1, 1))
    let input = generator.floats(pool.planes * 112 * 112)
    var output = [Float](repeating: 0, count: pool.planes * pool.outputHeight * pool.outputWidth)
    input.withUnsafeBufferPointer { input in
      output.withUnsafeMutableBufferPointer { output in
        let fast = Self.median { PoolingKernels.maxPool2d(pool, input: input.baseAddress!, output: output.baseAddress!, planes: 0..<64) }
        let reference = Self.median { PoolingKernels.maxPool2dReference(pool, input: input.baseAddress!, output: output.baseAddress!) }
        Self.report("max_pool2d 3×3 s2 p1, 64×112×112 (reference \(String(format: "%.3f", reference)) ms)", milliseconds: fast)
        let global = Self.median {
          PoolingKernels.globalAveragePool(input: input.baseAddress!, planeSize: 112 * 112, output: output.baseAddress!, planes: 0..<64)
        }
        Self.report("global average pool, 64×112×112", milliseconds: global)
      }
    }
    // SqueezeNet's pools (no padding, small planes).
    for (planes, size) in [(64, 111), (128, 55), (256, 27)] {
      let pool = Pool2DShape(planes: planes, inputHeight: size, inputWidth: size, kernel: (3, 3), stride: (2, 2))
      let input = generator.floats(planes * size * size)
      var output = [Float](repeating: 0, count: planes * pool.outputHeight * pool.outputWidth)
      input.withUnsafeBufferPointer { input in
        output.withUnsafeMutableBufferPointer { output in
          let fast = Self.median {
            PoolingKernels.maxPool2d(pool, input: input.baseAddress!, output: output.baseAddress!, planes: 0..<planes)
          }
          Self.report("max_pool2d 3×3 s2, \(planes)×\(size)×\(size)", milliseconds: fast)
        }
      }
    }
  }

  // MARK: - Whole networks

  /// One step of a network's forward pass over three rotating activation buffers.
  enum Step {
    /// A convolution from the current buffer into a free one.
    case conv(Layer)
    /// Convolutions in sequence from the current buffer, then (optionally) `+ current` and the
    /// clamp, as MobileNetV2's inverted residual and ResNet's basic block end.
    case block([Layer], shortcut: Layer?, residual: Bool, clamp: OutputClamp)
    /// max_pool2d 3×3 s2 p1.
    case maxPool(Pool2DShape)
  }

  /// Runs `steps`, then global average pooling and the classifier, with the fast kernels, and
  /// reports the time and GFLOP/s of the whole pass.
  static func runNetwork(_ name: String, steps: [Step], finalChannels: Int, finalPlane: Int, input: [Float], generator: inout SeededGenerator) {
    let classifier = generator.floats(1000 * finalChannels, in: -0.03...0.03)
    let classifierBias = generator.floats(1000, in: -0.1...0.1)
    let linear = classifier.withUnsafeBufferPointer { weight in
      classifierBias.withUnsafeBufferPointer {
        PackedWeights(linearWeight: weight.baseAddress!, outputFeatures: 1000, inputFeatures: finalChannels, bias: $0.baseAddress!)
      }
    }
    var flops = 2 * Double(1000 * finalChannels)
    var scratchCount = 0
    for step in steps {
      switch step {
      case .conv(let layer):
        flops += layer.flops
        scratchCount = max(scratchCount, layer.scratchCount)
      case .block(let layers, let shortcut, _, _):
        for layer in layers + (shortcut.map { [$0] } ?? []) {
          flops += layer.flops
          scratchCount = max(scratchCount, layer.scratchCount)
        }
      case .maxPool: break
      }
    }
    let capacity = 64 * 112 * 112 * 2
    let buffers = (0..<4).map { _ in AlignedBuffer(count: capacity) }
    let scratch = AlignedBuffer(count: scratchCount)
    let pooled = AlignedBuffer(count: finalChannels)
    let logits = AlignedBuffer(count: 1000)
    func forward() {
      buffers[0].pointer.update(from: input, count: input.count)
      var current = 0
      func free(_ used: Int...) -> Int { (0..<4).first { !used.contains($0) }! }
      for step in steps {
        switch step {
        case .conv(let layer):
          let next = free(current)
          layer.run(buffers[current].pointer, buffers[next].pointer, scratch: scratch.pointer)
          current = next
        case .maxPool(let shape):
          let next = free(current)
          PoolingKernels.maxPool2d(shape, input: buffers[current].pointer, output: buffers[next].pointer, planes: 0..<shape.planes)
          current = next
        case .block(let layers, let shortcut, let residual, let clamp):
          var source = current
          for layer in layers {
            let target = free(current, source)
            layer.run(buffers[source].pointer, buffers[target].pointer, scratch: scratch.pointer)
            source = target
          }
          let count = layers.last!.shape.outputShape.elementCount
          var identity = current
          if let shortcut {
            identity = free(current, source)
            shortcut.run(buffers[current].pointer, buffers[identity].pointer, scratch: scratch.pointer)
          }
          if residual {
            let op: BinaryOperation = clamp == .relu ? .addRelu() : .add()
            ElementwiseKernels.binaryFloat32(
              op, a: buffers[source].pointer, b: buffers[identity].pointer, output: buffers[source].pointer,
              elements: 0..<count)
          }
          current = source
        }
      }
      PoolingKernels.globalAveragePool(
        input: buffers[current].pointer, planeSize: finalPlane, output: pooled.pointer, planes: 0..<finalChannels)
      GEMMKernels.linear(weights: linear, input: pooled.pointer, rowCount: 1, output: logits.pointer, scratch: scratch.pointer)
    }
    let milliseconds = median(runs: 7, forward)
    report("\(name) 1×3×224×224 forward (\(String(format: "%.2f", flops / 1e9)) GFLOP)", milliseconds: milliseconds, flops: flops)
    #expect((0..<1000).allSatisfy { logits.pointer[$0].isFinite })
  }

  /// MobileNetV2 (torchvision, width 1.0) with BatchNorm folded: convs with fused relu6,
  /// residual adds, global average pooling and the classifier.
  @Test func mobileNetV2() {
    var generator = SeededGenerator(seed: 4)
    let settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    var steps: [Step] = [.conv(Self.conv(3, 32, size: 224, kernel: 3, stride: 2, clamp: .relu6, generator: &generator))]
    var (size, channels) = (112, 32)
    for (expansion, outputChannels, repeats, firstStride) in settings {
      for index in 0..<repeats {
        let stride = index == 0 ? firstStride : 1
        let hidden = channels * expansion
        var layers: [Layer] = []
        if expansion != 1 {
          layers.append(Self.conv(channels, hidden, size: size, kernel: 1, clamp: .relu6, generator: &generator))
        }
        layers.append(Self.conv(hidden, hidden, size: size, kernel: 3, stride: stride, groups: hidden, clamp: .relu6, generator: &generator))
        size = (size + 2 - 3) / stride + 1
        layers.append(Self.conv(hidden, outputChannels, size: size, kernel: 1, generator: &generator))
        steps.append(.block(layers, shortcut: nil, residual: stride == 1 && channels == outputChannels, clamp: .none))
        channels = outputChannels
      }
    }
    steps.append(.conv(Self.conv(channels, 1280, size: size, kernel: 1, clamp: .relu6, generator: &generator)))
    let input = generator.floats(3 * 224 * 224)
    Self.runNetwork("mobilenet_v2", steps: steps, finalChannels: 1280, finalPlane: size * size, input: input, generator: &generator)
  }

  /// ResNet-18 with BatchNorm folded: 7×7 stem, max pooling, eight basic blocks (3×3 convs,
  /// 1×1 stride-2 shortcuts), add + relu, global average pooling and the classifier.
  @Test func resNet18() {
    var generator = SeededGenerator(seed: 5)
    var steps: [Step] = [
      .conv(Self.conv(3, 64, size: 224, kernel: 7, stride: 2, clamp: .relu, generator: &generator)),
      .maxPool(Pool2DShape(planes: 64, inputHeight: 112, inputWidth: 112, kernel: (3, 3), stride: (2, 2), padding: (1, 1))),
    ]
    var (size, channels) = (56, 64)
    for (outputChannels, firstStride) in [(64, 1), (128, 2), (256, 2), (512, 2)] {
      for index in 0..<2 {
        let stride = index == 0 ? firstStride : 1
        let first = Self.conv(channels, outputChannels, size: size, kernel: 3, stride: stride, clamp: .relu, generator: &generator)
        let shortcut = stride != 1 || channels != outputChannels
          ? Layer(
            Conv2DShape(
              batch: 1, inputChannels: channels, outputChannels: outputChannels, inputHeight: size, inputWidth: size,
              kernelHeight: 1, kernelWidth: 1, stride: (stride, stride)),
            clamp: .none, generator: &generator)
          : nil
        size = (size + 2 - 3) / stride + 1
        let second = Self.conv(outputChannels, outputChannels, size: size, kernel: 3, generator: &generator)
        steps.append(.block([first, second], shortcut: shortcut, residual: true, clamp: .relu))
        channels = outputChannels
      }
    }
    let input = generator.floats(3 * 224 * 224)
    Self.runNetwork("resnet18", steps: steps, finalChannels: 512, finalPlane: size * size, input: input, generator: &generator)
  }
}
