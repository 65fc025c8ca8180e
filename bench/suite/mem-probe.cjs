// Preloaded into tapgate's processes by bench/soak.ts (NODE_OPTIONS=--require: the gateway
// binary, a single executable application, honours --require but not --import): every
// TAPGATE_MEMLOG_MS ms, one JSON line of process.memoryUsage() appended to TAPGATE_MEMLOG.
// The timer is unref'd, so it never keeps a process alive.
const { appendFileSync } = require('node:fs');

const file = process.env.TAPGATE_MEMLOG;
const every = Number(process.env.TAPGATE_MEMLOG_MS ?? 5000);
if (file) {
  setInterval(() => {
    appendFileSync(file, `${JSON.stringify({ t: Date.now(), pid: process.pid, ...process.memoryUsage() })}\n`);
  }, every).unref();
}
