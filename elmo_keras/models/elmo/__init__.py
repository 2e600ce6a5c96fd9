"""ELMo: backbone, presets, embedding layer, task models, embedder."""
