"""cnnlstm.reports."""
