"""redis-py with its default settings against a RESP server: connect, INCR, pipeline, read.

Usage: python3 redis_py_check.py PORT. Prints one line per check and "all checks passed"; exits
non-zero with the failure on stderr. Exits 3 when the redis module (8.x) is missing, so the Rust
test can skip.
"""

import sys

try:
    import redis
except ImportError:
    print("the redis module is not installed (pip install 'redis>=8,<9')", file=sys.stderr)
    sys.exit(3)

if int(redis.__version__.split(".")[0]) < 8:
    print(f"redis-py {redis.__version__} is older than 8", file=sys.stderr)
    sys.exit(3)


def check(what, got, want):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")
    print(f"ok: {what} = {repr(got)[:80]}")


def main(port):
    r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=10)
    check("PING", r.ping(), True)
    check("protocol negotiated", r.connection_pool.get_connection().get_protocol(), 3)
    check("INCR", r.incr("py:a"), 1)
    check("INCRBY", r.incrby("py:a", 4), 5)
    pipe = r.pipeline(transaction=False)
    for _ in range(100):
        pipe.incr("py:b")
    pipe.get("py:b")
    pipe.get("py:missing")
    results = pipe.execute()
    check("pipelined INCRs", results[:100], list(range(1, 101)))
    check("pipelined GETs", results[100:], [b"100", None])
    check("GET", r.get("py:a"), b"5")
    check("GET of a missing key", r.get("py:missing"), None)
    check("MGET", r.mget(["py:a", "py:missing", "py:b"]), [b"5", None, b"100"])
    check("EXISTS", r.exists("py:a", "py:missing"), 1)
    check("CONFIG GET", r.config_get("databases"), {"databases": "1"})
    check("INFO has redis_version", "redis_version" in r.info("server"), True)
    check("CLIENT GETNAME", r.client_getname(), None)
    check("CLIENT SETNAME", r.client_setname("py"), True)
    check("CLIENT INFO name", r.client_info().get("name"), "py")
    hello = r.execute_command("HELLO")
    keys = [k.decode() if isinstance(k, bytes) else k for k in hello]
    check("HELLO keys", keys, ["server", "version", "proto", "id", "mode", "role", "modules"])
    check("HELLO proto", hello.get(b"proto", hello.get("proto")), 3)
    r2 = redis.Redis(host="127.0.0.1", port=port, protocol=2, socket_timeout=10)
    check("RESP2 client GET", r2.get("py:a"), b"5")
    check("RESP2 client MGET", r2.mget(["py:missing", "py:a"]), [None, b"5"])
    print("all checks passed")


if __name__ == "__main__":
    try:
        main(int(sys.argv[1]))
    except Exception as e:  # report any failure as one line for the Rust test
        print(f"FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
