import Foundation
import Kernels
import Testing

// A by-hand timing sanity check of the reference kernels, not a timed test: it asserts nothing
// about speed and is skipped unless KERNELS_TIMING is set. Run it in release with the CPU
// features of x86-64-v3 (this toolchain rejects the name `x86-64-v3` for -target-cpu;
// `haswell` is the same feature set: AVX2, FMA, BMI2):
//
//   KERNELS_TIMING=1 swift test -c release --scratch-path .build-kernels \
//     -Xswiftc -target-cpu -Xswiftc haswell --filter ReferenceTiming
//
// It prints the median of several runs for MobileNetV2's largest 3×3 depthwise and 1×1 layers at
// 224×224 input, and for the whole network's conv/add/pool/linear sequence.

@Suite(.enabled(if: ProcessInfo.processInfo.environment["KERNELS_TIMING"] != nil))
struct ReferenceTiming {
  /// One conv layer with its buffers, ready to run.
  final class ConvLayer {
    let shape: Conv2DShape
    let clamp: OutputClamp
    let weight: [Float]
    let bias: [Float]

    init(_ shape: Conv2DShape, clamp: OutputClamp, generator: inout SeededGenerator) {
      self.shape = shape
      self.clamp = clamp
      // Weights scaled by 1/√fan-in keep activations near unit size: no overflow, no denormals.
      let fanIn = Float(shape.inputChannelsPerGroup * shape.kernelHeight * shape.kernelWidth)
      let limit = (3 / fanIn).squareRoot()
      weight = generator.floats(shape.weightShape.elementCount, in: -limit...limit)
      bias = generator.floats(shape.outputChannels, in: -0.1...0.1)
    }

    var macs: Int {
      shape.outputShape.elementCount * shape.inputChannelsPerGroup * shape.kernelHeight * shape.kernelWidth
    }

    func run(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>) {
      weight.withUnsafeBufferPointer { weight in
        bias.withUnsafeBufferPointer { bias in
          ConvolutionKernels.conv2dReference(
            shape, input: input, weight: weight.baseAddress!, bias: bias.baseAddress!, output: output, clamp: clamp)
        }
      }
    }
  }

  static func conv(
    _ inputChannels: Int, _ outputChannels: Int, size: Int, kernel: Int, stride: Int, groups: Int = 1,
    clamp: OutputClamp, generator: inout SeededGenerator
  ) -> ConvLayer {
    let shape = Conv2DShape(
      batch: 1, inputChannels: inputChannels, outputChannels: outputChannels, inputHeight: size, inputWidth: size,
      kernelHeight: kernel, kernelWidth: kernel, stride: (stride, stride), padding: (kernel / 2, kernel / 2),
      groups: groups)
    return ConvLayer(shape, clamp: clamp, generator: &generator)
  }

  /// Median wall time in milliseconds of `runs` calls.
  static func median(runs: Int = 9, _ body: () -> Void) -> Double {
    body()
    var times: [Double] = []
    for _ in 0..<runs {
      let start = DispatchTime.now().uptimeNanoseconds
      body()
      times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
    }
    return times.sorted()[runs / 2]
  }

  @Test func mobileNetV2LargestLayers() {
    var generator = SeededGenerator(seed: 1)
    let layers: [(String, ConvLayer)] = [
      ("3×3 conv 3→32 s2 @224 (stem)", Self.conv(3, 32, size: 224, kernel: 3, stride: 2, clamp: .relu6, generator: &generator)),
      ("3×3 depthwise 96 s2 @112", Self.conv(96, 96, size: 112, kernel: 3, stride: 2, groups: 96, clamp: .relu6, generator: &generator)),
      ("3×3 depthwise 144 s1 @56", Self.conv(144, 144, size: 56, kernel: 3, stride: 1, groups: 144, clamp: .relu6, generator: &generator)),
      ("1×1 conv 16→96 @112", Self.conv(16, 96, size: 112, kernel: 1, stride: 1, clamp: .relu6, generator: &generator)),
      ("1×1 conv 144→24 @56", Self.conv(144, 24, size: 56, kernel: 1, stride: 1, clamp: .none, generator: &generator)),
      ("1×1 conv 320→1280 @7", Self.conv(320, 1280, size: 7, kernel: 1, stride: 1, clamp: .relu6, generator: &generator)),
    ]
    for (name, layer) in layers {
      let input = generator.floats(layer.shape.inputShape.elementCount)
      var output = [Float](repeating: 0, count: layer.shape.outputShape.elementCount)
      let milliseconds = input.withUnsafeBufferPointer { input in
        output.withUnsafeMutableBufferPointer { output in
          Self.median { layer.run(input.baseAddress!, output.baseAddress!) }
        }
      }
      let rate = Double(layer.macs) / milliseconds / 1e6
      print("timing: \(name): \(String(format: "%.3f", milliseconds)) ms, \(String(format: "%.2f", rate)) GMAC/s")
    }
  }

