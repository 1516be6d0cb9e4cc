"""Writes the tiny ONNX graphs the ortbackend tests serve (generated at test time; *.onnx is not committed).

Usage: python3 make_models.py OUT_DIR

toy.onnx, opset 13, batch axis symbolic ("batch"):
  IMAGE  UINT8 [batch,3,4,4] -> QUALITY   FP32 [batch,1] = mean of the 48 pixel values
  TOKENS INT64 [batch,77]    -> ALIGNMENT FP32 [batch,1] = sum of the 77 token ids
echo.onnx: SEQ INT64 [batch,len] -> ECHO INT64 [batch,len] = SEQ (an output ONNX Runtime must allocate)
"""

import os
import sys

import onnx
from onnx import TensorProto, helper


def toy():
    image = helper.make_tensor_value_info("IMAGE", TensorProto.UINT8, ["batch", 3, 4, 4])
    tokens = helper.make_tensor_value_info("TOKENS", TensorProto.INT64, ["batch", 77])
    quality = helper.make_tensor_value_info("QUALITY", TensorProto.FLOAT, ["batch", 1])
    alignment = helper.make_tensor_value_info("ALIGNMENT", TensorProto.FLOAT, ["batch", 1])
    axis1 = helper.make_tensor("axis1", TensorProto.INT64, [1], [1])
    nodes = [
        helper.make_node("Cast", ["IMAGE"], ["image_f"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["image_f"], ["mean4"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Flatten", ["mean4"], ["QUALITY"], axis=1),
        helper.make_node("Cast", ["TOKENS"], ["tokens_f"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["tokens_f", "axis1"], ["ALIGNMENT"], keepdims=1),
    ]
    graph = helper.make_graph(nodes, "toy", [image, tokens], [quality, alignment], initializer=[axis1])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="agiqa-test")
    model.ir_version = 8  # readable by any ONNX Runtime >= 1.10
    onnx.checker.check_model(model)
    return model


def echo():
    seq = helper.make_tensor_value_info("SEQ", TensorProto.INT64, ["batch", "len"])
    out = helper.make_tensor_value_info("ECHO", TensorProto.INT64, ["batch", "len"])
    graph = helper.make_graph([helper.make_node("Identity", ["SEQ"], ["ECHO"])], "echo", [seq], [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="agiqa-test")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main(out):
    os.makedirs(out, exist_ok=True)
    onnx.save(toy(), os.path.join(out, "toy.onnx"))
    onnx.save(echo(), os.path.join(out, "echo.onnx"))


if __name__ == "__main__":
    main(sys.argv[1])
