import Kernels
import Synchronization
import TensorCore
import TorchIR

/// Caches the attribute slot a `prim::GetAttr`/`SetAttr` resolved to, per object type.
final class SlotCache {
  var typeName: String?
  var slot = 0
}

/// One step of an execution plan. Operands are register indices.
indirect enum Instruction {
  case op(kernel: OpKernel, inputs: [Int], outputs: [Int], node: Node)
  case missing(node: Node)
  case constant(IValue, output: Int)
  case getAttr(object: Int, name: String, output: Int, cache: SlotCache, node: Node)
  case setAttr(object: Int, name: String, value: Int, cache: SlotCache, node: Node)
  case callMethod(receiver: Int, name: String, arguments: [Int], output: Int, node: Node)
  case callFunction(name: String, arguments: [Int], output: Int, node: Node)
  case branch(condition: Int, then: Segment, otherwise: Segment, outputs: [Int])
  case loop(tripCount: Int, condition: Int, initial: [Int], body: Segment, counter: Int, parameters: [Int], outputs: [Int])
  case listConstruct(inputs: [Int], elementType: TorchType, output: Int)
  case listUnpack(input: Int, outputs: [Int], node: Node)
  case tupleConstruct(inputs: [Int], output: Int)
  case tupleUnpack(input: Int, outputs: [Int], node: Node)
  case tupleIndex(input: Int, index: Int, output: Int, node: Node)
  case tupleSlice(input: Int, begin: Int, end: Int, output: Int)
  case dictConstruct(inputs: [Int], keyType: TorchType, valueType: TorchType, output: Int, node: Node)
  case createObject(typeName: String, output: Int)
  case isInstance(input: Int, types: [TorchType], output: Int)
  case move(from: Int, to: Int)
  case uninitialized(output: Int)
  case raise(message: Int, exceptionClass: Int?, node: Node)
  case print(inputs: [Int])
}

/// A block's instructions and the registers holding its outputs.
///
/// `releases[i]` lists registers defined in this segment whose last use is instruction `i`: the
/// interpreter drops them right after it, so tensor memory goes back to the pool while the run
/// continues (Note [Register release]).
struct Segment {
  var instructions: [Instruction]
  var outputs: [Int]
  var releases: [[Int]] = []
  /// Instructions in a concatenation group (Note [Concatenation in place]), by index.
  var arenas: [Int: ArenaRole] = [:]
  /// Instructions whose result may stay channel-blocked, and instructions that may read such a
  /// result (Note [Channel-blocked plans]).
  var blocked: Set<Int> = []
  var blockedReaders: Set<Int> = []
}

