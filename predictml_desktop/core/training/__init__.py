"""The training engine: staged PyCaret search, worker protocol and the Qt-free runner.

Only this package imports PyCaret, and only lazily inside the engine, so that the GUI process and
the command line never pay for it.
"""
