"""The shared primitives every layer may import, and which import nothing else of ours: typed
objects (`types`), settings, errors, German text handling (`text`) and the vocabulary lookup."""
