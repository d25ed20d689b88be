#!/usr/bin/env node
/** The `agent-identity` command: `header` and `status` take the fast path when they can. */
const argv = process.argv
if (!(await import("./fast.js").then((fast) => fast.runFast(argv)))) {
  await import("./main.js").then((main) => main.run(argv))
}