// Note [Channel-blocked plans]
// The convolutions of a chain such as MobileNetV2's body run fastest on channel-blocked
// activations (Note [Channel-blocked activations]): a rank-5 float32 tensor [N, C/8, H, W, 8]
// standing for the NCHW tensor [N, C, H, W]. Only the executors of prepacked convolutions
// (alone, or fused with a residual add or an activation), `aten::mul.Tensor` (a channel scaling),
// `max_pool2d` and `cat` (SqueezeNet, below),
// `aten::size` (which reports the NCHW shape) and the per-channel plane means
// (`adaptive_avg_pool2d(x, [1, 1])`, `mean(x, [2, 3])`, whose result is NCHW) know that layout,
// so the plan decides
// which results may take it: an instruction whose result is read only by such instructions, in
// the same segment, at the positions they accept it (the convolution's input, the residual's
// other operand, the size's or mean's tensor), and is not an output of the segment. For those instructions the interpreter
// raises `ExecutionContext.blockedOutputPermitted` while they run; the executor then may (not
// must) return its result blocked. Every aware executor takes either layout at those positions,
// converting when its kernels need the other one, so nothing else ever sees a blocked tensor,
// and the numbers are the kernels' own: the blocked kernels compute the same sums in the same
// order as the NCHW ones.
// Which chains: the plan reads each prepacked convolution's constant context. A 1×1 (stride 1,
// no padding) or depthwise convolution of whole channel blocks is native: it runs blocked,
// alone or with a fused residual add. A dense one (one group) to whole blocks is a stem: it
// writes a blocked output from an NCHW input (Note [Channel-blocked phase planes]). A result is
// allowed blocked only when every reader is native and the chain began at a stem: a native
// convolution of an NCHW input stays NCHW, since packing its input costs about what the layer
// gains (MobileNetV3-Small 1.05×, SqueezeNet 1.09× and ShuffleNetV2 1.02× slower when every
// chain started wherever it could). A prepared convolution does not exist before its first run,
// so a model's first run is NCHW throughout; later runs give the same floats.
// Measured on the Zen 2 host (2026-11-24, six alternating runs of `bench` against `bench
// --nchw`): MobileNetV2 0.915× at one thread, 0.908× at two; MobileNetV3-Small, ShuffleNetV2,
// SqueezeNet and ResNet-18 (no chain) within ±0.3%. At two threads a 1×1 layer splits by output
// panels when whole tiles of pixels would split less evenly (a 7×7 plane's nine tiles 5 : 4).
// A classifier's pool reads the last convolution blocked (averaged by
// `PoolingKernels.blockedGlobalAveragePool`, the same floats as on NCHW planes), so that layer
// runs blocked too instead of unpacking its input for the NCHW kernels: MobileNetV2's 320→1280
// on 7×7 and its pool took 0.515 → 0.487 ms at one thread and 0.330 → 0.300 ms at two
// (2026-11-25, medians of six alternating per-node profiles), the pool itself 0.016 ms either way.
// MobileNetV3 runs blocked from its stem to its last 1×1 layer too: a convolution fused with the
// activation after it (Note [Epilogue fusion]) takes part like the convolution alone, hardswish
// going into the blocked kernels' stores as into the NCHW ones' (Note [Store activations]) and
// any other activation running on the blocked output (elementwise, so the layout does not
// matter); each squeeze-and-excitation block's `scale * x` (`aten::mul.Tensor`, aware of both
// operands) multiplies a blocked x by one factor per channel into a blocked result
// (`ElementwiseKernels.blockedChannelScaleFloat32`, the same products), and its pool takes the
// means the blocked depthwise kernel computes on small planes (Note [Pooled side output]), the
// same floats as the NCHW kernel's. Measured (2026-11-25, alternating runs of `bench`, a noisy
// phase of the host): MobileNetV3-Small 0.861× at one thread and 0.886× at two (8 of 8 pairs
// faster each), MobileNetV2 0.88× and 0.93× (the blocked depthwise rows' last inner pixels now
// go as one overlapping group of four). Its depthwise layers on 28- to 56-column planes are
// still slower blocked than on NCHW in per-node profiles (88 channels stride 1 on 28×28 0.071
// against 0.042 ms, noisy), on the row path and on tiles alike (tiles up to 28 or 56 columns
// were tried).
// SqueezeNet runs blocked from its stem to its classifier's pool: a 3×3 stride-1 convolution
// the channel-blocked Winograd kernel takes (Note [Channel-blocked Winograd]: whole blocks of at
// most 128 input channels) is native, `max_pool2d` and `cat` along dimension 1 (`.join`) take a
// blocked input and give a blocked result (a blocked cat is a cat of the rank-5 tensors along
// their blocks, and the fire modules' convolutions write blocked slices of the concatenation,
// Note [Concatenation in place]). A join whose own result cannot be blocked would only unpack
// its input (ResNet's and ShuffleNetV2's stems feed a pool whose readers are NCHW), so the plan
// takes such joins as NCHW readers, repeating until none is left; a joined list that ends up
// holding blocked and NCHW tensors makes its cat unpack them. Measured (2026-11-25, alternating
// runs of `bench`, eight pairs each, a noisy host): SqueezeNet 7.48 → 6.51 ms at one thread
// (0.871×) and 3.98 → 3.77 ms at two (0.949×), against NCHW tensors with the Winograd layers
// packing and unpacking around the blocked kernel; the squeeze layers read their input as one
// run of eight channels per pixel instead of 128 to 512 strided rows (128 → 16 on 55×55 0.194 →
// 0.138 ms alone), the pools need no shuffles, and the Winograd layers neither pack nor unpack.

// Note [Concatenation in place]
// SqueezeNet's fire modules (and Inception-style blocks) end in `cat([conv(x), conv(y)], 1)`:
// the convolutions write their outputs, then the cat copies them into one tensor, and at two
// threads the copy also pulls half of every input across from the other core's cache. When the
// plan sees a cat of a list built from convolution outputs that nothing else uses, each
// produced by its own instruction in list order, it makes them a group (`CatArena`): from the
// second run on (the first one learns the concatenation's size), the first convolution of the
// group allocates one buffer of that size, each convolution's output is the next slice of it
// (`ExecutionContext.makeTensor` hands out the slice), and the cat, finding its inputs
// back to back in that buffer and batch 1 along the joined dimension, returns a view of the
// buffer instead of copying. Anything unexpected (another shape, a fallback kernel that
// allocates elsewhere, another dimension) leaves the inputs where they are, and the cat copies
// as usual. Nothing else can see the slices: the list and its elements have no other use, so
// the view never aliases a tensor the program still holds. Blocked slices (Note [Channel-blocked
// plans]) join the same way into the blocked concatenation, which the interpreter unpacks
// where the plan does not allow the cat a blocked result.

