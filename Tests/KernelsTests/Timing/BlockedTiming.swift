import Foundation
import Kernels
import Testing

// By-hand timing of the channel-blocked kernels (Note [Channel-blocked activations]) against the
// NCHW kernels the runtime uses on the same layers; skipped unless KERNELS_TIMING is set (see
// FastKernelTiming for the command).
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["KERNELS_TIMING"] != nil))
struct BlockedTiming {
  @Test func pointwiseLayers() {
    var generator = SeededGenerator(seed: 9)
    let shapes: [(Int, Int, Int)] = [
      (576, 96, 14), (96, 576, 14), (384, 64, 14), (64, 384, 14), (960, 160, 7), (160, 960, 7), (960, 320, 7),
      (320, 1280, 7), (192, 32, 28), (32, 192, 28), (144, 24, 56), (24, 144, 56), (96, 24, 56), (16, 96, 112),
      (32, 16, 112), (512, 1000, 13), (512, 64, 13), (64, 256, 13), (128, 32, 27), (32, 128, 27), (64, 16, 55),
      (16, 64, 55),
    ]
    for (k, m, size) in shapes {
      let layer = FastKernelTiming.conv(k, m, size: size, kernel: 1, clamp: .relu6, generator: &generator)
      let pixels = size * size
      let input = generator.floats(k * pixels)
      var output = [Float](repeating: 0, count: m * pixels)
      let scratch = AlignedBuffer(count: max(layer.scratchCount, GEMMKernels.transposedGEMMScratchCount(depth: k)))
      let blockedIn = AlignedBuffer(count: k * pixels)
      let blockedOut = AlignedBuffer(count: m * pixels)
      input.withUnsafeBufferPointer { ChannelBlocks.pack($0.baseAddress!, channels: k, pixels: pixels, into: blockedIn.pointer, blocks: 0..<k / 8) }
      let transposed = layer.weight.withUnsafeBufferPointer { w in
        layer.bias.withUnsafeBufferPointer {
          VectorPanelWeights(rows: m, depth: k, weights: w.baseAddress!, rowStride: k, bias: $0.baseAddress!, panelRows: VectorPanelWeights.panelRows(forRows: m))
        }
      }
      let nchw = input.withUnsafeBufferPointer { input in
        output.withUnsafeMutableBufferPointer { output in
          FastKernelTiming.median {
            if ConvolutionKernels.prefersTransposedTiles(layer.shape) {
              GEMMKernels.transposedGEMM(
                weights: transposed, b: input.baseAddress!, bRowStride: pixels, c: output.baseAddress!, cRowStride: pixels,
                clamp: .relu6, rows: 0..<m, columns: 0..<pixels, scratch: scratch.pointer)
            } else {
              layer.run(input.baseAddress!, output.baseAddress!, scratch: scratch.pointer)
            }
          }
        }
      }
      var line = String(format: "timing: 1×1 %d→%d @%d×%d: NCHW %.3f ms", k, m, size, size, nchw)
      for pr in [16, 24] {
        let weights = layer.weight.withUnsafeBufferPointer { w in
          layer.bias.withUnsafeBufferPointer {
            VectorPanelWeights(rows: m, depth: k, weights: w.baseAddress!, rowStride: k, bias: $0.baseAddress!, panelRows: pr)
          }
        }
        let blocked = FastKernelTiming.median {
          ConvolutionKernels.blockedPointwise(
            weights: weights, input: blockedIn.pointer, output: blockedOut.pointer, pixelCount: pixels, clamp: .relu6,
            pixels: 0..<pixels, scratch: scratch.pointer)
        }
        var unpacked = [Float](repeating: 0, count: m * pixels)
        unpacked.withUnsafeMutableBufferPointer { ChannelBlocks.unpack(blockedOut.pointer, channels: m, pixels: pixels, into: $0.baseAddress!, blocks: 0..<m / 8) }
        let error = zip(unpacked, output).map { abs($0 - $1) }.max()!
        line += String(format: ", blocked/%d %.3f ms (max diff %.1e)", pr, blocked, error)
      }
      print(line)
    }
  }
}

