"""Inference runtime: preprocessing, synchronization, streaming anticipation, backends (no ROS)."""
