"""``spec-decode cloud``: the command above ``bridge`` (one verifier) and ``fleet`` (replicas behind a front).

``config`` turns the command line into ONE frozen ``CloudConfig``; ``verifier`` builds a ``VerifierServer`` from
it (the same function for the single verifier and for every fleet replica); ``command`` picks one or the
other and runs it with logs, metrics and systemd readiness; ``health`` is ``spec-decode health``.
"""
