#!/usr/bin/env node
/** The `agent-identity` command. */
import { run } from "./cli/main.js"

await run(process.argv)