/// A concatenation group's size, learned from the last run (Note [Concatenation in place]).
final class CatArena: Sendable {
  /// Floats of the last concatenation; 0 before the first.
  let floats = Atomic<Int>(0)
}

/// An instruction's part in a concatenation group.
enum ArenaRole {
  /// Produces element `position` of the group's list.
  case producer(CatArena, position: Int)
  /// The cat itself.
  case cat(CatArena)
  /// A convolution whose output a later `adaptive_avg_pool2d` averages (Note [Pooled side
  /// output]): asks the convolution for its channel means.
  case meansProducer(MeansLink)
  /// That pool: takes the means when they came with its input.
  case meansConsumer(MeansLink)
}

// Note [Pooled side output]
// MobileNetV3's squeeze-and-excitation blocks average each channel of a depthwise convolution's
// output (`adaptive_avg_pool2d(x, 1)`), then scale x by what the averages become. On 14×14 and
// 7×7 planes the channel-blocked depthwise kernel (Note [Channel-blocked depthwise]) has each
// block's eight output planes in one small flat tile in L1 just before it scatters them, so it
// can sum them there (`depthwiseBlockMeans`) instead of the pool re-reading the planes. The plan
// pairs such a convolution with the pool (`PlanBuilder.arenas`) when every use of the pooled value
// is an op that neither writes its inputs nor returns an alias of them, so nothing can change
// the values between the two. At run time the convolution is asked for the means
// (`ExecutionContext.requestChannelMeans`); it hands them over only when its kernel computed
// them from the values it stored (no activation pass after it), and the pool takes them only when
// its input is that very output (the same `TensorViewKey`: storage, offset, shape, strides and
// dtype); otherwise each side runs as before. The means sum each plane's pixels in order in four interleaved sums, where
// `globalAveragePool` sums runs of eight: the same values up to rounding (a few ulps).
// Measured on the Zen 2 host (2026-11-24, one thread, MobileNetV3-Small, whose eight 14×14 and
// 7×7 squeeze-and-excitation pools take the means): in the per-node profile (six alternating
// runs) the pools' 0.038 ms went, and the depthwise layers took 0.015 ms more; the model 0.983×
// in twelve alternating runs of `bench` in a noisy phase (paired runs differing by about 1%).

/// Pairs a convolution with the pool that reads its output (Note [Pooled side output]).
final class MeansLink: Sendable {}

// Note [Register release]
// A register is released only by the segment that defines it (an instruction's outputs, or the
// segment's own block inputs), after the last instruction of that segment that reads it; reads
// inside nested segments count as reads by the instruction owning them. Segment outputs are never
// released there. Values from enclosing segments stay alive until their own segment releases them,
// so loop bodies never drop something a later iteration needs.

extension Instruction {
  /// Whether this op, not a convolution, takes a blocked input (`PlanBuilder.readsBlocked`).
  var readsBlocked: Bool {
    if case .op(_, _, _, let node) = self { return PlanBuilder.readsBlocked(node) }
    return false
  }

  /// Registers this instruction reads, including reads inside its nested segments.
  var reads: [Int] {
    switch self {
    case .op(_, let inputs, _, _): return inputs
    case .missing, .constant, .createObject, .uninitialized: return []
    case .getAttr(let object, _, _, _, _): return [object]
    case .setAttr(let object, _, let value, _, _): return [object, value]
    case .callMethod(let receiver, _, let arguments, _, _): return [receiver] + arguments
    case .callFunction(_, let arguments, _, _): return arguments
    case .branch(let condition, let then, let otherwise, _):
      return [condition] + Instruction.segmentReads(then) + Instruction.segmentReads(otherwise)
    case .loop(let trip, let condition, let initial, let body, _, _, _):
      return [trip, condition] + initial + Instruction.segmentReads(body)
    case .listConstruct(let inputs, _, _), .tupleConstruct(let inputs, _), .dictConstruct(let inputs, _, _, _, _),
      .print(let inputs):
      return inputs
    case .listUnpack(let input, _, _), .tupleUnpack(let input, _, _), .tupleSlice(let input, _, _, _),
      .isInstance(let input, _, _), .move(let input, _):
      return [input]
    case .tupleIndex(let input, let index, _, _): return [input, index]
    case .raise(let message, let exceptionClass, _): return [message] + (exceptionClass.map { [$0] } ?? [])
    }
  }