extension BlockedTiming {
  /// Stems from phase planes: the NCHW GEMM (6×16 tiles) against the blocked kernel (16×6
  /// tiles), the scatter into phase planes both include, and the unpack of the blocked output to
  /// NCHW.
  @Test func stems() {
    var generator = SeededGenerator(seed: 13)
    for (m, kernel, padding) in [(16, 3, 1), (32, 3, 1), (64, 3, 0)] {
      let shape = Conv2DShape(
        batch: 1, inputChannels: 3, outputChannels: m, inputHeight: 224, inputWidth: 224, kernelHeight: kernel,
        kernelWidth: kernel, stride: (2, 2), padding: (padding, padding), groups: 1)
      let layer = FastKernelTiming.Layer(shape, clamp: .relu, generator: &generator)
      let input = generator.floats(shape.inputShape.elementCount)
      let pixels = shape.outputHeight * shape.outputWidth
      var output = [Float](repeating: 0, count: m * pixels)
      let planes = AlignedBuffer(count: ConvolutionKernels.phasePlanesCount(shape) + ConvolutionKernels.blockedPhasePlanesSlack)
      let scratch = AlignedBuffer(count: layer.scratchCount)
      let blocked = AlignedBuffer(count: m * pixels + 64)
      let panels = layer.weight.withUnsafeBufferPointer { w in
        layer.bias.withUnsafeBufferPointer {
          VectorPanelWeights(rows: m, depth: 3 * kernel * kernel, weights: w.baseAddress!, rowStride: 3 * kernel * kernel, bias: $0.baseAddress!, panelRows: 16)
        }
      }
      let columns = ConvolutionKernels.phasePlanesColumns(shape)
      let nchw = input.withUnsafeBufferPointer { input in
        output.withUnsafeMutableBufferPointer { output in
          FastKernelTiming.median {
            layer.runPhasePlanes(input.baseAddress!, output.baseAddress!, planes: planes.pointer, scratch: scratch.pointer)
          }
        }
      }
      let blockedTime = input.withUnsafeBufferPointer { input in
        FastKernelTiming.median {
          ConvolutionKernels.conv2dPhasePlanesScatter(shape, input: input.baseAddress!, planes: planes.pointer, channels: 0..<3)
          ConvolutionKernels.blockedPhasePlaneConv2d(
            shape, planes: planes.pointer, weights: panels, output: blocked.pointer, clamp: .relu, columns: 0..<columns)
        }
      }
      let scatterTime = input.withUnsafeBufferPointer { input in
        FastKernelTiming.median {
          ConvolutionKernels.conv2dPhasePlanesScatter(shape, input: input.baseAddress!, planes: planes.pointer, channels: 0..<3)
        }
      }
      let unpack = output.withUnsafeMutableBufferPointer { output in
        FastKernelTiming.median {
          ChannelBlocks.unpack(blocked.pointer, channels: m, pixels: pixels, into: output.baseAddress!, blocks: 0..<m / 8)
        }
      }
      print(String(
        format: "timing: stem 3→%d %d×%d: NCHW %.3f ms, blocked %.3f ms (scatter %.3f ms), unpack %.3f ms", m, kernel,
        kernel, nchw, blockedTime, scatterTime, unpack))
    }
  }

  @Test func depthwiseLayers() {
    var generator = SeededGenerator(seed: 10)
    let shapes: [(Int, Int, Int)] = [
      (32, 112, 1), (96, 112, 2), (144, 56, 1), (144, 56, 2), (192, 28, 1), (192, 28, 2), (384, 14, 1), (576, 14, 1),
      (576, 14, 2), (960, 7, 1),
    ]
    for (c, size, stride) in shapes {
      let layer = FastKernelTiming.conv(c, c, size: size, kernel: 3, stride: stride, groups: c, clamp: .relu6, generator: &generator)
      let (pixels, outPixels) = (size * size, layer.shape.outputHeight * layer.shape.outputWidth)
      let input = generator.floats(c * pixels)
      var output = [Float](repeating: 0, count: c * outPixels)
      let scratch = AlignedBuffer(count: max(layer.scratchCount, ConvolutionKernels.blockedDepthwiseScratchCount(layer.shape)))
      let blockedIn = AlignedBuffer(count: c * pixels)
      let blockedOut = AlignedBuffer(count: c * outPixels)
      input.withUnsafeBufferPointer { ChannelBlocks.pack($0.baseAddress!, channels: c, pixels: pixels, into: blockedIn.pointer, blocks: 0..<c / 8) }
      let nchw = input.withUnsafeBufferPointer { input in
        output.withUnsafeMutableBufferPointer { output in
          FastKernelTiming.median { layer.run(input.baseAddress!, output.baseAddress!, scratch: scratch.pointer) }
        }
      }
      let blocked = FastKernelTiming.median {
        ConvolutionKernels.blockedDepthwise(
          layer.shape, input: blockedIn.pointer, weights: layer.depthwise!, output: blockedOut.pointer, clamp: .relu6,
          blocks: 0..<c / 8, rows: 0..<layer.shape.outputHeight, scratch: scratch.pointer)
      }
      var unpacked = [Float](repeating: 0, count: c * outPixels)
      unpacked.withUnsafeMutableBufferPointer { ChannelBlocks.unpack(blockedOut.pointer, channels: c, pixels: outPixels, into: $0.baseAddress!, blocks: 0..<c / 8) }
      let error = zip(unpacked, output).map { abs($0 - $1) }.max()!
      print(String(format: "timing: depthwise 3×3 %d s%d @%d×%d: NCHW %.3f ms, blocked %.3f ms (max diff %.1e)", c, stride, size, size, nchw, blocked, error))
    }
    for (c, size) in [(32, 112), (96, 112), (144, 56), (576, 14), (1280, 7)] {
      let pixels = size * size
      let input = generator.floats(c * pixels)
      let blocked = AlignedBuffer(count: c * pixels)
      let time = input.withUnsafeBufferPointer { input in
        FastKernelTiming.median { ChannelBlocks.pack(input.baseAddress!, channels: c, pixels: pixels, into: blocked.pointer, blocks: 0..<c / 8) }
      }
      print(String(format: "timing: pack %d @%d×%d: %.3f ms", c, size, size, time))
    }
  }
}

