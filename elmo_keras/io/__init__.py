"""Reading and writing models in other formats (bilm-tf HDF5)."""