  /// Registers this instruction defines in its own segment.
  var writes: [Int] {
    switch self {
    case .op(_, _, let outputs, _): return outputs
    case .constant(_, let output), .getAttr(_, _, let output, _, _), .listConstruct(_, _, let output),
      .tupleConstruct(_, let output), .tupleIndex(_, _, let output, _), .tupleSlice(_, _, _, let output),
      .dictConstruct(_, _, _, let output, _), .createObject(_, let output), .isInstance(_, _, let output),
      .move(_, let output), .uninitialized(let output):
      return [output]
    case .callMethod(_, _, _, let output, _), .callFunction(_, _, let output, _): return output >= 0 ? [output] : []
    case .branch(_, _, _, let outputs), .loop(_, _, _, _, _, _, let outputs): return outputs
    case .listUnpack(_, let outputs, _), .tupleUnpack(_, let outputs, _): return outputs
    default: return []
    }
  }

  static func segmentReads(_ segment: Segment) -> [Int] {
    segment.instructions.flatMap(\.reads) + segment.outputs
  }
}

/// A graph compiled once into register-machine instructions and run many times.
///
/// Every value gets a register; blocks become nested segments. Operators are resolved to their
/// executors here, so a call does no lookups by name except for dynamic method dispatch.
final class ExecutionPlan {
  let registerCount: Int
  let inputs: [Int]
  let body: Segment
  let functionName: String

  init(graph: Graph, functionName: String, operators: OperatorTable) {
    var builder = PlanBuilder(operators: operators)
    self.functionName = functionName
    inputs = graph.inputs.map { builder.register($0) }
    body = builder.segment(graph.block)
    registerCount = builder.nextRegister
  }
}

/// Assigns registers and translates nodes.
private struct PlanBuilder {
  let operators: OperatorTable
  var registers: [ObjectIdentifier: Int] = [:]
  var nextRegister = 0

  init(operators: OperatorTable) {
    self.operators = operators
  }

  mutating func register(_ value: Value) -> Int {
    if let existing = registers[ObjectIdentifier(value)] { return existing }
    let index = nextRegister
    nextRegister += 1
    registers[ObjectIdentifier(value)] = index
    return index
  }

  mutating func segment(_ block: Block) -> Segment {
    var instructions: [Instruction] = []
    let nodes = Array(block.nodes)
    var index = 0
    while index < nodes.count {
      // Constants between an op and the one it fuses with (an add's alpha) go first.
      var next = index + 1
      while next < nodes.count, nodes[next].kind == .constant { next += 1 }
      if next < nodes.count, let fused = fuse(nodes[index], nodes[next]) {
        for constant in nodes[index + 1..<next] { instructions.append(translate(constant)) }
        instructions.append(fused)
        index = next + 1
        continue
      }
      instructions.append(translate(nodes[index]))
      index += 1
    }
    var segment = Segment(instructions: instructions, outputs: block.outputs.map { register($0) })
    segment.arenas = PlanBuilder.arenas(instructions)
    // Convolutions writing into a concatenation's slices may run blocked: blocked slices joined
    // along the channels are the blocked concatenation (`FastExecutors.joinedCat`); one whose
    // channel means a pool takes may too (the pool then averages the blocked output itself).
    (segment.blocked, segment.blockedReaders) = PlanBuilder.blockedResults(segment)
    segment.releases = PlanBuilder.releases(segment, blockInputs: block.inputs.map { register($0) })
    return segment
  }

