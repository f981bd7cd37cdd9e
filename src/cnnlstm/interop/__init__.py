"""cnnlstm.interop."""
