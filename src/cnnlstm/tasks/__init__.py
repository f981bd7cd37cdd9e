"""cnnlstm.tasks."""
