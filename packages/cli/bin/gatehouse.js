#!/usr/bin/env node
// The `gatehouse` command. The code lives in src/ and is compiled to dist/ by `npm run build`.
let main;
try {
  main = await import('../dist/main.js');
} catch (err) {
  if (err?.code !== 'ERR_MODULE_NOT_FOUND') throw err;
  process.stderr.write(`gatehouse is not built (${err.message}); run "npm run build" at the repository root.\n`);
  process.exit(1);
}
process.exitCode = await main.run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});
