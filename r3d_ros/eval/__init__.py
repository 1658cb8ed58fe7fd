"""Evaluation: anticipation metrics shared by training, replay and benchmarks."""
