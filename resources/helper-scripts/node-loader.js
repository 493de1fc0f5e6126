// node-loader.js: runs one process of a Node app for passenger-rs.
//
// Started by the core's spawner as `<node> node-loader.js <startup file>` in the app
// root with PORT set. It sets the process title, then loads the startup file, which
// listens on process.env.PORT itself (plain HTTP, no session protocol).
//
// Environment: PORT, PASSENGER_APP_ROOT. Stdin is normally /dev/null and the app is
// stopped with SIGTERM; when stdin is a pipe, EOF on it stops the app as well, after
// emitting process 'message' 'shutdown' for apps that want to clean up.
'use strict';

const path = require('path');
const fs = require('fs');

const appRoot = process.env.PASSENGER_APP_ROOT || process.cwd();
const startupFile = path.resolve(appRoot, process.argv[2] || 'app.js');

process.title = 'Passenger NodeApp: ' + appRoot;

function watchStdin() {
  let stat;
  try {
    stat = fs.fstatSync(0);
  } catch (e) {
    return;
  }
  if (!stat.isFIFO() && !stat.isSocket()) {
    return;
  }
  process.stdin.on('data', () => {});
  process.stdin.on('end', () => {
    process.emit('message', 'shutdown');
    // Give 'shutdown' listeners a moment, then leave even if servers are still open.
    setTimeout(() => process.exit(0), 1000).unref();
  });
  process.stdin.resume();
  // Stdin must not keep an otherwise finished app alive.
  if (process.stdin.unref) {
    process.stdin.unref();
  }
}

watchStdin();
// The app must see itself as the main program, as with `node app.js`, so that
// `require.main === module` checks pass: run it as the main module.
process.argv.splice(1, 2, startupFile);
const Module = require('module');
if (typeof Module.runMain === 'function') {
  Module.runMain();
} else {
  require(startupFile);
}
