"""cnnlstm.data."""
