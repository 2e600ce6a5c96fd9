"""Model families built from the layers (keras-hub style: one folder per model)."""
