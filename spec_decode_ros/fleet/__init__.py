"""The verifier fleet: N ``VerifierServer`` replicas as Ray actors (``replica``, ``cluster``) behind one ZeroMQ front
that keeps each session on its replica (``front``), served by ``spec-decode cloud --replicas N``. Its benchmark,
``spec-decode fleet-bench``, lives in ``spec_decode_ros.bench``."""
