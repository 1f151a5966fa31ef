"""Zone signal sources: the Carbon Intensity API regional shape, Agile price CSVs, trace replay."""
