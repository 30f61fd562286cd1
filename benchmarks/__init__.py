

def free_port() -> int:
    """A free loopback port (benchmarks run on a plain install: nothing from tests/ is imported)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
