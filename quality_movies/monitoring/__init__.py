"""Quality memory: metric history, anomaly detection, CloudWatch metrics and the quality report."""
