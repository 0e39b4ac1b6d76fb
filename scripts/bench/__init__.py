"""The benchmarks of `make bench` (scripts/bench.sh), each side by side with its baseline: run as
`python -m bench.<module>` from scripts/. Their third-party clients are pinned in requirements.txt."""