  /// The concatenation groups among `instructions` (Note [Concatenation in place]).
  static func arenas(_ instructions: [Instruction]) -> [Int: ArenaRole] {
    var producers: [Int: (index: Int, node: Node)] = [:]
    var lists: [Int: [Int]] = [:]
    for (index, instruction) in instructions.enumerated() {
      switch instruction {
      case .op(_, _, let outputs, let node):
        for register in outputs { producers[register] = (index, node) }
      case .listConstruct(let inputs, _, let output):
        lists[output] = inputs
      default:
        break
      }
    }
    let convolutions: Set<String> = ["prepacked::conv2d_clamp_run", "aten::conv2d"]
    var roles: [Int: ArenaRole] = [:]
    for (index, instruction) in instructions.enumerated() {
      guard case .op(_, let inputs, _, let node) = instruction, node.schema?.fullName == "aten::cat",
        let list = node.inputs.first, list.uses.count == 1, case let listNode = list.node,
        listNode.kind == .listConstruct, listNode.inputs.count >= 2,
        listNode.inputs.allSatisfy({ $0.uses.count == 1 }), let elements = lists[inputs[0]]
      else { continue }
      let sources = elements.compactMap { producers[$0] }
      guard sources.count == elements.count,
        sources.allSatisfy({ $0.node.schema.map { convolutions.contains($0.fullName) } ?? false }),
        zip(sources, sources.dropFirst()).allSatisfy({ $0.index < $1.index }), sources.last!.index < index,
        sources.allSatisfy({ roles[$0.index] == nil })
      else { continue }
      let arena = CatArena()
      for (position, source) in sources.enumerated() { roles[source.index] = .producer(arena, position: position) }
      roles[index] = .cat(arena)
    }
    // Convolutions whose output a pool to 1×1 averages (Note [Pooled side output]).
    for (index, instruction) in instructions.enumerated() {
      guard case .op(_, let inputs, _, let node) = instruction,
        node.schema?.fullName == "aten::adaptive_avg_pool2d", node.inputs.count == 2,
        PlanBuilder.isOneByOne(node.inputs[1]), roles[index] == nil,
        let source = producers[inputs[0]], source.index < index, roles[source.index] == nil,
        source.node.schema.map({ convolutions.contains($0.fullName) }) ?? false,
        node.inputs[0].uses.allSatisfy({ use in
          use.user.schema.map { !$0.isMutating && !$0.hasAliasAnnotations } ?? false
        })
      else { continue }
      let link = MeansLink()
      roles[source.index] = .meansProducer(link)
      roles[index] = .meansConsumer(link)
    }
    return roles
  }

  /// The input positions of an instruction that take a channel-blocked tensor (Note
  /// [Channel-blocked plans]): a prepacked convolution's input, and when it is fused with a
  /// residual add, the add's other operand.
  static func blockedPositions(_ instruction: Instruction) -> Set<Int> {
    guard case .op(_, let inputs, let outputs, let node) = instruction else { return [] }
    if readsBlocked(node) || isBlockedJoin(instruction) { return [0] }
    if isChannelScale(instruction) { return [0, 1] }
    guard node.schema?.fullName == "prepacked::conv2d_clamp_run" else { return [] }
    if outputs.count == 2, inputs.count > 2 {
      let second = node.outputs[0].uses.first?.user.schema?.fullName ?? ""
      return ["aten::add.Tensor", "aten::add_.Tensor"].contains(second) ? [0, 2] : [0]
    }
    return [0]
  }

  /// How a prepacked convolution instruction takes part in a blocked chain, read from its
  /// constant context (Note [Channel-blocked plans]): `.native` for a 1×1 or depthwise
  /// convolution of whole channel blocks (alone or fused with a residual add), which runs on
  /// blocked activations; `.stem` for a dense one (one group) to whole channel blocks, which
  /// can write a blocked output from an NCHW input; nil for anything else.
  /// `.scale` for a `mul` that may take a blocked operand (`isChannelScale`).
  /// `.join` for a `max_pool2d`, or a `cat` of a list along the channels (`isBlockedJoin`), which
  /// continue a chain: a blocked input gives a blocked result.
  enum BlockedRole { case native, stem, scale, join }

  static func blockedRole(_ instruction: Instruction) -> BlockedRole? {
    if isChannelScale(instruction) { return .scale }
    if isBlockedJoin(instruction) { return .join }
    let positions = blockedPositions(instruction)
    guard case .op(_, _, let outputs, let node) = instruction, !positions.isEmpty,
      node.schema?.fullName == "prepacked::conv2d_clamp_run",
      outputs.count == 1 || positions.contains(2) || isActivationFusion(instruction), node.inputs.count == 2,
      let context = node.inputs[1].constantValue,
      let state = try? ConvolutionExecutors.contextState(context, count: 8),
      case .tensor(let weight) = state[0], weight.rank == 4, let stride = state[2].intList,
      let padding = state[3].intList, let groups = state[5].int
    else { return nil }
    let (outputChannels, perGroup) = (weight.shape[0], weight.shape[1])
    let inputChannels = perGroup * groups
    guard outputChannels % 8 == 0 else { return nil }
    let pointwise =
      weight.shape[2] == 1 && weight.shape[3] == 1 && stride.allSatisfy { $0 == 1 } && padding.allSatisfy { $0 == 0 }
      && groups == 1
    let depthwise = groups > 1 && perGroup == 1 && outputChannels == groups
    if (pointwise || depthwise) && inputChannels % 8 == 0 { return .native }
    // A 3×3 stride-1 convolution the channel-blocked Winograd kernel takes reads a blocked input
    // as it is (Note [Channel-blocked Winograd]; on planes too small for Winograd it unpacks it).
    if !positions.contains(2), stride.count == 2, let dilation = state[4].intList, dilation.count == 2,
      ConvolutionKernels.blockedWinogradSettings(
        Conv2DShape(
          batch: 1, inputChannels: inputChannels, outputChannels: outputChannels, inputHeight: 0, inputWidth: 0,
          kernelHeight: weight.shape[2], kernelWidth: weight.shape[3], stride: (stride[0], stride[1]),
          dilation: (dilation[0], dilation[1]), groups: groups))
    {
      return .native
    }
    return groups == 1 && !positions.contains(2) && !pointwise ? .stem : nil
  }

