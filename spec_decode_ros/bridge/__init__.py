"""Edge-cloud bridge over ZeroMQ (no ROS): wire protocol, robot session, cloud verifier, link emulation, benchmark."""
