// ioredis 5 with its default settings against a RESP server: connect, INCR/INCRBY, a plain and a
// transactional pipeline, SCAN over 10,000 keys (each seen once), MGET, an error.
// Usage: node ioredis_check.js PORT. Prints one line per check and "all checks passed"; exits 1
// on a failure, 3 when the ioredis module (5.x) cannot be loaded (the Rust test then skips).
"use strict";

let Redis;
try {
  Redis = require("ioredis");
} catch (e) {
  console.error("the ioredis module is not installed (npm install --prefix target/npm ioredis@5)");
  process.exit(3);
}

function check(what, got, want) {
  const g = JSON.stringify(got);
  const w = JSON.stringify(want);
  if (g !== w) throw new Error(`${what}: got ${g}, want ${w}`);
  console.log(`ok: ${what} = ${g.slice(0, 80)}`);
}

async function main(port) {
  const r = new Redis({ host: "127.0.0.1", port, maxRetriesPerRequest: 1 });
  check("PING", await r.ping(), "PONG");
  check("INCR", await r.incr("js:a"), 1);
  check("INCRBY", await r.incrby("js:a", 4), 5);
  const pipe = r.pipeline();
  for (let i = 0; i < 100; i++) pipe.incr("js:b");
  pipe.get("js:b");
  const piped = await pipe.exec();
  check("pipeline errors", piped.filter(([err]) => err).length, 0);
  check("pipeline replies", piped.map(([, v]) => v).slice(98), [99, 100, "100"]);
  const tx = await r.multi().incr("{js}x").incrby("{js}x", 9).get("{js}x").exec();
  check("transaction", tx, [[null, 1], [null, 10], [null, "10"]]);
  const fill = r.pipeline();
  for (let i = 0; i < 10000; i++) fill.incr(`js:scan:${i}`);
  await fill.exec();
  const seen = [];
  await new Promise((resolve, reject) => {
    const stream = r.scanStream({ match: "js:scan:*", count: 100 });
    stream.on("data", (keys) => seen.push(...keys));
    stream.on("end", resolve);
    stream.on("error", reject);
  });
  check("SCAN keys seen", seen.length, 10000);
  check("SCAN each once", new Set(seen).size, 10000);
  check("MGET", await r.mget("js:a", "js:none", "js:b"), ["5", null, "100"]);
  let failed = null;
  try {
    await r.incrby("js:a", "x");
  } catch (e) {
    failed = e.message;
  }
  check("INCRBY error", failed, "ERR value is not an integer or out of range");
  let aborted = null;
  try {
    await r.multi().incr("js:c").call("NOSUCH").exec();
  } catch (e) {
    aborted = e.message;
  }
  check("EXECABORT", String(aborted).startsWith("EXECABORT"), true);
  check("nothing of the aborted transaction ran", await r.get("js:c"), null);
  r.disconnect();
  console.log("all checks passed");
}

main(Number(process.argv[2])).catch((e) => {
  console.error(`FAILED: ${e.message}`);
  process.exit(1);
});
