#!/usr/bin/env node
// `npx telescope <command>`: the one command-line entry point. The sources are TypeScript and run
// through tsx's loader, so there is no separate build step for the Node side.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