  /// True for a convolution fused with the elementwise activation that follows it (Note
  /// [Epilogue fusion]): the activation runs on either layout.
  static func isActivationFusion(_ instruction: Instruction) -> Bool {
    guard case .op(_, let inputs, let outputs, let node) = instruction, outputs.count == 2, inputs.count == 2,
      let user = node.outputs.first?.uses.first?.user.schema?.fullName
    else { return false }
    return FastExecutors.fusions.contains { $0.first == node.schema?.fullName && $0.second == user }
  }

  /// True for `aten::max_pool2d` and for `aten::cat` along dimension 1 (a constant): either
  /// takes a blocked input at position 0 (the cat's list, all of whose tensors are blocked) and
  /// gives a blocked result (`FastExecutors.cat`, and the max pool's fast executor).
  static func isBlockedJoin(_ instruction: Instruction) -> Bool {
    guard case .op(_, let inputs, let outputs, let node) = instruction, outputs.count == 1 else { return false }
    switch node.schema?.fullName {
    case "aten::max_pool2d": return inputs.count == 6
    case "aten::cat": return inputs.count == 2 && node.inputs[1].constantValue?.int == 1
    default: return false
    }
  }

  /// True for `aten::mul.Tensor` of two tensors: as an SE block's `scale * x` it scales a blocked
  /// x by one factor per channel into a blocked result (`FastExecutors.blockedBinary`), anything
  /// else runs on NCHW operands.
  static func isChannelScale(_ instruction: Instruction) -> Bool {
    guard case .op(_, let inputs, let outputs, let node) = instruction, inputs.count == 2, outputs.count == 1,
      node.schema?.fullName == "aten::mul.Tensor"
    else { return false }
    return true
  }

  /// The instructions whose result may stay channel-blocked (Note [Channel-blocked plans]): a
  /// native or stem convolution whose result only native convolutions read, at the positions
  /// they take it, and which starts a chain (a stem) or continues one (its input is itself such
  /// a result).
  ///
  /// A max pool or cat (`.join`) passes blocked values on but gains nothing by reading them
  /// when its own result cannot be blocked (it would unpack its input: ResNet's stem and pool),
  /// so such joins are taken as NCHW readers, again until none is left.
  static func blockedResults(_ segment: Segment) -> (results: Set<Int>, readers: Set<Int>) {
    var roles = segment.instructions.map(blockedRole)
    while true {
      let found = blockedResults(segment, roles: roles)
      let idle = roles.indices.filter { roles[$0] == .join && !found.results.contains($0) }
      if idle.isEmpty { return found }
      for index in idle { roles[index] = nil }
    }
  }

