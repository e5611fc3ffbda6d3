"""Verifier fleet: N ``VerifierServer`` replicas as Ray actors behind one ZeroMQ front, and its benchmark."""