extension BlockedTiming {
  /// Median time of `body` with the caches flushed (a 32 MB write) before each call.
  static func cold(runs: Int = 9, _ body: () -> Void) -> Double {
    let flush = AlignedBuffer(count: 8 << 20)
    var times: [Double] = []
    for _ in 0..<runs {
      flush.pointer.update(repeating: 1, count: 8 << 20)
      let start = DispatchTime.now().uptimeNanoseconds
      body()
      times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
    }
    return times.sorted()[runs / 2]
  }

  @Test func coldDepthwise() {
    var generator = SeededGenerator(seed: 11)
    for (c, size, stride) in [(144, 56, 1), (32, 112, 1), (96, 112, 2), (192, 28, 1)] {
      let layer = FastKernelTiming.conv(c, c, size: size, kernel: 3, stride: stride, groups: c, clamp: .relu6, generator: &generator)
      let (pixels, outPixels) = (size * size, layer.shape.outputHeight * layer.shape.outputWidth)
      let input = AlignedBuffer(count: c * pixels)
      input.pointer.update(repeating: 0.5, count: c * pixels)
      let output = AlignedBuffer(count: c * outPixels)
      let scratch = AlignedBuffer(count: max(layer.scratchCount, ConvolutionKernels.blockedDepthwiseScratchCount(layer.shape)))
      let nchw = Self.cold { layer.run(input.pointer, output.pointer, scratch: scratch.pointer) }
      let blocked = Self.cold {
        ConvolutionKernels.blockedDepthwise(
          layer.shape, input: input.pointer, weights: layer.depthwise!, output: output.pointer, clamp: .relu6,
          blocks: 0..<c / 8, rows: 0..<layer.shape.outputHeight, scratch: scratch.pointer)
      }
      print(String(format: "timing: cold depthwise 3×3 %d s%d @%d×%d: NCHW %.3f ms, blocked %.3f ms", c, stride, size, size, nchw, blocked))
    }
  }
}

extension BlockedTiming {
  @Test func coldPointwise() {
    var generator = SeededGenerator(seed: 12)
    for (k, m, size) in [(960, 320, 7), (320, 1280, 7), (960, 160, 7), (576, 96, 14), (96, 576, 14), (16, 96, 112), (24, 144, 56)] {
      let layer = FastKernelTiming.conv(k, m, size: size, kernel: 1, clamp: .relu6, generator: &generator)
      let pixels = size * size
      let input = AlignedBuffer(count: k * pixels)
      input.pointer.update(repeating: 0.5, count: k * pixels)
      let output = AlignedBuffer(count: m * pixels)
      let scratch = AlignedBuffer(count: max(layer.scratchCount, GEMMKernels.transposedGEMMScratchCount(depth: k)))
      let transposed = layer.weight.withUnsafeBufferPointer { w in
        layer.bias.withUnsafeBufferPointer {
          VectorPanelWeights(rows: m, depth: k, weights: w.baseAddress!, rowStride: k, bias: $0.baseAddress!, panelRows: VectorPanelWeights.panelRows(forRows: m))
        }
      }
      let nchw = Self.cold {
        if ConvolutionKernels.prefersTransposedTiles(layer.shape) {
          GEMMKernels.transposedGEMM(
            weights: transposed, b: input.pointer, bRowStride: pixels, c: output.pointer, cRowStride: pixels,
            clamp: .relu6, rows: 0..<m, columns: 0..<pixels, scratch: scratch.pointer)
        } else {
          layer.run(input.pointer, output.pointer, scratch: scratch.pointer)
        }
      }
      let weights = layer.weight.withUnsafeBufferPointer { w in
        layer.bias.withUnsafeBufferPointer {
          VectorPanelWeights(rows: m, depth: k, weights: w.baseAddress!, rowStride: k, bias: $0.baseAddress!, panelRows: ConvolutionKernels.blockedPanelRows(layer.shape))
        }
      }
      let blocked = Self.cold {
        ConvolutionKernels.blockedPointwise(
          weights: weights, input: input.pointer, output: output.pointer, pixelCount: pixels, clamp: .relu6,
          pixels: 0..<pixels, scratch: scratch.pointer)
      }
      print(String(format: "timing: cold 1×1 %d→%d @%d×%d: NCHW %.3f ms, blocked %.3f ms", k, m, size, size, nchw, blocked))
    }
  }
}

