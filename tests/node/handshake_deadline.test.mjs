/**
 * The shared handshake timers (lib/handshake_deadline.ts) and the event loop
 * on this runtime (Node.js; Bun with `bun test`): finished handshakes leave
 * no timer that holds the process for their 120 s limit, while a running
 * handshake holds it (even on an unref'd socket) until its limit expires.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import process from "node:process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const CHILD = fileURLToPath(new URL("./handshake_deadline_child.mjs", import.meta.url));

/** Runs the child script in this runtime; resolves with its exit code, output and run time. */
function runChild(mode) {
  const started = performance.now();
  const child = spawn(process.execPath, [CHILD, mode], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (chunk) => output += chunk);
  child.stderr.on("data", (chunk) => output += chunk);
  // A child held alive by a timer would run for the full 120 s: stop it well before.
  const watchdog = setTimeout(() => child.kill("SIGKILL"), 30_000);
  return new Promise((resolve) =>
    child.on("close", (code) => {
      clearTimeout(watchdog);
      resolve({ code, output, ms: performance.now() - started });
    })
  );
}

test("handshake deadlines: a process whose handshakes are done exits at once despite 120 s limits", async () => {
  const { code, output, ms } = await runChild("done");
  assert.equal(code, 0, output);
  assert.match(output, /handshakes done/);
  assert.ok(ms < 20_000, `the child ran ${ms.toFixed(0)} ms`);
});

test("handshake deadlines: an unref'd socket's running handshake holds the process until it expires", async () => {
  const { code, output, ms } = await runChild("stalled");
  assert.equal(code, 0, output);
  assert.match(output, /timed out/);
  assert.ok(ms >= 1_500, `the child exited after ${ms.toFixed(0)} ms, before the limit`);
});
