"""Operations: the `childindex` command line, synthetic areas, the demo, benchmarks."""
