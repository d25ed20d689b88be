#!/usr/bin/env node
/** The `agent-identity` command (src/cli/main.ts). */
await import("./main.js").then((main) => main.run(process.argv))
