"""redis-py with its default settings against a RESP server: connect, INCR, pipeline, read.

Usage: python3 redis_py_check.py PORT. Prints one line per check and "all checks passed"; exits
non-zero with the failure on stderr. Exits 3 when the redis module (8.x) is missing, so the Rust
test can skip.
"""

import asyncio
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
    check_transaction_scan_errors(r)
    r2 = redis.Redis(host="127.0.0.1", port=port, protocol=2, socket_timeout=10)
    check("RESP2 client GET", r2.get("py:a"), b"5")
    check("RESP2 client MGET", r2.mget(["py:missing", "py:a"]), [None, b"5"])
    asyncio.run(check_asyncio(port))
    print("all checks passed")


def check_transaction_scan_errors(r):
    """pipeline() is MULTI/EXEC by default; scan_iter walks 10,000 keys; errors raise."""
    tx = r.pipeline()
    tx.incr("{py:t}a").incrby("{py:t}a", 9).incr("{py:t}b").get("{py:t}a")
    check("transactional pipeline", tx.execute(), [1, 10, 1, b"10"])
    fill = r.pipeline(transaction=False)
    for i in range(10_000):
        fill.incr(f"py:scan:{i}")
    fill.execute()
    seen = list(r.scan_iter(match="py:scan:*"))
    check("scan_iter: keys seen", len(seen), 10_000)
    check("scan_iter: each once", len(set(seen)), 10_000)
    check("scan_iter count=1000", len(set(r.scan_iter("py:scan:*", count=1000))), 10_000)
    check("KEYS", sorted(r.keys("py:scan:999*")), sorted(
        [f"py:scan:999{s}".encode() for s in [""] + [str(d) for d in range(10)]]))
    check("TYPE", r.type("py:a"), b"string")
    try:
        r.incrby("py:a", "x")
        raise AssertionError("INCRBY by x did not fail")
    except redis.ResponseError as e:
        check("INCRBY error", str(e), "value is not an integer or out of range")
    try:
        bad = r.pipeline()
        bad.incr("py:c").execute_command("NOSUCH")
        bad.execute()
        raise AssertionError("a transaction with an unknown command ran")
    except redis.ResponseError as e:
        check("EXECABORT", "EXECABORT" in str(e) or "unknown command" in str(e), True)
    check("nothing of the aborted transaction ran", r.get("py:c"), None)


async def check_asyncio(port):
    """redis.asyncio with its defaults: INCR, both pipelines, scan_iter, MGET, an error."""
    import redis.asyncio as aioredis

    r = aioredis.Redis(host="127.0.0.1", port=port, socket_timeout=10)
    check("asyncio INCR", await r.incr("aio:a"), 1)
    check("asyncio INCRBY", await r.incrby("aio:a", 2), 3)
    async with r.pipeline(transaction=False) as pipe:
        for _ in range(10):
            pipe.incr("aio:b")
        check("asyncio pipeline", await pipe.execute(), list(range(1, 11)))
    async with r.pipeline() as tx:
        tx.incr("{aio}x").incr("{aio}x").get("{aio}x")
        check("asyncio transaction", await tx.execute(), [1, 2, b"2"])
    seen = [k async for k in r.scan_iter(match="py:scan:*", count=500)]
    check("asyncio scan_iter", (len(seen), len(set(seen))), (10_000, 10_000))
    check("asyncio MGET", await r.mget(["aio:a", "aio:none"]), [b"3", None])
    try:
        await r.execute_command("NOSUCH", "x")
        raise AssertionError("an unknown command did not fail")
    except redis.ResponseError as e:
        check("asyncio error", str(e).startswith("unknown command 'NOSUCH'"), True)
    await r.aclose()


if __name__ == "__main__":
    try:
        main(int(sys.argv[1]))
    except Exception as e:  # report any failure as one line for the Rust test
        print(f"FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