/// By-hand timing of `blockedWinograd` against the NCHW Winograd kernel on SqueezeNet's and
/// ResNet-18's 3×3 layers (one chunk of the runtime's size at a time, the whole plane).
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["KERNELS_TIMING"] != nil))
struct BlockedWinogradTiming {
  @Test func winogradLayers() {
    var generator = SeededGenerator(seed: 11)
    let layers: [(Int, Int, Int)] = [(16, 64, 55), (32, 128, 27), (48, 192, 13), (64, 256, 13), (64, 64, 56), (128, 128, 28)]
    for (k, m, size) in layers {
      let layer = FastKernelTiming.conv(k, m, size: size, kernel: 3, clamp: .relu, generator: &generator)
      let shape = layer.shape
      let tileSize = ConvolutionKernels.winogradTileSize(shape)
      let pixels = size * size
      let input = generator.floats(k * pixels)
      var output = [Float](repeating: 0, count: m * pixels)
      let nchwWeights = layer.weight.withUnsafeBufferPointer { w in
        layer.bias.withUnsafeBufferPointer { WinogradWeights(shape, tileSize: tileSize, weight: w.baseAddress!, bias: $0.baseAddress!) }
      }
      let blockedWeights = layer.weight.withUnsafeBufferPointer { w in
        layer.bias.withUnsafeBufferPointer {
          BlockedWinogradWeights(shape, tileSize: tileSize, weight: w.baseAddress!, bias: $0.baseAddress!)
        }
      }
      let (chunkRows, tileRows) = (
        ConvolutionKernels.winogradChunkRows(shape, tileSize: tileSize), ConvolutionKernels.winogradTileRows(shape, tileSize: tileSize)
      )
      let scratch = AlignedBuffer(
        count: max(
          ConvolutionKernels.winogradScratchCount(shape, tileSize: tileSize),
          ConvolutionKernels.blockedWinogradScratchCount(shape, tileSize: tileSize, tileRows: chunkRows)))
      let blockedIn = AlignedBuffer(count: k * pixels)
      let blockedOut = AlignedBuffer(count: m * pixels)
      input.withUnsafeBufferPointer { ChannelBlocks.pack($0.baseAddress!, channels: k, pixels: pixels, into: blockedIn.pointer, blocks: 0..<k / 8) }
      let nchw = input.withUnsafeBufferPointer { input in
        output.withUnsafeMutableBufferPointer { output in
          FastKernelTiming.median {
            ConvolutionKernels.conv2dWinograd(
              shape, input: input.baseAddress!, weights: nchwWeights, output: output.baseAddress!, clamp: .relu,
              scratch: scratch.pointer)
          }
        }
      }
      let blocked = FastKernelTiming.median {
        for first in stride(from: 0, to: tileRows, by: chunkRows) {
          ConvolutionKernels.blockedWinograd(
            shape, input: blockedIn.pointer, weights: blockedWeights, output: blockedOut.pointer, clamp: .relu,
            tileRows: first..<min(first + chunkRows, tileRows), scratch: scratch.pointer)
        }
      }
      var unpacked = [Float](repeating: 0, count: m * pixels)
      unpacked.withUnsafeMutableBufferPointer { ChannelBlocks.unpack(blockedOut.pointer, channels: m, pixels: pixels, into: $0.baseAddress!, blocks: 0..<m / 8) }
      let same = unpacked == output
      print(String(format: "timing: 3×3 %d→%d @%d F(%d): NCHW %.3f ms, blocked %.3f ms (%@)", k, m, size, tileSize, nchw, blocked, same ? "same floats" : "DIFFERENT"))
    }
  }
}
