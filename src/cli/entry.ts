#!/usr/bin/env node
/**
 * The `agent-identity` command (src/cli/main.ts). `header` on a plain auth.json is answered first by the
 * fast path (fastHeader.ts), which loads no Effect runtime; every other command line, and any case that
 * path does not take, runs the full CLI, loaded only then.
 */
import { fastHeader } from "./fastHeader.js"

const fast = (() => {
  try {
    return fastHeader(process.argv.slice(2), process.env)
  } catch {
    // Only an optimisation: whatever went wrong, the full CLI runs the command and reports it.
    return undefined
  }
})()
if (fast !== undefined) process.stdout.write(fast)
else await import("./main.js").then((main) => main.run(process.argv))
