"""cnnlstm.models."""
