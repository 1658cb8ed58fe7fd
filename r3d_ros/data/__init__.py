"""Datasets: the synthetic RGB-D benchmark, public dataset loaders, rosbag2 recordings, sampling."""
