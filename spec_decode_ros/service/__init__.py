"""Operating the cloud side: structured logs, Prometheus metrics, systemd readiness (no ROS, no model code)."""