  private static func blockedResults(_ segment: Segment, roles: [BlockedRole?]) -> (results: Set<Int>, readers: Set<Int>) {
    var unawareReads = Set(segment.outputs)
    var readers: [Int: Int] = [:]
    // Lists whose one reader is a joining cat (position 0): their elements count as read by it.
    var listReads: [Int: Int] = [:]
    var joinedLists: Set<Int> = []
    for (instruction, role) in zip(segment.instructions, roles) {
      for register in instruction.reads { listReads[register, default: 0] += 1 }
      if role == .join, case .op(_, let inputs, _, let node) = instruction, node.schema?.fullName == "aten::cat" {
        joinedLists.insert(inputs[0])
      }
    }
    joinedLists = joinedLists.filter { listReads[$0] == 1 && !unawareReads.contains($0) }
    for (instruction, role) in zip(segment.instructions, roles) {
      let aware =
        role == .native || role == .scale || role == .join || instruction.readsBlocked ? blockedPositions(instruction) : []
      if case .listConstruct(let inputs, _, let output) = instruction, joinedLists.contains(output) {
        for register in inputs { readers[register, default: 0] += 1 }
        continue
      }
      if case .op(_, let inputs, _, _) = instruction {
        for (position, register) in inputs.enumerated() {
          if aware.contains(position) { readers[register, default: 0] += 1 } else { unawareReads.insert(register) }
        }
      } else {
        unawareReads.formUnion(instruction.reads)
      }
    }
    var result: Set<Int> = []
    var blockedRegisters: Set<Int> = []
    for (index, instruction) in segment.instructions.enumerated() {
      // A joined list of blocked results is itself blocked for its cat.
      if case .listConstruct(let inputs, _, let output) = instruction, joinedLists.contains(output), !inputs.isEmpty,
        inputs.allSatisfy(blockedRegisters.contains)
      {
        blockedRegisters.insert(output)
        continue
      }
      guard let role = roles[index], case .op(_, let inputs, let outputs, _) = instruction else { continue }
      let own = outputs.dropLast()
      guard let final = outputs.last, readers[final, default: 0] > 0, !unawareReads.contains(final),
        own.allSatisfy({ readers[$0] == nil && !unawareReads.contains($0) }),
        role == .stem || blockedRegisters.contains(inputs[0])
          || (role == .scale && inputs.contains(where: blockedRegisters.contains))
      else { continue }
      result.insert(index)
      blockedRegisters.insert(final)
    }
    // A joined list holding any blocked result (all of them, or some when another element could
    // not be blocked) makes its cat a reader of blocked values, which unpacks what it must.
    var holdingBlocked = blockedRegisters
    for instruction in segment.instructions {
      if case .listConstruct(let inputs, _, let output) = instruction, joinedLists.contains(output),
        inputs.contains(where: blockedRegisters.contains)
      {
        holdingBlocked.insert(output)
      }
    }
    var readersOfBlocked: Set<Int> = []
    for (index, instruction) in segment.instructions.enumerated() {
      if case .op(_, let inputs, _, _) = instruction, inputs.contains(where: holdingBlocked.contains) {
        readersOfBlocked.insert(index)
      }
    }
    return (result, readersOfBlocked)
  }

  /// True for an op other than a convolution that takes a channel-blocked input (Note
  /// [Channel-blocked plans]): `aten::size` (reporting the NCHW shape), and a mean of each
  /// channel's plane, `adaptive_avg_pool2d(x, [1, 1])` or `mean(x, [2, 3])` (or [-2, -1]) with no
  /// dtype.
  static func readsBlocked(_ node: Node) -> Bool {
    switch node.schema?.fullName {
    case "aten::size", "aten::size.int":
      return true
    case "aten::adaptive_avg_pool2d":
      return node.inputs.count == 2 && isOneByOne(node.inputs[1])
    case "aten::mean.dim":
      guard node.inputs.count == 4, let dims = node.inputs[1].constantValue?.intList,
        node.inputs[3].constantValue?.isNone ?? false
      else { return false }
      return BlockedActivations.planeDimensions(dims, rank: 4)
    default:
      return false
    }
  }

  /// True when `size` is the list [1, 1]: a constant, or built from two constant 1s for this
  /// use alone (how scripted code spells `adaptive_avg_pool2d(x, 1)`).
  static func isOneByOne(_ size: Value) -> Bool {
    if let list = size.constantValue?.intList { return list == [1, 1] }
    let node = size.node
    return node.kind == .listConstruct && size.uses.count == 1 && node.inputs.count == 2
      && node.inputs.allSatisfy { $0.constantValue?.int == 1 }
  }

  /// See Note [Register release].
  static func releases(_ segment: Segment, blockInputs: [Int]) -> [[Int]] {
    var lastUse: [Int: Int] = [:]
    var defined: [Int: Int] = [:]
    for register in blockInputs { defined[register] = -1 }
    for (index, instruction) in segment.instructions.enumerated() {
      for register in instruction.reads { lastUse[register] = index }
      for register in instruction.writes where defined[register] == nil { defined[register] = index }
    }
    let kept = Set(segment.outputs)
    var result = Array(repeating: [Int](), count: segment.instructions.count)
    for (register, definition) in defined where !kept.contains(register) {
      let last = lastUse[register] ?? definition
      guard last >= 0 else { continue }
      result[last].append(register)
    }
    for index in result.indices { result[index].sort() }
    return result
  }

