"""Interoperability with other frameworks: :func:`cnnlstm.interop.keras.from_keras` for Keras 3.

Nothing here is imported by ``import cnnlstm``; Keras is imported only when a converter runs.
"""
