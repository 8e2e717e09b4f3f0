import Testing
import TorchIR

@testable import TorchRuntime

/// The kernel table and the schema registry must agree: every executor implements a registered
/// overload (a typo in a name would silently leave the op without a kernel).
struct OperatorTableTests {
  @Test func everyExecutorNamesARegisteredSchema() {
    let unknown = OperatorTable.standard.fullNames.filter { OpRegistry.standard.schema(fullName: $0) == nil }
    #expect(unknown.isEmpty, "executors for unregistered schemas: \(unknown)")
  }

  @Test func coversTheOpsTheModelsUse() {
    let required = [
      "aten::conv2d", "aten::batch_norm", "aten::relu_", "aten::hardtanh_", "aten::add.Tensor", "aten::add_.Tensor",
      "aten::linear", "aten::adaptive_avg_pool2d", "aten::flatten.using_ints", "aten::max_pool2d", "aten::cat",
      "aten::chunk", "aten::transpose.int", "aten::view", "aten::contiguous", "aten::mean.dim", "aten::hardswish_",
      "aten::hardsigmoid", "aten::mul.Tensor", "aten::dropout", "prepacked::conv2d_clamp_run",
      "prepacked::linear_clamp_run", "prepacked::conv2d_transpose_clamp_run", "aten::_add_relu.Tensor",
      "aten::_add_relu_.Tensor", "aten::format", "aten::size", "aten::dim",
    ]
    let missing = required.filter { OperatorTable.standard.executor(for: $0) == nil }
    #expect(missing.isEmpty, "no executor for \(missing)")
  }
}