  /// One instruction for `node` and `next` when `next` applies an op to `node`'s only result,
  /// which nothing else uses, and the table has a fused kernel for the pair (Note [Epilogue
  /// fusion]). A `next` with more inputs than that result is looked up as `second@i`, i the
  /// result's position among them; the fused kernel then takes `node`'s inputs followed by
  /// `next`'s others, in order (defined before `node`, or by constants between the two, which
  /// the plan runs first).
  mutating func fuse(_ node: Node, _ next: Node) -> Instruction? {
    guard let first = node.schema?.fullName, let second = next.schema?.fullName,
      node.outputs.count == 1, next.outputs.count == 1, node.outputs[0].uses.count == 1,
      let position = next.inputs.firstIndex(where: { $0 === node.outputs[0] })
    else { return nil }
    let others = next.inputs.enumerated().filter { $0.offset != position }.map(\.element)
    let name = others.isEmpty ? second : "\(second)@\(position)"
    guard let kernel = operators.fusedKernel(first, then: name) else { return nil }
    return .op(
      kernel: kernel, inputs: (node.inputs + others).map { register($0) },
      outputs: [register(node.outputs[0]), register(next.outputs[0])], node: node)
  }

  mutating func translate(_ node: Node) -> Instruction {
    let inputs = node.inputs.map { register($0) }
    let outputs = node.outputs.map { register($0) }
    switch node.kind {
    case .constant:
      var value = node.constantValue
      if node.attribute("value") == nil, let name = node.stringAttribute("name") { value = .function(name) }
      return .constant(value, output: outputs[0])
    case .getAttr:
      return .getAttr(object: inputs[0], name: node.name ?? "", output: outputs[0], cache: SlotCache(), node: node)
    case .setAttr:
      return .setAttr(object: inputs[0], name: node.name ?? "", value: inputs[1], cache: SlotCache(), node: node)
    case .callMethod:
      return .callMethod(
        receiver: inputs[0], name: node.name ?? "forward", arguments: Array(inputs.dropFirst()), output: outputs.first ?? -1,
        node: node)
    case .callFunction:
      guard case .function(let name) = node.inputs[0].type else { return .missing(node: node) }
      return .callFunction(name: name, arguments: Array(inputs.dropFirst()), output: outputs.first ?? -1, node: node)
    case .if:
      let then = segment(node.blocks[0])
      let otherwise = segment(node.blocks[1])
      return .branch(condition: inputs[0], then: then, otherwise: otherwise, outputs: outputs)
    case .loop:
      let body = node.blocks[0]
      let counter = register(body.inputs[0])
      let parameters = body.inputs.dropFirst().map { register($0) }
      let compiled = segment(body)
      return .loop(
        tripCount: inputs[0], condition: inputs[1], initial: Array(inputs.dropFirst(2)), body: compiled,
        counter: counter, parameters: parameters, outputs: outputs)
    case .listConstruct:
      var element: TorchType = .any
      if case .list(let type) = node.outputs[0].type { element = type }
      return .listConstruct(inputs: inputs, elementType: element, output: outputs[0])
    case .listUnpack:
      return .listUnpack(input: inputs[0], outputs: outputs, node: node)
    case .tupleConstruct:
      return .tupleConstruct(inputs: inputs, output: outputs[0])
    case .tupleUnpack:
      return .tupleUnpack(input: inputs[0], outputs: outputs, node: node)
    case .tupleIndex:
      return .tupleIndex(input: inputs[0], index: inputs[1], output: outputs[0], node: node)
    case .tupleSlice:
      var begin = 0
      var end = 0
      if case .int(let value) = node.attribute("beg") { begin = value }
      if case .int(let value) = node.attribute("end") { end = value }
      return .tupleSlice(input: inputs[0], begin: begin, end: end, output: outputs[0])
    case .dictConstruct:
      var key: TorchType = .any
      var value: TorchType = .any
      if case .dict(let k, let v) = node.outputs[0].type {
        key = k
        value = v
      }
      return .dictConstruct(inputs: inputs, keyType: key, valueType: value, output: outputs[0], node: node)
    case .createObject:
      guard case .class(let name) = node.outputs[0].type else { return .missing(node: node) }
      return .createObject(typeName: name, output: outputs[0])
    case .isInstance:
      var types: [TorchType] = []
      if case .types(let list) = node.attribute("types") { types = list }
      return .isInstance(input: inputs[0], types: types, output: outputs[0])
    case .uncheckedCast, "prim::unchecked_unwrap_optional", "aten::detach", "prim::data":
      return .move(from: inputs[0], to: outputs[0])
    case .uninitialized:
      return .uninitialized(output: outputs[0])
    case .raiseException:
      return .raise(message: inputs[0], exceptionClass: inputs.count > 1 ? inputs[1] : nil, node: node)
    case .print:
      return .print(inputs: inputs)
    default:
      if let schema = node.schema, let kernel = operators.kernel(for: schema.fullName) {
        return .op(kernel: kernel, inputs: inputs, outputs: outputs, node: node)
      }
      return .missing(node: node)
    }
  }
}
