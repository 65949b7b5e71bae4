"""The bottom layer every stage may use: config/TOML, the console and logging, typed errors and exit codes,
atomic writes, precision, and the optimizer/schedule both trainings share. It imports nothing above it.
"""
