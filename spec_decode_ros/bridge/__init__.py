"""The edge–cloud link over ZeroMQ, without ROS (not the Go2 bridge: that is ``nodes/go2_bridge.py``): the wire
protocol and its bounds, the robot's side of a generation (``edge``: drafting, pre-drafting, rollback, resume) and the
cloud verifier (``server``: sessions, admission, batching, flood guard), with what both use (CURVE keys, sockets,
JPEG checks). Link emulation and the benchmarks live in ``spec_decode_ros.bench``."""