  /// float32 elementwise throughput on 1M contiguous elements: the vectorized row paths.
  @Test func elementwiseFloat32() throws {
    var generator = SeededGenerator(seed: 3)
    let count = 1 << 20
    let a = generator.floats(count)
    let b = generator.floats(count)
    var output = [Float](repeating: 0, count: count)
    let cases: [(String, BinaryOperation, [Int])] = [
      ("add", .add(), [1]), ("add alpha 2", .add(alpha: .int(2)), [1]), ("mul by scalar", .mul, [0]),
      ("maximum", .maximum, [1]),
    ]
    for (name, op, bStrides) in cases {
      let milliseconds = a.withUnsafeBytes { a in
        b.withUnsafeBytes { b in
          output.withUnsafeMutableBytes { output in
            Self.median {
              try! ElementwiseKernels.binary(
                op, dtype: .float32, a: a.baseAddress!, aStrides: [1], b: b.baseAddress!, bStrides: bStrides,
                output: output.baseAddress!, outputStrides: [1], shape: [count])
            }
          }
        }
      }
      print("timing: binary \(name), 1M float32: \(String(format: "%.3f", milliseconds)) ms")
    }
    for (name, op) in [("relu", UnaryOperation.relu), ("hardswish", .hardswish), ("sigmoid", .sigmoid)] {
      let milliseconds = a.withUnsafeBytes { a in
        output.withUnsafeMutableBytes { output in
          Self.median {
            ElementwiseKernels.unary(
              op, dtype: .float32, input: a.baseAddress!, inputStrides: [1], output: output.baseAddress!,
              outputStrides: [1], shape: [count])
          }
        }
      }
      print("timing: unary \(name), 1M float32: \(String(format: "%.3f", milliseconds)) ms")
    }
  }

  /// MobileNetV2 (torchvision, width 1.0) at 1×3×224×224 with BatchNorm folded into the convs,
  /// as the runtime will run it: convs with fused relu6, residual adds, global average pooling
  /// and the classifier.
  @Test func mobileNetV2Network() throws {
    var generator = SeededGenerator(seed: 2)
    // (expansion, output channels, repeats, first stride)
    let settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    enum Step {
      case conv(ConvLayer)
      case block([ConvLayer], residual: Bool)
    }
    var steps: [Step] = []
    var size = 224
    steps.append(.conv(Self.conv(3, 32, size: size, kernel: 3, stride: 2, clamp: .relu6, generator: &generator)))
    size = 112
    var channels = 32
    for (expansion, outputChannels, repeats, firstStride) in settings {
      for repeatIndex in 0..<repeats {
        let stride = repeatIndex == 0 ? firstStride : 1
        let hidden = channels * expansion
        var layers: [ConvLayer] = []
        if expansion != 1 {
          layers.append(Self.conv(channels, hidden, size: size, kernel: 1, stride: 1, clamp: .relu6, generator: &generator))
        }
        layers.append(Self.conv(hidden, hidden, size: size, kernel: 3, stride: stride, groups: hidden, clamp: .relu6, generator: &generator))
        size = (size + 2 - 3) / stride + 1
        layers.append(Self.conv(hidden, outputChannels, size: size, kernel: 1, stride: 1, clamp: .none, generator: &generator))
        steps.append(.block(layers, residual: stride == 1 && channels == outputChannels))
        channels = outputChannels
      }
    }
    steps.append(.conv(Self.conv(channels, 1280, size: size, kernel: 1, stride: 1, clamp: .relu6, generator: &generator)))
    let classifierWeight = generator.floats(1000 * 1280, in: -0.03...0.03)
    let classifierBias = generator.floats(1000, in: -0.1...0.1)
    let macs = steps.reduce(1280 * 1000) { total, step in
      switch step {
      case .conv(let layer): total + layer.macs
      case .block(let layers, _): total + layers.reduce(0) { $0 + $1.macs }
      }
    }

    let capacity = 32 * 112 * 112 * 6
    let image = generator.floats(3 * 224 * 224)
    let buffers = (0..<3).map { _ in UnsafeMutablePointer<Float>.allocate(capacity: capacity) }
    defer { buffers.forEach { $0.deallocate() } }
    let pooled = UnsafeMutablePointer<Float>.allocate(capacity: 1280)
    defer { pooled.deallocate() }
    var logits = [Float](repeating: 0, count: 1000)
    func forward() {
      buffers[0].update(from: image, count: image.count)
      var current = 0
      for step in steps {
        switch step {
        case .conv(let layer):
          let next = (current + 1) % 3
          layer.run(buffers[current], buffers[next])
          current = next
        case .block(let layers, let residual):
          var source = current
          for layer in layers {
            let target = [0, 1, 2].first { $0 != source && $0 != current }!
            layer.run(buffers[source], buffers[target])
            source = target
          }
          if residual {
            let shape = [layers.last!.shape.outputShape.elementCount]
            try! ElementwiseKernels.binary(
              .add(), dtype: .float32, a: buffers[source], aStrides: [1], b: buffers[current], bStrides: [1],
              output: buffers[source], outputStrides: [1], shape: shape)
          }
          current = source
        }
      }
      let pool = AdaptivePool2DShape(planes: 1280, inputHeight: size, inputWidth: size, outputHeight: 1, outputWidth: 1)
      PoolingKernels.adaptiveAvgPool2dReference(pool, input: buffers[current], output: pooled)
      classifierWeight.withUnsafeBufferPointer { weight in
        classifierBias.withUnsafeBufferPointer { bias in
          logits.withUnsafeMutableBufferPointer {
            GEMMKernels.linearReference(
              rows: 1, inputFeatures: 1280, outputFeatures: 1000, input: pooled,
              weight: weight.baseAddress!, bias: bias.baseAddress!, output: $0.baseAddress!)
          }
        }
      }
    }
    let milliseconds = Self.median(runs: 5, forward)
    print(
      "timing: MobileNetV2 224×224 forward (\(String(format: "%.0f", Double(macs) / 1e6))M MACs): "
        + "\(String(format: "%.1f", milliseconds)) ms, \(String(format: "%.2f", Double(macs) / milliseconds / 1e6)) GMAC/s")
    let finite = logits.allSatisfy { $0.isFinite }
    #expect(finite)
  }
}
